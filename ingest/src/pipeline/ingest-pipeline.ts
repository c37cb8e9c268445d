import { type DeliveryStatus, type Envelope, type Logger, type Sink, type SinkWriteResult, envelopeRows } from '@gridline/core'
import type { IngestMetrics } from '../metrics.ts'
import { RejectionBudget } from './rejection-budget.ts'

export interface PipelineOptions {
  /** A batch is written once it holds this many rows. */
  maxBatchRows: number
  /** ... or once its first message has waited this long. */
  flushIntervalMs: number
  /** Batches written at once, each on its own connection. */
  writers: number
  /**
   * At this many uncommitted rows intake is held back until they are down to
   * half: the source stops releasing acknowledgements (and with them, reading
   * sockets), QoS 0 included. See `onCongestion`.
   */
  maxPendingRows: number
  /** First and largest delay between write retries while the database is unavailable. */
  retryMinMs: number
  retryMaxMs: number
  /** Rejected messages per second and burst one sender may add to the rejected table (0: no limit). */
  rejectedPerDevicePerSecond?: number
  rejectedBurst?: number
}

/**
 * The runtime between sources and sinks: batches envelopes, hands batches to
 * the primary sink, retries while it is away, and settles every envelope once
 * its batch is committed. It owns batching, retries, ordering and acks; the
 * sink only writes or throws (core's Sink contract). Secondary sinks hang off
 * `onCommitted` behind their own buffers (secondary-sinks.ts) and never hold
 * an acknowledgement.
 *
 * Batching is group commit: a batch closes when it is full or its linger time
 * ran out, but while every writer is busy the open batch keeps growing, so a
 * slow database gets fewer, larger transactions instead of a queue of small ones.
 */
export class IngestPipeline {
  private open: Envelope[] = []
  private openRows = 0
  private lingerExpired = false
  private timer: NodeJS.Timeout | undefined
  private readonly sealed: Envelope[][] = []
  private active = 0
  private pending = 0
  private readonly idleWaiters: (() => void)[] = []
  private stopping = false
  private failing = false
  private holding = false
  private readonly congestionListeners: ((held: boolean) => void)[] = []
  /** Reasons from outside the pipeline to hold intake back (see `hold`). */
  private readonly externalHolds = new Set<string>()
  private readonly commitListeners: ((committed: readonly Envelope[]) => void)[] = []
  /** Envelopes submitted so far: the next one's write position. */
  private submitted = 0
  /** Batches formed and not yet settled, in submission order. */
  private readonly unsettled: BatchEntry[] = []
  private readonly batchEntries = new WeakMap<Envelope[], BatchEntry>()
  private settledThrough = -1
  private aborted: Error | undefined
  private readonly rejectionBudget: RejectionBudget

  constructor(
    /** The primary sink: its commit releases the acknowledgements. */
    private readonly sink: Pick<Sink, 'write'> & Partial<Pick<Sink, 'id' | 'type'>>,
    private readonly options: PipelineOptions,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
  ) {
    this.rejectionBudget = new RejectionBudget(options.rejectedPerDevicePerSecond ?? 0, options.rejectedBurst ?? 100)
  }

  /** Uncommitted rows (telemetry and rejections) in the pipeline. */
  get pendingRows(): number {
    return this.pending
  }

  /** True while intake should be held back. */
  /**
   * True while intake is held back: from the moment the database fails or
   * pending rows reach maxPendingRows until it answers again and pending rows
   * are down to half of that (hysteresis, so intake does not flap), and while
   * a `hold` from outside lasts (the after-commit processors' backlog).
   */
  get congested(): boolean {
    return this.holding
  }

  /** Called with true when intake must be held back, false when it may resume. */
  /**
   * Called after each commit with the envelopes whose rows are now stored
   * (refused ones left out), after their acknowledgements were released, in
   * the order the envelopes were submitted (a batch that commits before an
   * earlier one waits for it).
   * Listeners run synchronously on the write path: they must only hand the
   * batch on (the processors' stream), never do work per row here.
   */
  onCommitted(listener: (committed: readonly Envelope[]) => void): void {
    this.commitListeners.push(listener)
  }

  onCongestion(listener: (held: boolean) => void): void {
    this.congestionListeners.push(listener)
  }

  /**
   * Holds intake back for a reason outside the pipeline (the after-commit processors'
   * backlog) while `held`; congestion lasts while any such reason or the pipeline's own does.
   */
  hold(reason: string, held: boolean): void {
    if (held) this.externalHolds.add(reason)
    else this.externalHolds.delete(reason)
    this.updateCongestion()
  }

  private updateCongestion(): void {
    const external = this.externalHolds.size > 0
    const held = external || (this.holding
      ? this.failing || this.pending > this.options.maxPendingRows / 2
      : this.failing || this.pending >= this.options.maxPendingRows)
    if (held === this.holding) return
    this.holding = held
    this.metrics.backpressure.set(held ? 1 : 0)
    for (const listener of this.congestionListeners) listener(held)
  }

  /** The write position the next submitted envelope gets (envelopes are numbered in submission order). */
  get nextPosition(): number {
    return this.submitted
  }

  /** Every envelope at or below this write position is committed (or given up at shutdown). */
  get committedThrough(): number {
    return this.settledThrough
  }

  submit(envelope: Envelope): void {
    if (envelope.decoded.rejections.length > 0) this.budgetRejections(envelope)
    this.submitted++
    const n = envelopeRows(envelope)
    this.pending += n
    this.metrics.pendingRows.set(this.pending)
    if (!this.holding && this.pending >= this.options.maxPendingRows) this.updateCongestion()
    this.open.push(envelope)
    this.openRows += n
    // While draining for shutdown nothing lingers.
    if (this.stopping) this.lingerExpired = true
    if (this.openRows >= this.options.maxBatchRows) {
      this.sealed.push(this.takeOpen())
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.lingerExpired = true
        this.pump()
      }, this.options.flushIntervalMs)
    }
    this.pump()
  }

  /**
   * Over its sender's rejection budget, a message's refusals are counted
   * (gridline_ingest_rejected_unkept_total) instead of kept; its readings
   * that were good are stored as usual.
   */
  private budgetRejections(envelope: Envelope): void {
    const decoded = envelope.decoded
    const sender = decoded.rejections[0]!.deviceId ?? envelope.clientId ?? envelope.topic
    const unkept = this.rejectionBudget.take(sender, envelope.receivedAt)
    if (unkept > 0) envelope.unkeptBefore = unkept
    if (unkept >= 0) return
    for (const r of decoded.rejections) this.metrics.rejectedUnkept.inc({ reason: r.reason })
    if (decoded.omitted) for (const [reason, n] of decoded.omitted) this.metrics.rejectedUnkept.inc({ reason }, n)
    this.metrics.rejectedMessagesUnkept.inc()
    envelope.decoded = { ...decoded, rejections: [] }
    delete envelope.decoded.omitted
  }

  /** Resolves when every submitted envelope is settled. Writes the open batch now. */
  async drain(): Promise<void> {
    this.stopping = true
    this.lingerExpired = true
    this.pump()
    if (this.idle) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Gives up on everything not yet committed: the envelopes are settled with an error (never acknowledged). */
  abandon(reason: Error): void {
    this.aborted = reason
    for (const batch of [...this.sealed.splice(0), this.takeOpen()]) this.giveUp(batch, reason)
  }

  private get idle(): boolean {
    return this.active === 0 && this.sealed.length === 0 && this.open.length === 0
  }

  /** Settles a batch unacknowledged and forgets its rows. */
  private giveUp(batch: Envelope[], reason: Error): void {
    for (const e of batch) e.ack?.settle('errored', reason)
    this.settle(batch, NOTHING_COMMITTED)
    this.release(rowsOf(batch))
  }

  /**
   * Marks a batch settled, advances `committedThrough` over the settled
   * prefix, and hands that prefix's committed envelopes to the commit
   * listeners in submission order. Batches commit out of order with several
   * writers; the processors must see each device's readings in the order
   * they arrived, or the alarm engine would skip the older as out of order.
   */
  private settle(batch: Envelope[], committed: readonly Envelope[]): void {
    const entry = this.batchEntries.get(batch)
    if (!entry) return
    entry.committed = committed
    while (this.unsettled.length > 0 && this.unsettled[0]!.committed !== null) {
      const done = this.unsettled.shift()!
      this.settledThrough = done.end
      if (done.committed!.length > 0 && this.commitListeners.length > 0) this.notifyCommitted(done.committed!)
    }
  }

  private takeOpen(): Envelope[] {
    const batch = this.open
    if (batch.length > 0) {
      const entry: BatchEntry = { end: this.submitted - 1, sealedAt: epochNow(), started: false, committed: null }
      this.unsettled.push(entry)
      this.batchEntries.set(batch, entry)
    }
    this.open = []
    this.openRows = 0
    this.lingerExpired = false
    clearTimeout(this.timer)
    this.timer = undefined
    return batch
  }

  private pump(): void {
    while (this.active < this.options.writers) {
      let batch: Envelope[] | undefined
      if (this.sealed.length > 0) batch = this.sealed.shift()
      else if (this.open.length > 0 && this.lingerExpired) batch = this.takeOpen()
      if (!batch) break
      this.active++
      this.writeWithRetry(batch).finally(() => {
        this.active--
        this.pump()
        if (this.idle) for (const resolve of this.idleWaiters.splice(0)) resolve()
      })
    }
  }

  private async writeWithRetry(batch: Envelope[]): Promise<void> {
    let delay = this.options.retryMinMs
    const rows = rowsOf(batch)
    this.observeWait(batch)
    for (;;) {
      if (this.aborted) return this.giveUp(batch, this.aborted)
      const started = performance.now()
      let result: SinkWriteResult
      try {
        result = await this.sink.write(batch)
      } catch (err) {
        this.metrics.writeRetries.inc()
        this.metrics.components.errors.inc({ component_id: this.sink.id ?? 'primary', component_type: this.sink.type ?? 'unknown' })
        if (!this.failing) this.logger.error({ err }, 'Writing a batch failed; holding intake and retrying until the database is back.')
        this.failing = true
        this.updateCongestion()
        // Capped exponential backoff with full jitter.
        await sleep(Math.random() * delay)
        delay = Math.min(delay * 2, this.options.retryMaxMs)
        continue
      }
      if (this.failing) this.logger.info('The database accepts writes again; catching up.')
      this.failing = false
      const seconds = (performance.now() - started) / 1000
      this.metrics.commitSeconds.observe(seconds)
      const component = { component_id: this.sink.id ?? 'primary', component_type: this.sink.type ?? 'unknown' }
      this.metrics.components.writeSeconds.observe(component, seconds)
      this.metrics.components.sentRows.inc(component, result.inserted + result.duplicates)
      this.metrics.batches.observe(rows)
      this.account(batch, result)
      this.release(rows)
      const refused = result.deadLettered.length > 0 || (result.refused?.length ?? 0) > 0 ? new Set([...result.deadLettered, ...(result.refused ?? [])]) : null
      for (const e of batch) e.ack?.settle(deliveryOf(e, refused))
      this.settle(batch, committedOf(batch, refused))
      return
    }
  }

  /**
   * Splits the time before a batch's first write attempt into its linger
   * (oldest message received to the batch sealed: the group-commit wait,
   * flushIntervalMs or less if it filled first, more if every writer was
   * busy, since a batch that is not full stays open meanwhile) and its queue
   * (a full batch sealed, waiting for a writer).
   */
  private observeWait(batch: Envelope[]): void {
    const entry = this.batchEntries.get(batch)
    if (!entry || entry.started) return
    entry.started = true
    const oldest = batch[0]!.receivedAt
    this.metrics.batchLingerSeconds.observe(Math.max(0, entry.sealedAt - oldest) / 1000)
    this.metrics.batchQueueSeconds.observe(Math.max(0, epochNow() - entry.sealedAt) / 1000)
  }

  private notifyCommitted(committed: readonly Envelope[]): void {
    for (const listener of this.commitListeners) {
      try {
        listener(committed)
      } catch (err) {
        // A consumer's bug must never undo or stall a commit that already happened.
        this.logger.error({ err }, 'A commit listener failed; the batch is stored and acknowledged.')
      }
    }
  }

  private release(rows: number): void {
    this.pending -= rows
    this.metrics.pendingRows.set(this.pending)
    this.updateCongestion()
  }

  private account(batch: Envelope[], result: SinkWriteResult): void {
    const refused = new Set([...result.deadLettered, ...(result.refused ?? [])])
    let readings = 0
    for (const e of batch) if (!refused.has(e)) readings += e.decoded.readings
    this.metrics.readingsStored.inc(readings)
    this.metrics.rowsStored.inc(result.inserted)
    if (result.duplicates > 0) this.metrics.rowsDuplicate.inc(result.duplicates)
    for (const [reason, n] of result.rejected) this.metrics.rejected.inc({ reason }, n)
  }
}

/** A batch from when it is formed until every earlier batch and it are settled. */
interface BatchEntry {
  /** Write position of its last envelope. */
  end: number
  /** Epoch ms (sub-ms) when it was closed to new envelopes: full, or its linger ran out. */
  sealedAt: number
  /** False until its first write attempt started (the wait is observed once). */
  started: boolean
  /** Its envelopes that were committed (refused ones left out); null until settled. */
  committed: readonly Envelope[] | null
}

/** Epoch milliseconds with performance.now()'s resolution (receivedAt is Date.now()). */
const epochNow = (): number => performance.timeOrigin + performance.now()

const NOTHING_COMMITTED: readonly Envelope[] = []

function committedOf(batch: Envelope[], refused: Set<Envelope> | null): readonly Envelope[] {
  return refused ? batch.filter((e) => !refused.has(e)) : batch
}

/**
 * A committed envelope's status: `rejected` when the store refused it whole
 * or anything of it was refused (dead-lettered either way), else `delivered`.
 * Both acknowledge the sender: resending would change nothing.
 */
function deliveryOf(e: Envelope, refused: Set<Envelope> | null): DeliveryStatus {
  return refused?.has(e) || e.decoded.rejections.length > 0 ? 'rejected' : 'delivered'
}

const rowsOf = (batch: readonly Envelope[]): number => batch.reduce((n, e) => n + envelopeRows(e), 0)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

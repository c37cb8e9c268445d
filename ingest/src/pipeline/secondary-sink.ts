import type { Envelope, Logger, Sink, SinkWriteResult } from '@gridline/core'
import type { IngestMetrics } from '../metrics.ts'

export interface SecondarySinkOptions {
  /** Rows held for the sink at most; past it the oldest batches are dropped (counted as buffer_full). */
  maxBufferedRows: number
  /** Rows per write at most. */
  maxBatchRows: number
  retryMinMs: number
  retryMaxMs: number
}

/**
 * A sink that gets what the primary sink committed, behind its own bounded
 * buffer, and never holds an acknowledgement (like a Vector sink buffer with
 * `when_full: drop_newest`, except that the oldest rows go, so a second
 * store that comes back gets the recent past). A second store that is slow or down costs
 * memory up to `maxBufferedRows`, then counted drops, never ingest's
 * throughput or acknowledgements. One write at a time, in commit order,
 * retried with capped backoff and full jitter.
 */
export class SecondarySink {
  private readonly queue: Envelope[] = []
  private queuedRows = 0
  private writing = false
  private closed = false
  private idle: (() => void)[] = []
  private readonly labels: { component_id: string; component_type: string }

  constructor(
    readonly sink: Sink,
    private readonly options: SecondarySinkOptions,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
  ) {
    this.labels = { component_id: sink.id, component_type: sink.type }
    metrics.components.bufferRows.set(this.labels, 0)
  }

  /** Rows waiting now. */
  get bufferedRows(): number {
    return this.queuedRows
  }

  /** Called after each commit with the committed envelopes, in commit order; returns at once. */
  offer(committed: readonly Envelope[]): void {
    if (this.closed) return
    for (const e of committed) {
      const rows = e.decoded.rows.length
      if (rows === 0) continue
      this.queue.push(e)
      this.queuedRows += rows
    }
    while (this.queuedRows > this.options.maxBufferedRows && this.queue.length > 0) {
      const dropped = this.queue.shift()!
      this.queuedRows -= dropped.decoded.rows.length
      this.metrics.components.dropped.inc({ ...this.labels, reason: 'buffer_full' }, dropped.decoded.rows.length)
    }
    this.metrics.components.bufferRows.set(this.labels, this.queuedRows)
    this.pump()
  }

  /** Resolves once the buffer is written, or after `timeoutMs`, when what is left is dropped (counted as shutdown). Then closes the sink. */
  async close(timeoutMs: number): Promise<void> {
    if (this.queue.length > 0 || this.writing) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs) }),
      ])
      clearTimeout(timer)
    }
    this.closed = true
    if (this.queuedRows > 0) this.metrics.components.dropped.inc({ ...this.labels, reason: 'shutdown' }, this.queuedRows)
    this.queue.length = 0
    this.queuedRows = 0
    this.metrics.components.bufferRows.set(this.labels, 0)
    await this.sink.close()
  }

  private pump(): void {
    if (this.writing || this.closed) return
    if (this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve()
      return
    }
    const batch: Envelope[] = []
    let rows = 0
    while (this.queue.length > 0 && (batch.length === 0 || rows + this.queue[0]!.decoded.rows.length <= this.options.maxBatchRows)) {
      const e = this.queue.shift()!
      rows += e.decoded.rows.length
      batch.push(e)
    }
    this.writing = true
    void this.write(batch, rows).finally(() => {
      this.writing = false
      this.queuedRows = Math.max(0, this.queuedRows - rows)
      this.metrics.components.bufferRows.set(this.labels, this.queuedRows)
      this.pump()
    })
  }

  private async write(batch: Envelope[], rows: number): Promise<void> {
    await writeUntilTaken(this.sink, rows, () => this.sink.write(batch), {
      ...this.options,
      metrics: this.metrics,
      logger: this.logger,
      isClosed: () => this.closed,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    })
  }
}

export interface RetryContext {
  retryMinMs: number
  retryMaxMs: number
  metrics: IngestMetrics
  logger: Logger
  /** Checked before each try: a closed buffer stops retrying. */
  isClosed: () => boolean
  /** Waits between tries (a buffer may cut it short when it closes). */
  sleep: (ms: number) => Promise<void>
}

/**
 * Writes one batch to a secondary sink (`attempt`, called once per try; null
 * when nothing of the batch is left to write, as when a disk buffer dropped
 * it past its quota meanwhile), retried with capped exponential backoff and
 * full jitter until the sink takes it; counts what it wrote, its failures,
 * and what its store refused for good (not retried). False when the buffer
 * closed before the write went through.
 */
export async function writeUntilTaken(sink: Sink, rows: number, attempt: () => Promise<SinkWriteResult> | null, ctx: RetryContext): Promise<boolean> {
  const labels = { component_id: sink.id, component_type: sink.type }
  const { components } = ctx.metrics
  let delay = ctx.retryMinMs
  let failing = false
  while (!ctx.isClosed()) {
    const started = performance.now()
    try {
      const pending = attempt()
      if (pending === null) return true
      const result = await pending
      components.writeSeconds.observe(labels, (performance.now() - started) / 1000)
      components.sentRows.inc(labels, result.inserted + result.duplicates)
      const refused = [...result.deadLettered, ...(result.refused ?? [])]
      const refusedRows = result.refusedRows ?? refused.reduce((n, e) => n + e.decoded.rows.length, 0)
      if (refused.length > 0) components.refused.inc(labels, refused.length)
      if (refusedRows > 0) {
        components.dropped.inc({ ...labels, reason: 'refused' }, refusedRows)
        ctx.logger.warn({ sink: sink.id, refusedRows }, 'The secondary store refused rows for good; they are counted and not retried.')
      }
      if (failing) ctx.logger.info({ sink: sink.id }, 'The secondary sink accepts writes again.')
      return true
    } catch (err) {
      components.errors.inc(labels)
      if (!failing) ctx.logger.warn({ err, sink: sink.id, rows }, 'A secondary sink failed to write; its buffer keeps the rows and retries with backoff (acknowledgements are not held).')
      failing = true
      await ctx.sleep(Math.random() * delay)
      delay = Math.min(delay * 2, ctx.retryMaxMs)
    }
  }
  return false
}

import { Observable, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs'
import type { Reading, RollupEvent } from '../stream/events.ts'
import type { ReadingBatch } from '../stream/batch.ts'
import { type RollupConfig, RollupConfigSchema } from './config.ts'
import { repeatOnScheduler, rollupWindows } from './rollup-operator.ts'
import { RollupStore } from './rollup-store.ts'
import type { RecomputeRequest, RollupWindowCounts, RollupWindows } from './rollup-windows.ts'
import type { SqlQueryable } from './sql.ts'

export interface RollupProcessorDeps {
  /** Where telemetry, telemetry_1m and telemetry_1h live (a pg Pool, or ingest's SqlClient). */
  db: SqlQueryable
  scheduler?: SchedulerLike
  /** Told about failed writes (they are retried at the next flush); never called per reading. */
  onError?: (error: unknown) => void
  /**
   * Told when closed buckets pile up faster than the database takes them (true: hold
   * intake back) and when the backlog is down again (false). Never while writes fail:
   * then the cap drops the oldest, as intake must not stop for derived data.
   */
  onBacklog?: (held: boolean) => void
  /**
   * Whether anyone takes the emitted events besides storage (the live stream
   * has a subscriber for rollups). When it says false and single-reading
   * minutes are not stored, no event is made for them at all: at one reading
   * per minute or slower that is one object per reading saved. Absent: true.
   */
  eventsTaken?: () => boolean
}

export interface RollupProcessorCounts extends RollupWindowCounts {
  /** Buckets written from memory. */
  written: number
  /** Closed 1-minute buckets of one reading not written (`storeSingleReadingMinutes` off); emitted only when `eventsTaken` says so. */
  singleReadingMinutes: number
  /** Buckets recomputed from telemetry (late corrections and first buckets). */
  recomputed: number
  /** Series whose latest reading received before the windows began was looked up (their first buckets need no recompute when they start after it). */
  probed: number
  writeErrors: number
  /** Closed buckets dropped because the database stayed unavailable past `maxPendingWrites`. */
  droppedWrites: number
  pendingWrites: number
  pendingRecomputes: number
}

const requestKey = (r: RecomputeRequest) => `${r.resolution}\u0000${r.deviceId}\u0000${r.metric}\u0000${r.bucket}`

/**
 * The rollup processor with storage: `operator` turns committed readings into
 * RollupEvents (closed buckets, then corrections with `correction: true` once
 * recomputed), and writes them to telemetry_1m / telemetry_1h every
 * `flushIntervalMs`. One subscription at a time. Call `flush()` at shutdown,
 * after the readings stream completed.
 */
export class RollupProcessor {
  readonly operator: OperatorFunction<Reading | ReadingBatch, RollupEvent>
  private readonly settings: RollupConfig
  private readonly store: RollupStore
  private readonly scheduler: SchedulerLike
  private pendingWrites: RollupEvent[] = []
  private readonly pendingRecomputes = new Map<string, RecomputeRequest>()
  private windows: RollupWindows | undefined
  private emitCorrection: ((event: RollupEvent) => void) | undefined
  private flushing: Promise<void> = Promise.resolve()
  /** A flush asked for by the backlog is queued and has not started yet. */
  private flushQueued = false
  /** Buckets the running flush took and has not written yet. */
  private writing = 0
  private lastWriteFailed = false
  private holding = false
  /**
   * When the current windows began (wall clock): every row received since
   * passes through them, rows received before may not (an earlier process's,
   * or this one's before a restart of the windows). RollupStore.previousTimes.
   */
  private windowsSince = Date.now()
  private probes: { deviceId: string; metric: string; windows: RollupWindows; since: number }[] = []
  private probing = false
  private readonly totals = { written: 0, singleReadingMinutes: 0, recomputed: 0, probed: 0, writeErrors: 0, droppedWrites: 0 }

  constructor(config: Partial<RollupConfig>, private readonly deps: RollupProcessorDeps) {
    this.settings = RollupConfigSchema.parse(config)
    this.store = new RollupStore(deps.db)
    this.scheduler = deps.scheduler ?? asyncScheduler
    const windowed = rollupWindows(this.settings, {
      scheduler: this.scheduler,
      onRecompute: (request) => this.pendingRecomputes.set(requestKey(request), request),
      onProbe: (deviceId, metric) => this.probe(deviceId, metric),
      ...(this.settings.storeSingleReadingMinutes !== true && deps.eventsTaken ? { makeSingleReadingMinutes: deps.eventsTaken } : {}),
      onWindows: (windows) => {
        this.windows = windows
        this.windowsSince = Date.now()
      },
    })
    this.operator = (source) => new Observable<RollupEvent>((subscriber) => {
      this.emitCorrection = (event) => subscriber.next(event)
      const timer = repeatOnScheduler(this.scheduler, this.settings.flushIntervalMs, () => void this.flush())
      const inner = source.pipe(windowed).subscribe({
        next: (event) => {
          this.queueWrite(event)
          subscriber.next(event)
        },
        error: (error) => subscriber.error(error),
        complete: () => {
          void this.flush().finally(() => subscriber.complete())
        },
      })
      return () => {
        timer.unsubscribe()
        inner.unsubscribe()
        this.emitCorrection = undefined
      }
    })
  }

  get counts(): RollupProcessorCounts {
    const w = this.windows?.counts ?? { lateReadings: 0, lateReadingsHourly: 0, emitted: 0, recomputeRequests: 0, devices: 0, singleReadingMinutesNotMade: 0 }
    return { ...w, ...this.totals, singleReadingMinutes: this.totals.singleReadingMinutes + w.singleReadingMinutesNotMade, pendingWrites: this.pendingWrites.length + this.writing, pendingRecomputes: this.pendingRecomputes.size }
  }

  /** Writes closed buckets, then recomputes late ones and emits the corrections. Never concurrent with itself. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce())
    return this.flushing
  }

  /** Whether intake is held back for the backlog of closed buckets (see `onBacklog`). */
  get backlogged(): boolean {
    return this.holding
  }

  /**
   * A series seen for the first time: its latest reading received before the
   * windows began (an earlier process's) is looked up (batched, one statement
   * for every series that came in meanwhile), so a first bucket starting
   * after it is written from memory instead of recomputed from telemetry.
   * Until the answer is in, or if the lookup fails, the first bucket is
   * recomputed, as before.
   */
  private probe(deviceId: string, metric: string): void {
    if (!this.windows) return
    this.probes.push({ deviceId, metric, windows: this.windows, since: this.windowsSince })
    if (this.probing) return
    this.probing = true
    setImmediate(() => void this.runProbes())
  }

  private async runProbes(): Promise<void> {
    while (this.probes.length > 0) {
      // One statement per windows (there is one, unless they were restarted after an error meanwhile).
      const first = this.probes[0]!
      const same: typeof this.probes = []
      const rest: typeof this.probes = []
      for (const p of this.probes) (p.windows === first.windows && same.length < this.settings.writeBatchRows ? same : rest).push(p)
      this.probes = rest
      try {
        const times = await this.store.previousTimes(same, first.since)
        // Answers go to the windows that asked: fresh windows after a restart ask again.
        for (let i = 0; i < same.length; i++) first.windows.setPrevious(same[i]!.deviceId, same[i]!.metric, times[i]!)
        this.totals.probed += same.length
      } catch (error) {
        this.deps.onError?.(error)
      }
    }
    this.probing = false
  }

  private queueWrite(event: RollupEvent): void {
    if (event.count === 1 && event.resolution === '1m' && this.settings.storeSingleReadingMinutes !== true) {
      // The minute is its one reading, already in telemetry: queries compute it from there (minuteRollupsSql).
      this.totals.singleReadingMinutes++
      return
    }
    this.pendingWrites.push(event)
    const max = this.settings.maxPendingWrites
    if (this.pendingWrites.length > max) {
      // The oldest tenth at once, not one per event: dropping stays linear in what is dropped.
      const drop = this.pendingWrites.length - max + Math.ceil(max / 10)
      this.pendingWrites.splice(0, drop)
      this.totals.droppedWrites += drop
    }
    if (this.pendingWrites.length >= this.settings.writeBatchRows && !this.flushQueued) {
      this.flushQueued = true
      void this.flush()
    }
    this.updateBacklog()
  }

  private updateBacklog(): void {
    const holdAt = this.settings.maxPendingWrites / 2
    const pending = this.pendingWrites.length + this.writing
    const held = !this.lastWriteFailed && (this.holding ? pending > holdAt / 4 : pending >= holdAt)
    if (held === this.holding) return
    this.holding = held
    this.deps.onBacklog?.(held)
  }

  private async flushOnce(): Promise<void> {
    this.flushQueued = false
    const writes = this.pendingWrites
    this.pendingWrites = []
    const batch = this.settings.writeBatchRows
    for (let i = 0; i < writes.length; i += batch) {
      const chunk = i === 0 && writes.length <= batch ? writes : writes.slice(i, i + batch)
      this.writing = writes.length - i
      try {
        await this.store.upsert(chunk)
        this.totals.written += chunk.length
        this.lastWriteFailed = false
      } catch (error) {
        this.totals.writeErrors++
        this.lastWriteFailed = true
        this.writing = 0
        this.pendingWrites = writes.slice(i).concat(this.pendingWrites)
        this.updateBacklog()
        this.deps.onError?.(error)
        return
      }
      this.writing = writes.length - i - chunk.length
      this.updateBacklog()
    }
    const requests: RecomputeRequest[] = []
    for (const [key, request] of this.pendingRecomputes) {
      if (requests.length >= this.settings.maxCorrectionsPerFlush) break
      requests.push(request)
      this.pendingRecomputes.delete(key)
    }
    if (requests.length === 0) return
    try {
      const events = await this.store.recompute(requests)
      this.totals.recomputed += events.length
      for (const event of events) this.emitCorrection?.(event)
    } catch (error) {
      this.totals.writeErrors++
      for (const request of requests) this.pendingRecomputes.set(requestKey(request), request)
      this.deps.onError?.(error)
    }
  }
}

/** Factory in the shape every processor has: (config, deps) -> instance. */
export function createRollupProcessor(config: Partial<RollupConfig>, deps: RollupProcessorDeps): RollupProcessor {
  return new RollupProcessor(config, deps)
}

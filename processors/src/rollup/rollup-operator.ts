import { Observable, type OperatorFunction, type SchedulerLike, type Subscription, asyncScheduler } from 'rxjs'
import type { Reading, RollupEvent } from '../stream/events.ts'
import { ReadingBatch } from '../stream/batch.ts'
import { type RollupConfig, RollupConfigSchema } from './config.ts'
import { type RecomputeRequest, RollupWindows } from './rollup-windows.ts'

/** Calls `work` every `periodMs` on the scheduler until unsubscribed. */
export function repeatOnScheduler(scheduler: SchedulerLike, periodMs: number, work: () => void): Subscription {
  return scheduler.schedule(function tick(this: { schedule(state?: unknown, delay?: number): unknown }) {
    work()
    this.schedule(undefined, periodMs)
  }, periodMs)
}

export interface RollupWindowsDeps {
  /** Processing time and timers (idle flush). Default: rxjs asyncScheduler. Marble tests pass the TestScheduler. */
  scheduler?: SchedulerLike
  /** Buckets to compute from `telemetry` instead of memory: late readings' buckets, and first buckets after start. */
  onRecompute?: (request: RecomputeRequest) => void
  /** Series seen for the first time (RollupWindowsOutput.probe); answer with `windows.setPrevious`. */
  onProbe?: (deviceId: string, metric: string) => void
  /** Whether closed 1-minute buckets of one reading are wanted as events (RollupWindowsOutput.makeSingleReadingMinutes). Absent: always. */
  makeSingleReadingMinutes?: () => boolean
  /** Receives the windows' state, for counters. */
  onWindows?: (windows: RollupWindows) => void
}

/**
 * The rollup operator: readings in (after commit: one at a time, or a
 * committed ReadingBatch at once), closed 1-minute and 1-hour
 * buckets out, in event time with a per-device watermark. Every
 * `idleCheckIntervalMs` of processing time, quiet devices' watermarks advance
 * with the clock so their last buckets close. When the source completes,
 * every open bucket is emitted. No I/O: late buckets go to `onRecompute`.
 */
export function rollupWindows(config: Partial<RollupConfig> = {}, deps: RollupWindowsDeps = {}): OperatorFunction<Reading | ReadingBatch, RollupEvent> {
  const settings = RollupConfigSchema.parse(config)
  const scheduler = deps.scheduler ?? asyncScheduler
  return (source) => new Observable<RollupEvent>((subscriber) => {
    const windows = new RollupWindows(settings, {
      emit: (event) => subscriber.next(event),
      recompute: (request) => deps.onRecompute?.(request),
      ...(deps.onProbe ? { probe: deps.onProbe } : {}),
      ...(deps.makeSingleReadingMinutes ? { makeSingleReadingMinutes: deps.makeSingleReadingMinutes } : {}),
    })
    deps.onWindows?.(windows)
    const idle = repeatOnScheduler(scheduler, settings.idleCheckIntervalMs, () => windows.closeIdle(scheduler.now()))
    const upstream = source.subscribe({
      next: (input) => {
        if (input instanceof ReadingBatch) windows.addBatch(input, scheduler.now())
        else windows.add(input, scheduler.now())
      },
      error: (error) => subscriber.error(error),
      complete: () => {
        windows.closeAll()
        subscriber.complete()
      },
    })
    return () => {
      idle.unsubscribe()
      upstream.unsubscribe()
    }
  })
}

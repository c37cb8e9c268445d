import type { Logger } from '@gridline/core'
import { Subject, lastValueFrom, toArray } from 'rxjs'
import type { DeviceLookup, IndicatorEvent, Reading } from '../../stream/events.ts'
import type { SqlQueryable } from '../../rollup/sql.ts'
import type { IndicatorsConfig } from '../config.ts'
import { createIndicators } from '../indicators.ts'
import type { IndicatorHistoryConfig } from './config.ts'
import { IndicatorHistoryStore, type StoredIndicator, countStoredReadings, indicatorKey, storedReadings } from './history-store.ts'

const HOUR = 3_600_000
/**
 * The longest span one indicator value depends on: a day (daily AQI from its
 * day's hours; a night; NowCast's 12 hours before the hour). A value computed
 * from readings that start this long before it is whole.
 */
export const INDICATOR_SPAN_MS = 24 * HOUR

export interface IndicatorHistoryDeps {
  db: SqlQueryable
  devices: DeviceLookup
  /** Registered devices, to read their stored telemetry. */
  listDevices: () => { id: string; domain: string }[]
  logger: Logger
  /** Where corrected values go (the live stream); they are stored before. */
  onCorrection?: (event: IndicatorEvent) => void
  /** The wall clock (tests). */
  now?: () => number
}

export interface WarmUpReport {
  from: number
  to: number
  readings: number
  /** Values computed again that were stored already, the same: not emitted. */
  alreadyStored: number
  /** Values of windows that closed while the service was down (or that came out differently): stored and emitted. */
  emitted: number
}

/**
 * Indicator history (docs/indicators.md#history): every value stored in
 * `indicator_values`; at start the recent telemetry is run through the live
 * indicators again (`warmUp`), so the windows open at the stop are whole and
 * the ones that closed while the service was down are computed, and values
 * already stored are not emitted again; a late reading for a closed window
 * makes the indicators over it be computed again from storage, and a stored
 * value that comes out differently is corrected (its revision + 1) and sent
 * to `onCorrection`.
 *
 * Lifecycle: `warmUp` once, before live readings; `accept` each event the
 * live indicators emit, `observe` each reading they get; `stop` at shutdown.
 */
export class IndicatorHistory {
  readonly store: IndicatorHistoryStore
  private warm: { from: number; stored: Map<string, StoredIndicator>; report: WarmUpReport } | null = null
  private flushTimer: NodeJS.Timeout | undefined
  private correctionTimer: NodeJS.Timeout | undefined
  private maxEventTime = -Infinity
  /** The earliest late reading's time not yet recomputed. */
  private lateFrom = Infinity
  private correcting: Promise<void> | null = null
  private stopped = false
  private closing = false
  private readonly now: () => number
  readonly counts = { lateReadings: 0, recomputations: 0, corrections: 0, dropped: 0 }

  constructor(private readonly config: IndicatorHistoryConfig, private readonly indicators: IndicatorsConfig, private readonly deps: IndicatorHistoryDeps) {
    this.store = new IndicatorHistoryStore(deps.db)
    this.now = deps.now ?? Date.now
  }

  /** Starts the periodic writes. */
  start(): void {
    const tick = (): void => {
      this.flushTimer = setTimeout(() => {
        this.store.flush().catch((err: unknown) => this.deps.logger.warn({ err }, 'Writing indicator values failed; retried at the next flush.')).finally(() => {
          if (!this.stopped) tick()
        })
      }, this.config.flushIntervalMs)
      this.flushTimer.unref()
    }
    tick()
  }

  /**
   * Replays the stored telemetry of the indicator metrics of the last
   * `warmupHours` into `feed` (the live indicators' input), in time order.
   * While it runs, `accept` holds back the values already stored.
   */
  async warmUp(feed: (reading: Reading) => void, metrics: ReadonlySet<string>): Promise<WarmUpReport> {
    const to = this.now()
    let from = to - this.config.warmupHours * HOUR
    const report: WarmUpReport = { from, to, readings: 0, alreadyStored: 0, emitted: 0 }
    if (this.config.warmupHours <= 0 || metrics.size === 0) return report
    const devices = this.deps.listDevices()
    from = await this.newestFrom(devices, [...metrics], from, to)
    report.from = from
    this.warm = { from, stored: await this.store.stored(from, to + INDICATOR_SPAN_MS), report }
    try {
      for await (const slice of storedReadings(this.deps.db, { devices, metrics: [...metrics], from, to })) {
        for (const r of slice) {
          feed(r)
          if (r.time > this.maxEventTime && r.time <= r.receivedAt + this.indicators.maxFutureSkewMs) this.maxEventTime = r.time
        }
        report.readings += slice.length
      }
    } finally {
      this.warm = null
    }
    this.deps.logger.info({ ...report, from: new Date(from).toISOString(), to: new Date(to).toISOString() }, 'Indicators warmed up from stored telemetry.')
    return report
  }

  /**
   * An event of the live indicators: stored, and true when it should go on
   * (to the live stream, the alarms). During the warm-up, values of windows
   * that began before the replay (partial) and values stored already are
   * held back.
   */
  accept(event: IndicatorEvent): boolean {
    // Stopping closes every window, whole or not: those values are the next run's to compute.
    if (this.closing) return false
    const warm = this.warm
    if (warm) {
      if (event.time < warm.from + INDICATOR_SPAN_MS) return false
      const stored = warm.stored.get(indicatorKey(event))
      if (stored && stored.value === event.value && stored.level === (event.level ?? null)) {
        warm.report.alreadyStored++
        return false
      }
      warm.report.emitted++
    }
    this.store.record(event)
    return true
  }

  /** A reading the live indicators got: one for a window already closed makes its indicators be computed again (after `correctionDelayMs`). */
  observe(reading: Reading): void {
    if (this.warm) return
    const watermark = this.maxEventTime - this.indicators.allowedLatenessMs
    if (reading.time > this.maxEventTime && reading.time <= reading.receivedAt + this.indicators.maxFutureSkewMs) this.maxEventTime = reading.time
    if (reading.time >= watermark || !Number.isFinite(watermark)) return
    if (reading.time < this.now() - this.config.correctionHorizonHours * HOUR) return
    this.counts.lateReadings++
    if (reading.time < this.lateFrom) this.lateFrom = reading.time
    if (this.correctionTimer === undefined && !this.stopped) {
      this.correctionTimer = setTimeout(() => {
        this.correctionTimer = undefined
        void this.correct()
      }, this.config.correctionDelayMs)
      this.correctionTimer.unref()
    }
  }

  /**
   * Computes the indicators again, from storage, over the late readings
   * gathered so far, and corrects the stored values that change. Values are
   * compared only where whole (from a day before them) and only where
   * stored: a window still open live is left to the live indicators.
   */
  async correct(): Promise<number> {
    while (this.correcting) await this.correcting
    if (!Number.isFinite(this.lateFrom)) return 0
    const lateFrom = this.lateFrom
    this.lateFrom = Infinity
    let corrected = 0
    const run = (async () => {
      const from = lateFrom - 2 * INDICATOR_SPAN_MS
      const to = this.maxEventTime - this.indicators.allowedLatenessMs
      if (!(to > lateFrom)) return
      const { operator, metrics } = createIndicators(this.indicators, { devices: this.deps.devices })
      const input = new Subject<Reading>()
      const events = lastValueFrom(input.pipe(operator, toArray()))
      for await (const slice of storedReadings(this.deps.db, { devices: this.deps.listDevices(), metrics: [...metrics], from, to })) {
        for (const r of slice) input.next(r)
      }
      input.complete()
      const computed = await events
      await this.store.flush().catch(() => undefined) // compare with what live has stored, not with what waits
      const stored = await this.store.stored(lateFrom - INDICATOR_SPAN_MS, to)
      for (const e of computed) {
        if (e.time < lateFrom - INDICATOR_SPAN_MS) continue
        const was = stored.get(indicatorKey(e))
        if (!was || (was.value === e.value && was.level === (e.level ?? null))) continue
        const event: IndicatorEvent = { ...e, details: { ...e.details, revision: was.revision + 1, corrected: true } }
        this.store.record(event)
        this.deps.onCorrection?.(event)
        corrected++
      }
      this.counts.recomputations++
      this.counts.corrections += corrected
      if (corrected > 0) this.deps.logger.info({ corrected, from: new Date(lateFrom).toISOString() }, 'Late readings corrected stored indicator values.')
    })()
    this.correcting = run.catch((err: unknown) => {
      this.deps.logger.warn({ err }, 'Recomputing indicators over late readings failed; the stored values stay as they were.')
    }).finally(() => { this.correcting = null })
    await this.correcting
    return corrected
  }

  /** From now on the live indicators are being shut down: what they emit (windows closed early) is not stored nor passed on. */
  closeWindows(): void {
    this.closing = true
  }

  /** Stops the timers and writes what is held. */
  async stop(): Promise<void> {
    this.closing = true
    this.stopped = true
    clearTimeout(this.flushTimer)
    clearTimeout(this.correctionTimer)
    while (this.correcting) await this.correcting
    this.counts.dropped = this.store.dropped
    await this.store.flush()
  }

  /** Moves the replay's start later when the range holds more than maxWarmupRows readings: the newest are replayed. */
  private async newestFrom(devices: { id: string }[], metrics: string[], from: number, to: number): Promise<number> {
    const cap = this.config.maxWarmupRows
    if (devices.length === 0) return from
    if (await countStoredReadings(this.deps.db, { devices, metrics, from, to }) <= cap) return from
    let total = 0
    for (let end = to; end > from; end -= HOUR) {
      const start = Math.max(from, end - HOUR)
      total += await countStoredReadings(this.deps.db, { devices, metrics, from: start, to: end })
      if (total > cap) {
        this.deps.logger.warn({ maxWarmupRows: cap, from: new Date(end).toISOString() }, 'The indicator warm-up would read more than maxWarmupRows readings; it starts later, and windows older than that start are not replayed.')
        return end
      }
    }
    return from
  }
}

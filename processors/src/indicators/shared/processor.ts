import { Observable, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs'
import { Quality } from '@gridline/schemas'
import type { DeviceInfo, DeviceLookup, IndicatorEvent, Reading } from '../../stream/events.ts'

/** Counters every indicator processor shares; read them for metrics. */
export interface IndicatorStats {
  /** Readings that reached the indicator operator. */
  readings: number
  /** Readings left out because their quality was not GOOD (the default). */
  notGood: number
  /** Readings whose window had already closed (event time older than the watermark). */
  late: number
  /** Readings or groups left out because the device lacks the metadata the indicator needs. */
  missingMetadata: number
  /** Indicator events emitted. */
  events: number
  /**
   * Hourly means left out because the hour held too few readings (air quality,
   * docs/indicators.md#aq-completeness), one per sensor and pollutant, by pollutant.
   */
  incompleteHours: Record<string, number>
  /** District night-flow values emitted marked incomplete (`details.complete: false`: a meter missing from a bucket). */
  incompleteNightFlows: number
}

export function createIndicatorStats(): IndicatorStats {
  return { readings: 0, notGood: 0, late: 0, missingMetadata: 0, events: 0, incompleteHours: {}, incompleteNightFlows: 0 }
}

/**
 * A device command the device confirmed (result `ok`, docs/protocol.md#device-commands):
 * what it was told to be, for indicators that judge a device against its
 * commanded state (a lamp switched off at night is not failed).
 */
export interface ConfirmedCommand {
  deviceId: string
  domain: string
  /** `switch`, `dim`, `schedule`, ... as in @gridline/schemas' command table. */
  action: string
  params: Readonly<Record<string, unknown>>
  /** When the device confirmed it, epoch ms (the service's clock: a reply carries no device time). */
  time: number
}

/**
 * One domain's indicators. Event-time driven: the runner calls `onReading` for
 * every reading in arrival order and `onWatermark` whenever the watermark moves;
 * never concurrently. A processor closes the windows that end at or before the
 * watermark, and counts readings for windows it already closed as late.
 */
export interface IndicatorProcessor {
  readonly name: string
  /** The metrics it reads; other readings need not reach it. */
  readonly metrics: readonly string[]
  /** `reading` may be a cursor the runner reuses for the next reading (ReadingBatch.load): read its fields, never keep it. */
  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void
  /** `watermark` may be Infinity when the input completed: close everything. */
  onWatermark(watermark: number, out: IndicatorEvent[]): void
  /** A confirmed device command, as it settles (never concurrently with the other calls). Optional. */
  onCommand?(command: ConfirmedCommand, out: IndicatorEvent[]): void
}

export interface RunnerOptions {
  devices: DeviceLookup
  stats: IndicatorStats
  /** How far behind the newest event time a reading may arrive and still count. */
  allowedLatenessMs: number
  /** How often an idle input advances the watermark by the wall-clock time that passed. */
  idleTickMs: number
  /** Include readings whose quality is not GOOD. */
  includeNonGood: boolean
  /** Readings stamped further than this past their receive time do not move the watermark (a wrong device clock). */
  maxFutureSkewMs: number
  /** Confirmed device commands, for processors with `onCommand`; they do not move the watermark. */
  commands?: Observable<ConfirmedCommand>
  scheduler?: SchedulerLike
}

/** Event time the watermark must move before the processors are told (see runIndicatorProcessors). */
const WATERMARK_STEP_MS = 1_000

/**
 * Runs processors over committed readings. The watermark is the newest event time
 * seen minus the allowed lateness; while no reading arrives it advances with the
 * scheduler's clock, so the last window of a quiet fleet still closes. Completing
 * the input closes every open window.
 */
export function runIndicatorProcessors(processors: readonly IndicatorProcessor[], options: RunnerOptions): OperatorFunction<Reading, IndicatorEvent> {
  const scheduler = options.scheduler ?? asyncScheduler
  return (source) => new Observable<IndicatorEvent>((subscriber) => {
    const { stats, devices } = options
    // Each reading goes only to the processors that read its metric (most read a few of many).
    const byMetric = new Map<string, IndicatorProcessor[]>()
    for (const p of processors) {
      for (const metric of new Set(p.metrics)) {
        const list = byMetric.get(metric)
        if (list) list.push(p)
        else byMetric.set(metric, [p])
      }
    }
    const out: IndicatorEvent[] = []
    let maxEventTime = -Infinity
    let lastArrival = scheduler.now()
    let watermark = -Infinity

    const emit = (): void => {
      if (out.length === 0) return
      stats.events += out.length
      const batch = out.splice(0, out.length)
      for (const event of batch) subscriber.next(event)
    }
    // The watermark moves on with nearly every reading; handing each step to
    // every processor cost more than the readings themselves. Windows are
    // minutes to a day long, so processors see it in steps of a second.
    let handedOn = -Infinity
    const advance = (next: number): void => {
      if (next <= watermark) return
      watermark = next
      if (watermark - handedOn < WATERMARK_STEP_MS && watermark !== Infinity) return
      handedOn = watermark
      for (const p of processors) p.onWatermark(watermark, out)
    }

    const tick = scheduler.schedule(function (this: { schedule(state?: undefined, delay?: number): unknown }) {
      if (maxEventTime > -Infinity) advance(maxEventTime + (scheduler.now() - lastArrival) - options.allowedLatenessMs)
      emit()
      this.schedule(undefined, options.idleTickMs)
    }, options.idleTickMs)

    const subscription = source.subscribe({
      next(reading) {
        stats.readings++
        if (reading.quality !== Quality.GOOD && !options.includeNonGood) { stats.notGood++; return }
        const readers = byMetric.get(reading.metric)
        if (readers !== undefined) {
          const device = devices(reading.deviceId)
          for (let i = 0; i < readers.length; i++) readers[i]!.onReading(reading, device, out)
        }
        if (reading.time > maxEventTime && reading.time <= reading.receivedAt + options.maxFutureSkewMs) {
          maxEventTime = reading.time
          lastArrival = scheduler.now()
          advance(maxEventTime - options.allowedLatenessMs)
        }
        emit()
      },
      error(err) { subscriber.error(err) },
      complete() {
        advance(Infinity)
        emit()
        subscriber.complete()
      },
    })
    const commands = options.commands?.subscribe((command) => {
      for (const p of processors) p.onCommand?.(command, out)
      emit()
    })
    return () => {
      subscription.unsubscribe()
      commands?.unsubscribe()
      tick.unsubscribe()
    }
  })
}

/** The group a device belongs to by a metadata key, or the device itself. */
export function groupOf(device: DeviceInfo | undefined, key: 'district' | 'roadSegment' | 'meteredArea' | 'circuit'): string | undefined {
  const v = device?.metadata[key]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

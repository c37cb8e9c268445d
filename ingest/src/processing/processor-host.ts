import type { Logger } from '@gridline/core'
import {
  type AlarmEngine,
  type ConfirmedCommand,
  type AlarmEventDetail,
  StreamHub,
  alarmBrokerMessages,
  createAlarmEngine,
  type DecodedMessage,
  type DeviceInfo,
  type DeviceLookup,
  type IndicatorEvent,
  IndicatorHistory,
  type Indicators,
  type QualityChecker,
  type Reading,
  type ReadingBatch,
  type RollupEvent,
  type RollupProcessor,
  SequenceGapStore,
  type SequenceTracker,
  type WritePosition,
  countReadings,
  createIndicators,
  createQualityChecker,
  createRollupProcessor,
  createSequenceTracker,
  persistGapsPeriodically,
  readingCursor,
} from '@gridline/processors'
import type pg from 'pg'
import { type Observable, Subject, type Subscription } from 'rxjs'
import { AsyncAction } from 'rxjs/internal/scheduler/AsyncAction'
import { AsyncScheduler } from 'rxjs/internal/scheduler/AsyncScheduler'
import type { CommandRecord } from '../commands/command-service.ts'
import type { IngestConfig } from '../config.ts'
import type { LiveDeviceDirectory } from '../devices/directory.ts'
import type { Envelope } from '../pipeline/envelope.ts'
import { committedBatch } from './committed-readings.ts'

/**
 * The stream processors, composed by `processors.*` in the config, in two stages:
 *
 * - before the write, synchronously per message (`prepare`): seq duplicate
 *   suppression, then the quality checks, so flagged readings are stored
 *   with their quality and resends never feed the stuck check;
 * - after the commit (`onCommitted`): the committed batch, as columns (a
 *   ReadingBatch, no object per reading), goes to the alarm engine, the
 *   live stream hub and, as one rxjs emission per commit, to the rollups;
 *   the indicators get the readings of the metrics they read, one at a
 *   time in one reused cursor (no object per reading).
 *   Readings, rollups, indicators and alarm events all go to the live
 *   stream hub (docs/live-stream.md), and alarm events to the broker.
 *
 * Nothing after the commit can slow or undo the write: a processor that
 * throws is logged and its stream resubscribed, never propagated.
 */
export class ProcessorHost {
  readonly sequences: SequenceTracker | null
  readonly quality: QualityChecker | null
  readonly rollups: RollupProcessor | null
  readonly indicators: Indicators | null
  readonly alarms: AlarmEngine | null
  /** Indicator values stored, warmed up at start, corrected by late readings (docs/indicators.md#history). */
  readonly history: IndicatorHistory | null
  /** The live stream: what dashboards, Node-RED and other in-process consumers subscribe to. */
  readonly hub: StreamHub
  private readonly readings$ = new Subject<ReadingBatch>()
  /** Only the readings of metrics an enabled indicator reads: most readings are of others. */
  private readonly indicatorReadings$ = new Subject<Reading>()
  private readonly indicatorMetrics: ReadonlySet<string>
  /** The one object each committed reading is loaded into for the indicators (they read it, never keep it). */
  private readonly cursor = readingCursor()
  private readonly subscriptions: Subscription[] = []
  private readonly lookup: DeviceLookup
  private stopGaps: (() => Promise<void>) | undefined
  /** While a committed batch is handed on, the time it is handed on at. */
  private readonly clock: { batchNow: number | undefined } = { batchNow: undefined }
  private brokerPublish: ((topic: string, payload: string, retain: boolean) => void) | undefined
  private readonly congestionListeners: ((held: boolean) => void)[] = []

  constructor(
    private readonly config: IngestConfig['processors'],
    private readonly deps: { pool: pg.Pool; directory: LiveDeviceDirectory | null; logger: Logger },
  ) {
    this.sequences = createSequenceTracker(config.sequence)
    this.quality = config.quality.enabled ? createQualityChecker(config.quality) : null
    this.lookup = cachedLookup(deps.directory)
    const clock = this.clock
    // One clock read per committed batch instead of one per reading and processor.
    const scheduler = new AsyncScheduler(AsyncAction, () => clock.batchNow ?? Date.now())
    this.rollups = config.rollups.enabled
      ? createRollupProcessor(config.rollups, {
        db: deps.pool,
        scheduler,
        onError: (err) => deps.logger.warn({ err }, 'Writing rollups failed; retried at the next flush.'),
        onBacklog: (held) => {
          if (held) deps.logger.warn('Closed rollup buckets wait faster than the database takes them; intake is held back until they are written.')
          for (const listener of this.congestionListeners) listener(held)
        },
        // Rollup events go to storage and the live stream; with no live subscriber of rollups a
        // minute that is not stored is not made (this.hub is set below, before the first commit).
        eventsTaken: () => this.hub.takes('rollup'),
      })
      : null
    this.indicators = config.indicators.enabled ? createIndicators(config.indicators, { devices: this.lookup, scheduler }) : null
    this.indicatorMetrics = this.indicators?.metrics ?? new Set()
    this.hub = new StreamHub({ lookup: this.lookup, logger: deps.logger })
    this.history = this.indicators && config.indicators.history.enabled
      ? new IndicatorHistory(config.indicators.history, config.indicators, {
        db: deps.pool,
        devices: this.lookup,
        listDevices: () => registeredDevices(deps.directory),
        logger: deps.logger.child({ component: 'indicator-history' }),
        onCorrection: (event) => this.hub.publish(event),
      })
      : null
    this.alarms = config.alarms.enabled
      ? createAlarmEngine(config.alarms, {
        db: deps.pool,
        lookup: this.lookup,
        listDevices: () => registeredDevices(deps.directory),
        scheduler,
        logger: deps.logger.child({ component: 'alarms' }),
      })
      : null
  }

  /**
   * Called with true when the after-commit processors cannot keep up with the commits
   * (closed rollup buckets pile up while their writes succeed) and intake must be held
   * back, false when it may resume. The composition root hands it to the pipeline.
   */
  onCongestion(listener: (held: boolean) => void): void {
    this.congestionListeners.push(listener)
  }

  /** Where alarm events go on the broker (`alarms/...`, docs/alarms.md). Set by the MQTT source. */
  publishAlarmsTo(publish: (topic: string, payload: string, retain: boolean) => void): void {
    this.brokerPublish = publish
  }

  /** Restores the gap ledger, starts its persistence and subscribes the after-commit processors. */
  async start(): Promise<void> {
    if (this.sequences) {
      const store = new SequenceGapStore(this.deps.pool)
      this.sequences.restore(await store.load())
      this.stopGaps = persistGapsPeriodically(this.sequences, store, this.config.sequence.persistIntervalMs,
        (err) => this.deps.logger.warn({ err }, 'Persisting sequence gaps failed; retried at the next interval.'))
    }
    if (this.alarms) {
      // Before the first commit: open alarms are loaded so none is raised twice.
      await this.alarms.start()
      this.subscriptions.push(this.alarms.events.subscribe((event) => this.onAlarm(event)))
    }
    if (this.rollups) this.follow('rollups', this.readings$, this.rollups.operator, (event) => this.hub.publish(event))
    if (this.indicators) {
      const history = this.history
      this.follow('indicators', this.indicatorReadings$, this.indicators.operator, (event) => {
        if (history && !history.accept(event)) return
        this.alarms?.onIndicator(event)
        this.hub.publish(event)
      })
      // A lamp switched by command stays so until told otherwise: its last confirmed commands
      // are replayed in time order with the warm-up's readings (or alone, without history).
      const indicators = this.indicators
      const commands = await this.lastLightingCommands()
      let next = 0
      const commandsUpTo = (time: number): void => {
        while (next < commands.length && commands[next]!.time <= time) indicators.command(commands[next++]!)
      }
      if (history) {
        history.start()
        // Before the first commit: the windows open when the service last stopped are filled from storage.
        try {
          await history.warmUp((reading) => {
            commandsUpTo(reading.time)
            this.indicatorReadings$.next(reading)
          }, this.indicatorMetrics)
        } catch (err) {
          this.deps.logger.warn({ err }, 'Warming the indicators up from stored telemetry failed; they start empty (windows open at the last stop are partial).')
        }
      }
      commandsUpTo(Infinity)
    }
  }

  /**
   * A command's result (CommandService.onChange): one the device confirmed
   * reaches the indicators, so a lamp switched off by command at night is
   * not reported failed (docs/indicators.md#lighting).
   */
  onCommand(record: CommandRecord): void {
    if (record.status !== 'ok' || !this.indicators) return
    this.indicators.command({ deviceId: record.deviceId, domain: record.domain, action: record.action, params: record.params, time: record.repliedAt ?? record.sentAt })
  }

  /** Each lamp's last confirmed switch, dim and schedule command (device_commands), oldest first. */
  private async lastLightingCommands(): Promise<ConfirmedCommand[]> {
    if (!this.config.indicators.lighting.enabled) return []
    try {
      const { rows } = await this.deps.pool.query<{ device_id: string; action: string; params: Record<string, unknown>; time: number }>(
        `SELECT * FROM (
           SELECT DISTINCT ON (device_id, action) device_id, action, params,
                  (extract(epoch FROM coalesce(replied_at, sent_at)) * 1000)::float8 AS time
             FROM device_commands
            WHERE domain = 'lighting' AND status = 'ok' AND action IN ('switch', 'dim', 'schedule')
            ORDER BY device_id, action, coalesce(replied_at, sent_at) DESC) last
          ORDER BY time`,
      )
      return rows.map((r) => ({ deviceId: r.device_id, domain: 'lighting', action: r.action, params: r.params, time: Number(r.time) }))
    } catch (err) {
      this.deps.logger.warn({ err }, 'Reading the lamps\' last commands failed; lamps switched by command before the start follow the night until they report or are commanded again.')
      return []
    }
  }

  /**
   * Before the write, per message: drops duplicate readings (only once what
   * they repeat is committed, see SequenceTracker.apply) and flags stuck,
   * saturated and spiking values in place.
   */
  prepare(decoded: DecodedMessage, at: WritePosition): void {
    if (decoded.rows.length === 0) return
    if (this.sequences && this.sequences.apply(decoded.rows, at) > 0) decoded.readings = countReadings(decoded.rows)
    this.quality?.apply(decoded.rows)
  }

  /** After each commit (pipeline.onCommitted): hands the stored readings to the after-commit processors. */
  onCommitted(batch: readonly Envelope[]): void {
    const readings = committedBatch(batch, this.lookup)
    if (readings.length === 0) return
    this.clock.batchNow = Date.now()
    try {
      this.alarms?.onBatch(readings)
      this.hub.publishBatch(readings)
      this.readings$.next(readings)
      const indicatorMetrics = this.indicatorMetrics
      if (indicatorMetrics.size > 0) {
        const indicatorReadings$ = this.indicatorReadings$
        const metrics = readings.metric
        const history = this.history
        const cursor = this.cursor
        for (let i = 0; i < readings.length; i++) {
          if (!indicatorMetrics.has(metrics[i]!)) continue
          const reading = readings.load(cursor, i)
          history?.observe(reading)
          indicatorReadings$.next(reading)
        }
      }
    } finally {
      this.clock.batchNow = undefined
    }
  }

  /** Completes the streams and writes what the rollups still hold. */
  async stop(): Promise<void> {
    this.readings$.complete()
    this.history?.closeWindows()
    this.indicatorReadings$.complete()
    await this.history?.stop()
    await this.rollups?.flush()
    await this.alarms?.stop()
    for (const s of this.subscriptions) s.unsubscribe()
    this.hub.close()
    await this.stopGaps?.()
  }

  private onAlarm(event: AlarmEventDetail): void {
    this.hub.publish(event)
    if (!this.brokerPublish) return
    for (const m of alarmBrokerMessages(event)) this.brokerPublish(m.topic, m.payload, m.retain)
  }

  private follow<I, E extends RollupEvent | IndicatorEvent>(name: string, source: Observable<I>, operator: (source: Observable<I>) => Observable<E>, next: (event: E) => void): void {
    const subscribe = (): Subscription => operator(source).subscribe({
      next,
      error: (err: unknown) => {
        this.deps.logger.error({ err, processor: name }, 'A processor failed; restarting it with fresh state.')
        this.subscriptions.push(subscribe())
      },
    })
    this.subscriptions.push(subscribe())
  }
}

function registeredDevices(directory: LiveDeviceDirectory | null): DeviceInfo[] {
  const out: DeviceInfo[] = []
  for (const device of directory?.all() ?? []) {
    if (device.kind === 'device' && device.domain) out.push({ id: device.id, domain: device.domain, metadata: device.metadata })
  }
  return out
}

/**
 * Device lookups run per reading in several processors: one DeviceInfo per
 * device, kept until the registry says the device changed.
 */
const MAX_CACHED_DEVICES = 200_000

function cachedLookup(directory: LiveDeviceDirectory | null): DeviceLookup {
  const cache = new Map<string, DeviceInfo | undefined>()
  directory?.onAnyChange((deviceId) => cache.delete(deviceId))
  return (deviceId) => {
    let info = cache.get(deviceId)
    if (info === undefined && !cache.has(deviceId)) {
      const device = directory?.get(deviceId)
      info = device && device.kind === 'device' && device.domain ? { id: device.id, domain: device.domain, metadata: device.metadata } : undefined
      // Unknown devices are cached too: registering one later notifies, which drops the entry.
      // Bounded: with auth none any id can appear.
      if (cache.size >= MAX_CACHED_DEVICES) cache.clear()
      cache.set(deviceId, info)
    }
    return info
  }
}

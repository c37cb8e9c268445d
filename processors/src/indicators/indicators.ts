import { type OperatorFunction, type SchedulerLike, Subject, defer } from 'rxjs'
import type { DeviceLookup, IndicatorEvent, Reading } from '../stream/events.ts'
import { AirQualityProcessor } from './air-quality/air-quality-processor.ts'
import type { IndicatorsConfig } from './config.ts'
import { FloodProcessor } from './flood/flood-processor.ts'
import { LightingProcessor } from './lighting/lighting-processor.ts'
import { type ConfirmedCommand, type IndicatorProcessor, type IndicatorStats, createIndicatorStats, runIndicatorProcessors } from './shared/processor.ts'
import { TrafficProcessor } from './traffic/traffic-processor.ts'
import { WaterProcessor } from './water/water-processor.ts'

export interface IndicatorDeps {
  /** Registry metadata (district, road segment, metered area, circuit, free-flow speed, gauge levels). */
  devices: DeviceLookup
  /** Time source for the idle watermark; a TestScheduler in marble tests. Default asyncScheduler. */
  scheduler?: SchedulerLike
  /** Counters to export as metrics; created when absent. */
  stats?: IndicatorStats
}

export interface Indicators {
  /** Committed readings in, indicator events out. Subscribe once per pipeline. */
  operator: OperatorFunction<Reading, IndicatorEvent>
  stats: IndicatorStats
  /** The metrics the enabled indicators read: a caller may leave other readings out. */
  metrics: ReadonlySet<string>
  /**
   * Tells the running indicators of a command a device confirmed (the lighting
   * indicators follow a lamp's commanded switch state), in the order the
   * commands settled. Synchronous: the running processors have it when the
   * call returns.
   */
  command(command: ConfirmedCommand): void
}

/**
 * Builds the enabled city indicators from `processors.indicators` config.
 * Each subscription to a stream piped through `operator` gets its own state.
 */
export function createIndicators(config: IndicatorsConfig, deps: IndicatorDeps): Indicators {
  const stats = deps.stats ?? createIndicatorStats()
  const build = (): IndicatorProcessor[] => {
    if (!config.enabled) return []
    const processors: IndicatorProcessor[] = []
    if (config.airQuality.enabled) processors.push(new AirQualityProcessor(config.airQuality, stats))
    if (config.traffic.enabled) processors.push(new TrafficProcessor(config.traffic, stats))
    if (config.water.enabled) processors.push(new WaterProcessor(config.water, stats))
    if (config.lighting.enabled) processors.push(new LightingProcessor(config.lighting, stats))
    if (config.flood.enabled) processors.push(new FloodProcessor(config.flood, stats))
    return processors
  }
  const commands$ = new Subject<ConfirmedCommand>()
  const options = {
    commands: commands$,
    devices: deps.devices,
    stats,
    allowedLatenessMs: config.allowedLatenessMs,
    idleTickMs: config.idleTickMs,
    includeNonGood: config.includeNonGood,
    maxFutureSkewMs: config.maxFutureSkewMs,
    ...(deps.scheduler === undefined ? {} : { scheduler: deps.scheduler }),
  }
  const operator: OperatorFunction<Reading, IndicatorEvent> = (source) => {
    // Fresh processor state per subscription (the operator may be reused in tests).
    return defer(() => runIndicatorProcessors(build(), options)(source))
  }
  return { operator, stats, metrics: new Set(build().flatMap((p) => p.metrics)), command: (command) => commands$.next(command) }
}

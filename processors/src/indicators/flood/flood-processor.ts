import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import type { IndicatorProcessor, IndicatorStats } from '../shared/processor.ts'
import { bucketStart } from '../shared/time.ts'
import { slopePerHour } from '../shared/windows.ts'
import type { FloodConfig } from './config.ts'
import { type FloodLevelName, alertLevelsFromMetadata, floodLevelName } from './flood-level.ts'

interface Gauge { times: number[]; values: number[]; level: FloodLevelName | undefined; nextEmit: number; alertLevels: [number, number, number] | undefined }

/**
 * Water level against the gauge's alert levels (metadata `alertLevelsM`, else the
 * configured default for its `gauge` kind) and rate of rise in m/h. A change of
 * level is emitted at once; level and rate are also emitted every interval.
 */
export class FloodProcessor implements IndicatorProcessor {
  readonly name = 'flood'
  get metrics(): readonly string[] { return [this.config.levelMetric] }
  private readonly gauges = new Map<string, Gauge>()

  constructor(private readonly config: FloodConfig, private readonly stats: IndicatorStats) {}

  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    if (reading.metric !== this.config.levelMetric) return
    let g = this.gauges.get(reading.deviceId)
    if (g === undefined) {
      const meta = device?.metadata ?? {}
      const fallback = meta.gauge === 'river' ? this.config.riverAlertLevelsM : this.config.streetAlertLevelsM
      const alertLevels = alertLevelsFromMetadata(meta.alertLevelsM) ?? fallback
      if (alertLevels === undefined) this.stats.missingMetadata++
      g = { times: [], values: [], level: undefined, nextEmit: bucketStart(reading.time, this.config.intervalMs) + this.config.intervalMs, alertLevels }
      this.gauges.set(reading.deviceId, g)
    }
    const last = g.times[g.times.length - 1]
    if (last !== undefined && reading.time <= last) { this.stats.late++; return }
    if (reading.time >= g.nextEmit) {
      this.emitPeriodic(reading.deviceId, g, g.nextEmit, out)
      g.nextEmit = bucketStart(reading.time, this.config.intervalMs) + this.config.intervalMs
    }
    g.times.push(reading.time)
    g.values.push(reading.value)
    let drop = 0
    while (drop < g.times.length && g.times[drop]! < reading.time - this.config.riseWindowMs) drop++
    if (drop > 0) { g.times.splice(0, drop); g.values.splice(0, drop) }
    const level = floodLevelName(reading.value, g.alertLevels)
    if (level !== g.level) {
      const previous = g.level
      g.level = level
      if (previous !== undefined || level !== 'normal') {
        out.push(this.levelEvent(reading.deviceId, g, reading.time, reading.value, { change: true, previous: previous ?? 'none' }))
      }
    }
  }

  onWatermark(): void {
    // Emission is driven by each gauge's own readings; nothing waits on the watermark.
  }

  private emitPeriodic(deviceId: string, g: Gauge, time: number, out: IndicatorEvent[]): void {
    const levelM = g.values[g.values.length - 1]
    if (levelM === undefined) return
    out.push(this.levelEvent(deviceId, g, time, levelM, { change: false }))
    const rate = slopePerHour(g.times, g.values)
    if (rate !== undefined) {
      out.push({ kind: 'indicator', name: 'flood_rise_rate', scope: 'device', key: deviceId, time, value: Math.round(rate * 1000) / 1000, level: g.level ?? 'unknown', details: { levelM, points: g.times.length } })
    }
  }

  private levelEvent(deviceId: string, g: Gauge, time: number, levelM: number, extra: Record<string, string | boolean>): IndicatorEvent {
    const details: Record<string, string | number | boolean> = { ...extra }
    if (g.alertLevels !== undefined) { details.alert1M = g.alertLevels[0]; details.alert2M = g.alertLevels[1]; details.alert3M = g.alertLevels[2] }
    const rate = slopePerHour(g.times, g.values)
    if (rate !== undefined) details.riseRateMPerH = Math.round(rate * 1000) / 1000
    return { kind: 'indicator', name: 'flood_level', scope: 'device', key: deviceId, time, value: levelM, level: g.level ?? 'unknown', details }
  }
}

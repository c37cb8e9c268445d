import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { districtKey } from '../shared/district.ts'
import type { IndicatorProcessor, IndicatorStats } from '../shared/processor.ts'
import { bucketStart } from '../shared/time.ts'
import { slopePerHour } from '../shared/windows.ts'
import type { FloodConfig } from './config.ts'
import { type FloodLevelName, alertLevelsFromMetadata, floodLevelName } from './flood-level.ts'

const NAMES: readonly FloodLevelName[] = ['normal', 'alert_1', 'alert_2', 'alert_3']
const rankOf = (name: FloodLevelName): number => NAMES.indexOf(name)

interface Point { time: number; value: number }

interface Gauge {
  /** Accepted readings within `riseWindowMs` of the newest. */
  times: number[]
  values: number[]
  alertLevels: [number, number, number] | undefined
  /** Its metadata `district` as a comparison key (districtKey); undefined: rain anywhere counts. */
  district: string | undefined
  /** Its metadata `district` as written (for details). */
  districtName: string | undefined
  /** The confirmed level name; undefined until the first readings agree. */
  level: FloodLevelName | undefined
  /** A level change waiting for `alertConfirmReadings` readings: direction (+1 up, -1 down, 0 first), the least change seen, readings so far. */
  pending: { dir: number; rank: number; count: number } | undefined
  /** A reading too far from the last accepted one, waiting for the next to confirm it. */
  suspect: Point | undefined
  lastAccepted: Point | undefined
  /** Event time of the newest reading, accepted or not. */
  lastTime: number
  nextEmit: number
  implausible: number
  stale: boolean
}

/**
 * Water level against the gauge's alert levels (metadata `alertLevelsM`, else the
 * configured default for its `gauge` kind) and rate of rise in m/h. A jump larger
 * than `plausibleStepM` needs the next reading to confirm it; a level name
 * changes once `alertConfirmReadings` readings agree, and is left downwards only
 * `hysteresisM` below its threshold. A change of level is emitted at once; level
 * and rate are also emitted every interval. A gauge that falls silent while it
 * rains (a `rainMetric` above 0 in its district) or while at an alert level
 * raises `flood_gauge_stale` on the watermark.
 *
 * Rain and flood gauges are matched by their metadata `district`, compared
 * without case or diacritics ("Hải Châu" is "hai-chau"): a flood gauge with a
 * district is told of rain in it and of rain from rain gauges without one
 * (which stand for the whole city); a flood gauge without a district, of rain
 * anywhere.
 */
export class FloodProcessor implements IndicatorProcessor {
  readonly name = 'flood'
  get metrics(): readonly string[] { return [this.config.levelMetric, this.config.rainMetric] }
  /** Readings dropped by the plausibility check since start. */
  implausibleReadings = 0
  private readonly gauges = new Map<string, Gauge>()
  /** Newest rain anywhere, event time: for gauges without a district. */
  private lastRainAt = -Infinity
  /** Newest rain from a rain gauge without a district: it counts for every gauge. */
  private lastCityRainAt = -Infinity
  /** District key -> newest rain in it, event time. */
  private readonly rainByDistrict = new Map<string, number>()

  constructor(private readonly config: FloodConfig, private readonly stats: IndicatorStats) {}

  /** The current rate of rise of a gauge, m/h, over `riseWindowMs`; undefined with too few readings. */
  riseRate(deviceId: string): number | undefined {
    const g = this.gauges.get(deviceId)
    return g === undefined ? undefined : this.rate(g)
  }

  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    if (reading.metric === this.config.rainMetric && reading.metric !== this.config.levelMetric) {
      if (reading.value > 0) this.rained(reading.time, districtKey(device?.metadata.district))
      return
    }
    if (reading.metric !== this.config.levelMetric) return
    let g = this.gauges.get(reading.deviceId)
    const meta = device?.metadata ?? {}
    const fallback = meta.gauge === 'river' ? this.config.riverAlertLevelsM : this.config.streetAlertLevelsM
    // Read every time: a metadata change (set-metadata) reaches the running service without a restart.
    const alertLevels = alertLevelsFromMetadata(meta.alertLevelsM) ?? fallback
    if (g === undefined) {
      if (alertLevels === undefined) this.stats.missingMetadata++
      g = {
        times: [], values: [], alertLevels, district: undefined, districtName: undefined, level: undefined, pending: undefined, suspect: undefined, lastAccepted: undefined,
        lastTime: -Infinity, nextEmit: bucketStart(reading.time, this.config.intervalMs) + this.config.intervalMs, implausible: 0, stale: false,
      }
      this.gauges.set(reading.deviceId, g)
    }
    g.alertLevels = alertLevels
    g.district = districtKey(device?.metadata.district)
    g.districtName = g.district === undefined ? undefined : String(device?.metadata.district)
    if (reading.time <= g.lastTime) { this.stats.late++; return }
    const silentMs = reading.time - g.lastTime
    g.lastTime = reading.time
    if (g.stale) {
      g.stale = false
      out.push({ kind: 'indicator', name: 'flood_gauge_stale', scope: 'device', key: reading.deviceId, time: reading.time, value: 0, level: 'ok', details: { silentMs, levelM: reading.value } })
    }
    if (reading.time >= g.nextEmit) {
      this.emitPeriodic(reading.deviceId, g, g.nextEmit, out)
      g.nextEmit = bucketStart(reading.time, this.config.intervalMs) + this.config.intervalMs
    }
    for (const p of this.plausible(g, { time: reading.time, value: reading.value })) this.accept(reading.deviceId, g, p, out)
  }

  /**
   * The readings to accept now: a step larger than `plausibleStepM` from the last
   * accepted reading is held as a suspect. The next reading confirms it when it
   * lies nearer the suspect than the last accepted reading (the water stayed
   * there, or rose on: a steady rise faster than a step per reading is accepted
   * one reading late), and drops it otherwise (a lone echo); it is then judged
   * itself. After a silence longer than `staleAfterMs` anything goes.
   */
  private plausible(g: Gauge, p: Point): Point[] {
    const suspect = g.suspect
    if (suspect !== undefined) {
      const prev = g.lastAccepted!
      if (Math.abs(p.value - suspect.value) <= Math.abs(p.value - prev.value)) { g.suspect = undefined; return [suspect, p] }
      this.dropSuspect(g)
    }
    const prev = g.lastAccepted
    if (prev !== undefined && p.time - prev.time <= this.config.staleAfterMs && Math.abs(p.value - prev.value) > this.config.plausibleStepM) {
      g.suspect = p
      return []
    }
    return [p]
  }

  private dropSuspect(g: Gauge): void {
    g.suspect = undefined
    g.implausible++
    this.implausibleReadings++
  }

  private accept(deviceId: string, g: Gauge, p: Point, out: IndicatorEvent[]): void {
    g.lastAccepted = p
    g.times.push(p.time)
    g.values.push(p.value)
    let drop = 0
    while (drop < g.times.length && g.times[drop]! < p.time - this.config.riseWindowMs) drop++
    if (drop > 0) { g.times.splice(0, drop); g.values.splice(0, drop) }
    const next = this.nextLevel(g, p.value)
    if (next === undefined || next === g.level) return
    const previous = g.level
    g.level = next
    if (previous !== undefined || next !== 'normal') {
      out.push(this.levelEvent(deviceId, g, p.time, p.value, { change: true, previous: previous ?? 'none' }))
    }
  }

  /** The level name after this reading: with hysteresis downwards and `alertConfirmReadings` agreeing readings. */
  private nextLevel(g: Gauge, levelM: number): FloodLevelName | undefined {
    const levels = g.alertLevels
    if (levels === undefined) return 'unknown'
    const up = rankOf(floodLevelName(levelM, levels))
    const cur = g.level === undefined ? undefined : rankOf(g.level)
    let candidate = up
    if (cur !== undefined && up <= cur) {
      const down = rankOf(floodLevelName(levelM + this.config.hysteresisM, levels))
      candidate = down < cur ? down : cur
    }
    if (candidate === cur) { g.pending = undefined; return g.level }
    const dir = cur === undefined ? 0 : Math.sign(candidate - cur)
    if (g.pending !== undefined && g.pending.dir === dir) {
      g.pending.count++
      // The least change the run agrees on: 0.31, 0.55 from alert 1 is alert 2, not 3.
      g.pending.rank = dir < 0 ? Math.max(g.pending.rank, candidate) : Math.min(g.pending.rank, candidate)
    } else {
      g.pending = { dir, rank: candidate, count: 1 }
    }
    if (g.pending.count < this.config.alertConfirmReadings) return g.level
    const rank = g.pending.rank
    g.pending = undefined
    return NAMES[rank]
  }

  private rained(time: number, district: string | undefined): void {
    if (time > this.lastRainAt) this.lastRainAt = time
    if (district === undefined) {
      if (time > this.lastCityRainAt) this.lastCityRainAt = time
    } else if (time > (this.rainByDistrict.get(district) ?? -Infinity)) {
      this.rainByDistrict.set(district, time)
    }
  }

  /** The newest rain that counts for this gauge (its district's, or the city's), event time. */
  private lastRainFor(g: Gauge): number {
    if (g.district === undefined) return this.lastRainAt
    return Math.max(this.rainByDistrict.get(g.district) ?? -Infinity, this.lastCityRainAt)
  }

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
    // The input ending (Infinity) is not a silence.
    if (watermark === Infinity) return
    for (const [deviceId, g] of this.gauges) {
      if (g.stale || watermark - g.lastTime < this.config.staleAfterMs) continue
      const atAlert = g.level !== undefined && rankOf(g.level) >= 1
      const lastRainAt = this.lastRainFor(g)
      const raining = lastRainAt >= watermark - this.config.rainLookbackMs
      if (!raining && !atAlert) continue
      g.stale = true
      const details: Record<string, string | number | boolean> = {
        reason: atAlert ? 'alert' : 'rain', silentMs: watermark - g.lastTime, lastReadingAt: new Date(g.lastTime).toISOString(), previous: g.level ?? 'unknown',
      }
      if (g.lastAccepted !== undefined) details.lastLevelM = g.lastAccepted.value
      if (lastRainAt > -Infinity) details.lastRainAt = new Date(lastRainAt).toISOString()
      if (g.districtName !== undefined) details.district = g.districtName
      out.push({ kind: 'indicator', name: 'flood_gauge_stale', scope: 'device', key: deviceId, time: watermark, value: 1, level: 'stale', details })
    }
  }

  private rate(g: Gauge): number | undefined {
    if (g.times.length < this.config.riseMinPoints) return undefined
    const rate = slopePerHour(g.times, g.values)
    return rate === undefined ? undefined : Math.round(rate * 1000) / 1000
  }

  private emitPeriodic(deviceId: string, g: Gauge, time: number, out: IndicatorEvent[]): void {
    const levelM = g.values[g.values.length - 1]
    if (levelM === undefined) return
    out.push(this.levelEvent(deviceId, g, time, levelM, { change: false }))
    const rate = this.rate(g)
    if (rate !== undefined) {
      out.push({ kind: 'indicator', name: 'flood_rise_rate', scope: 'device', key: deviceId, time, value: rate, level: g.level ?? 'unknown', details: { levelM, points: g.times.length, windowMs: this.config.riseWindowMs } })
    }
  }

  private levelEvent(deviceId: string, g: Gauge, time: number, levelM: number, extra: Record<string, string | boolean>): IndicatorEvent {
    const details: Record<string, string | number | boolean> = { ...extra }
    if (g.alertLevels !== undefined) { details.alert1M = g.alertLevels[0]; details.alert2M = g.alertLevels[1]; details.alert3M = g.alertLevels[2] }
    const rate = this.rate(g)
    if (rate !== undefined) details.riseRateMPerH = rate
    if (g.implausible > 0) details.implausibleReadings = g.implausible
    return { kind: 'indicator', name: 'flood_level', scope: 'device', key: deviceId, time, value: levelM, level: g.level ?? 'unknown', details }
  }
}

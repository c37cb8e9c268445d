import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { MINUTE_MS, bucketStart, localDate, localDayStart, localMinuteOfDay } from '../shared/time.ts'
import { MonotonicWindow, slopePerHour } from '../shared/windows.ts'
import type { WaterConfig } from './config.ts'

interface NightMeter { area: string | undefined; buckets: Map<number, { sum: number; n: number }> }
interface Night { start: number; end: number; meters: Map<string, NightMeter> }
/** A flow meter as last seen: its area, the sign of its flow in the area's total, its newest flow reading. */
interface NightArea { reported: Map<string, NightMeter>; expected: Set<string> }
interface KnownMeter { area: string | undefined; sign: 1 | -1; directionValid: boolean; lastSeen: number }
interface BurstArea {
  pressure: Map<string, MonotonicWindow>; flow: Map<string, MonotonicWindow>; lastPressure: Map<string, number>; lastFlow: Map<string, number>
  active: boolean
  /** While raised: the onset's event time, and each sensor's pre-burst level (its window maximum pressure, minimum flow at onset). */
  raisedAt: number; baselinePressure: Map<string, number>; baselineFlow: Map<string, number>
}
interface Tank { times: number[]; values: number[]; nextEmit: number; device: DeviceInfo | undefined }

/**
 * Minimum night flow per metered area (leak indicator), burst detection (pressure
 * drop with flow rise) and tank level trends. Groups by metadata `meteredArea`,
 * or the device itself. An area's night flow is the inflow minus the outflow
 * (metadata `flowDirection: out`) summed per bucket, and a bucket counts only when
 * every meter expected in the area reported in it (docs/indicators.md#water).
 */
export class WaterProcessor implements IndicatorProcessor {
  readonly name = 'water'
  get metrics(): readonly string[] { return ['flow', 'pressure', this.config.tankMetric] }
  private readonly nights = new Map<number, Night>()
  private readonly areas = new Map<string, BurstArea>()
  private readonly tanks = new Map<string, Tank>()
  /** Every flow meter seen, for the set a night's area total expects; bounded by the fleet. */
  private readonly flowMeters = new Map<string, KnownMeter>()
  private nightsClosedBefore = -Infinity

  constructor(private readonly config: WaterConfig, private readonly stats: IndicatorStats) {}

  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    if (reading.metric === 'flow') {
      this.nightFlow(reading, device)
      this.burst(reading, device, 'flow', out)
    } else if (reading.metric === 'pressure') {
      this.burst(reading, device, 'pressure', out)
    } else if (reading.metric === this.config.tankMetric) {
      this.tank(reading, device, out)
    }
  }

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
    for (const [dayStart, night] of [...this.nights].sort((a, b) => a[0] - b[0])) {
      if (night.end > watermark) break
      this.closeNight(dayStart, night, out)
      this.nights.delete(dayStart)
      this.nightsClosedBefore = Math.max(this.nightsClosedBefore, night.end)
    }
  }

  private nightFlow(reading: Reading, device: DeviceInfo | undefined): void {
    this.knowMeter(reading, device)
    const { utcOffsetMinutes, nightStartMinute, nightEndMinute } = this.config
    const minute = localMinuteOfDay(reading.time, utcOffsetMinutes)
    if (minute < nightStartMinute || minute >= nightEndMinute) return
    const dayStart = localDayStart(reading.time, utcOffsetMinutes)
    const end = dayStart + nightEndMinute * MINUTE_MS
    if (end <= this.nightsClosedBefore) { this.stats.late++; return }
    let night = this.nights.get(dayStart)
    if (night === undefined) { night = { start: dayStart + nightStartMinute * MINUTE_MS, end, meters: new Map() }; this.nights.set(dayStart, night) }
    let meter = night.meters.get(reading.deviceId)
    if (meter === undefined) { meter = { area: groupOf(device, 'meteredArea'), buckets: new Map() }; night.meters.set(reading.deviceId, meter) }
    const b = bucketStart(reading.time, this.config.nightFlowBucketMs)
    const acc = meter.buckets.get(b)
    if (acc === undefined) meter.buckets.set(b, { sum: reading.value, n: 1 })
    else { acc.sum += reading.value; acc.n++ }
  }

  private knowMeter(reading: Reading, device: DeviceInfo | undefined): void {
    const direction = device?.metadata.flowDirection
    const area = groupOf(device, 'meteredArea')
    const known = this.flowMeters.get(reading.deviceId)
    const lastSeen = Math.max(known?.lastSeen ?? -Infinity, reading.time)
    if (known !== undefined && known.area === area && (direction === 'out') === (known.sign === -1)) { known.lastSeen = lastSeen; return }
    this.flowMeters.set(reading.deviceId, { area, sign: direction === 'out' ? -1 : 1, directionValid: direction === undefined || direction === 'in' || direction === 'out', lastSeen })
  }

  private closeNight(dayStart: number, night: Night, out: IndicatorEvent[]): void {
    const date = localDate(dayStart, this.config.utcOffsetMinutes)
    const areas = new Map<string, NightArea>()
    const areaOf = (name: string): NightArea => {
      let a = areas.get(name)
      if (a === undefined) { a = { reported: new Map(), expected: new Set() }; areas.set(name, a) }
      return a
    }
    for (const [deviceId, meter] of night.meters) {
      let min = Infinity
      let minAt = 0
      for (const [b, acc] of meter.buckets) {
        const mean = acc.sum / acc.n
        if (mean < min) { min = mean; minAt = b }
      }
      out.push({ kind: 'indicator', name: 'night_flow_min', scope: 'device', key: deviceId, time: night.end, value: round3(min), details: { night: date, minAt: new Date(minAt).toISOString() } })
      if (meter.area !== undefined) areaOf(meter.area).reported.set(deviceId, meter)
    }
    // Expected: every meter of the area with a flow reading since `nightFlowMeterExpiryMs` before the night.
    const since = night.start - this.config.nightFlowMeterExpiryMs
    for (const [deviceId, known] of this.flowMeters) {
      // Later nights expect it even less; a new reading brings it back.
      if (known.lastSeen < since) { this.flowMeters.delete(deviceId); continue }
      // An area none of whose meters reported this night emits nothing.
      const a = known.area === undefined ? undefined : areas.get(known.area)
      if (a === undefined) continue
      a.expected.add(deviceId)
    }
    const bucketMs = this.config.nightFlowBucketMs
    const firstBucket = bucketStart(night.start, bucketMs)
    // The area's night flow is the minimum over time of the summed net inflow, not the sum of each meter's minimum.
    for (const [areaName, area] of areas) {
      for (const id of area.reported.keys()) area.expected.add(id)
      let inflowMeters = 0
      for (const id of area.expected) {
        const known = this.flowMeters.get(id)
        if (known?.directionValid === false) this.stats.missingMetadata++
        if (known?.sign === -1) continue
        inflowMeters++
      }
      const missing = new Set<string>()
      let buckets = 0, completeBuckets = 0
      let min = Infinity, minAt = 0
      let partialMin = Infinity, partialMinAt = 0
      for (let b = firstBucket; b < night.end; b += bucketMs) {
        buckets++
        let total = 0
        let reported = 0
        for (const id of area.expected) {
          const acc = area.reported.get(id)?.buckets.get(b)
          if (acc === undefined) { missing.add(id); continue }
          reported++
          total += (this.flowMeters.get(id)?.sign ?? 1) * (acc.sum / acc.n)
        }
        if (reported === 0) continue
        if (reported === area.expected.size) {
          completeBuckets++
          if (total < min) { min = total; minAt = b }
        } else if (total < partialMin) { partialMin = total; partialMinAt = b }
      }
      // Without one complete bucket the value is the smallest partial sum, flagged incomplete.
      if (completeBuckets === 0) { min = partialMin; minAt = partialMinAt }
      const details: Record<string, number | string | boolean> = {
        night: date, minAt: new Date(minAt).toISOString(), meters: area.reported.size,
        complete: completeBuckets === buckets, buckets, completeBuckets, expectedMeters: area.expected.size,
        inflowMeters, outflowMeters: area.expected.size - inflowMeters,
      }
      if (missing.size > 0) details.missingMeters = [...missing].sort().slice(0, MAX_LISTED_METERS).join(',')
      if (!details.complete) this.stats.incompleteNightFlows++
      out.push({ kind: 'indicator', name: 'night_flow_min', scope: 'metered_area', key: areaName, time: night.end, value: round3(min), details })
    }
  }

  private burst(reading: Reading, device: DeviceInfo | undefined, kind: 'pressure' | 'flow', out: IndicatorEvent[]): void {
    const key = groupOf(device, 'meteredArea') ?? reading.deviceId
    const scope = groupOf(device, 'meteredArea') === undefined ? 'device' : 'metered_area'
    let area = this.areas.get(key)
    if (area === undefined) {
      area = { pressure: new Map(), flow: new Map(), lastPressure: new Map(), lastFlow: new Map(), active: false, raisedAt: 0, baselinePressure: new Map(), baselineFlow: new Map() }
      this.areas.set(key, area)
    }
    const windows = kind === 'pressure' ? area.pressure : area.flow
    let w = windows.get(reading.deviceId)
    if (w === undefined) { w = new MonotonicWindow(kind === 'pressure' ? 'max' : 'min'); windows.set(reading.deviceId, w) }
    w.push(reading.time, reading.value)
    ;(kind === 'pressure' ? area.lastPressure : area.lastFlow).set(reading.deviceId, reading.value)
    const since = reading.time - this.config.burstWindowMs
    for (const pw of area.pressure.values()) pw.evict(since)
    for (const fw of area.flow.values()) fw.evict(since)
    if (area.active) this.burstHeld(area, scope, key, reading.time, out)
    else this.burstOnset(area, scope, key, reading.time, out)
  }

  /** Raises when, within the window, a pressure fell more than X % below its maximum and a flow rose more than Z % above its minimum. */
  private burstOnset(area: BurstArea, scope: 'device' | 'metered_area', key: string, time: number, out: IndicatorEvent[]): void {
    const drop = largestChange(area.lastPressure, (id) => area.pressure.get(id)?.value, -1)
    const rise = largestChange(area.lastFlow, (id) => area.flow.get(id)?.value, 1)
    if (!(drop.pct > this.config.burstPressureDropPct && rise.pct > this.config.burstFlowRisePct)) return
    area.active = true
    area.raisedAt = time
    area.baselinePressure.clear()
    area.baselineFlow.clear()
    for (const [id, pw] of area.pressure) if (pw.value !== undefined) area.baselinePressure.set(id, pw.value)
    for (const [id, fw] of area.flow) if (fw.value !== undefined) area.baselineFlow.set(id, fw.value)
    out.push({
      kind: 'indicator', name: 'burst_suspected', scope, key, time, value: 1, level: 'burst',
      details: { pressureDropPct: round1(drop.pct), flowRisePct: round1(rise.pct), baselinePressureBar: round3(drop.baseline), baselineFlowM3h: round3(rise.baseline) },
    })
  }

  /**
   * A raised burst is latched: the window slides over the new level within minutes,
   * so it is held against the pre-burst baseline instead, and clears once the
   * pressure drop or the flow rise against it is back within `burstClearFraction` of X or Z.
   */
  private burstHeld(area: BurstArea, scope: 'device' | 'metered_area', key: string, time: number, out: IndicatorEvent[]): void {
    const drop = largestChange(area.lastPressure, (id) => area.baselinePressure.get(id), -1)
    const rise = largestChange(area.lastFlow, (id) => area.baselineFlow.get(id), 1)
    const f = this.config.burstClearFraction
    if (drop.pct > this.config.burstPressureDropPct * f && rise.pct > this.config.burstFlowRisePct * f) return
    area.active = false
    out.push({
      kind: 'indicator', name: 'burst_suspected', scope, key, time, value: 0, level: 'normal',
      details: {
        pressureDropPct: round1(Math.max(0, drop.pct)), flowRisePct: round1(Math.max(0, rise.pct)),
        baselinePressureBar: round3(drop.baseline), baselineFlowM3h: round3(rise.baseline), raisedAt: new Date(area.raisedAt).toISOString(),
      },
    })
  }

  private tank(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    let tank = this.tanks.get(reading.deviceId)
    if (tank === undefined) {
      tank = { times: [], values: [], nextEmit: bucketStart(reading.time, this.config.tankIntervalMs) + this.config.tankIntervalMs, device }
      this.tanks.set(reading.deviceId, tank)
    }
    const lastTime = tank.times[tank.times.length - 1]
    if (lastTime !== undefined && reading.time <= lastTime) { this.stats.late++; return }
    // Emit for the interval(s) that ended before this reading, on the history up to then.
    if (reading.time >= tank.nextEmit) {
      this.emitTank(reading.deviceId, tank, tank.nextEmit, out)
      tank.nextEmit = bucketStart(reading.time, this.config.tankIntervalMs) + this.config.tankIntervalMs
    }
    tank.times.push(reading.time)
    tank.values.push(reading.value)
    const since = reading.time - this.config.tankWindowMs
    let drop = 0
    while (drop < tank.times.length && tank.times[drop]! < since) drop++
    if (drop > 0) { tank.times.splice(0, drop); tank.values.splice(0, drop) }
  }

  private emitTank(deviceId: string, tank: Tank, time: number, out: IndicatorEvent[]): void {
    const rate = slopePerHour(tank.times, tank.values)
    if (rate === undefined) return
    const level = tank.values[tank.values.length - 1]!
    const meta = tank.device?.metadata ?? {}
    const minLevel = typeof meta.tankMinLevelM === 'number' ? meta.tankMinLevelM : 0
    const maxLevel = typeof meta.tankMaxLevelM === 'number' ? meta.tankMaxLevelM : undefined
    const details: Record<string, number | string | boolean> = { levelM: round3(level), trend: rate < -1e-6 ? 'falling' : rate > 1e-6 ? 'rising' : 'steady' }
    if (rate < 0) details.hoursToEmpty = round1((level - minLevel) / -rate)
    if (rate > 0 && maxLevel !== undefined) details.hoursToFull = round1((maxLevel - level) / rate)
    out.push({ kind: 'indicator', name: 'tank_level_trend', scope: 'device', key: deviceId, time, value: round3(rate), level: String(details.trend), details })
  }
}

/**
 * The largest change, in % of its reference, of a sensor's last value from its
 * reference (window extreme or baseline): `direction` -1 for a fall, 1 for a rise.
 * Sensors without a positive reference are left out; `pct` is -Infinity with none.
 */
function largestChange(last: ReadonlyMap<string, number>, reference: (id: string) => number | undefined, direction: 1 | -1): { pct: number; baseline: number } {
  let pct = -Infinity
  let baseline = 0
  for (const [id, value] of last) {
    const ref = reference(id)
    if (ref === undefined || ref <= 0) continue
    const change = (direction * (value - ref) / ref) * 100
    if (change > pct) { pct = change; baseline = ref }
  }
  return { pct, baseline }
}

/** Meter ids listed in `details.missingMeters` at most. */
const MAX_LISTED_METERS = 20

const round1 = (x: number): number => Math.round(x * 10) / 10
const round3 = (x: number): number => Math.round(x * 1000) / 1000

import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { bucketStart } from '../shared/time.ts'
import type { TrafficConfig } from './config.ts'
import { congestionIndex, levelOfService, losThresholds } from './level-of-service.ts'

/** One detector's report at one time: its speed and its count, paired for the volume weighting. */
interface Row { speed: number | undefined; count: number | undefined }

interface Interval {
  /** Device -> event time -> row; a repeated reading of the same time keeps the first. */
  rows: Map<string, Map<number, Row>>
  occupancySum: number; occupancyN: number
  freeFlowKmh: number | undefined
  scope: 'device' | 'road_segment'
}

/**
 * Level of service and congestion index per road segment (metadata `roadSegment`,
 * or the device itself) per interval, from `avg_speed` against the segment's
 * `freeFlowSpeedKmh` and `occupancy` where reported. Speeds are weighted by the
 * `vehicle_count` reported with them (same device, same time), so the interval's
 * speed is that of the vehicles, not of the reports; without counts, a plain mean.
 * A detector's spot speed is not HCM's segment travel speed (it misses the delay
 * at signals), so the LOS is optimistic on signalised streets (docs/indicators.md#traffic).
 */
export class TrafficProcessor implements IndicatorProcessor {
  readonly name = 'traffic'
  readonly metrics = ['avg_speed', 'occupancy', 'vehicle_count']
  /** Interval start -> segment -> sums. */
  private readonly open = new Map<number, Map<string, Interval>>()
  private closedBefore = -Infinity

  private readonly thresholdsPct: readonly number[]

  constructor(private readonly config: TrafficConfig, private readonly stats: IndicatorStats) {
    this.thresholdsPct = losThresholds(config)
  }

  onReading(reading: Reading, device: DeviceInfo | undefined): void {
    const m = reading.metric
    if (m !== 'avg_speed' && m !== 'occupancy' && m !== 'vehicle_count') return
    const start = bucketStart(reading.time, this.config.intervalMs)
    if (start < this.closedBefore) { this.stats.late++; return }
    const roadSegment = groupOf(device, 'roadSegment')
    const segment = roadSegment ?? reading.deviceId
    let segments = this.open.get(start)
    if (segments === undefined) { segments = new Map(); this.open.set(start, segments) }
    let iv = segments.get(segment)
    if (iv === undefined) {
      iv = { rows: new Map(), occupancySum: 0, occupancyN: 0, freeFlowKmh: undefined, scope: roadSegment === undefined ? 'device' : 'road_segment' }
      segments.set(segment, iv)
    }
    let rows = iv.rows.get(reading.deviceId)
    if (rows === undefined) { rows = new Map(); iv.rows.set(reading.deviceId, rows) }
    const ff = device?.metadata.freeFlowSpeedKmh
    if (typeof ff === 'number' && ff > 0) iv.freeFlowKmh = ff
    if (m === 'occupancy') { iv.occupancySum += reading.value; iv.occupancyN++; return }
    let row = rows.get(reading.time)
    if (row === undefined) { row = { speed: undefined, count: undefined }; rows.set(reading.time, row) }
    if (m === 'avg_speed') row.speed ??= reading.value
    else row.count ??= reading.value
  }

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
    const due = [...this.open.keys()].filter((s) => s + this.config.intervalMs <= watermark).sort((a, b) => a - b)
    for (const start of due) {
      for (const [segment, iv] of this.open.get(start)!) this.closeInterval(start, segment, iv, out)
      this.open.delete(start)
    }
    this.closedBefore = watermark === Infinity ? Infinity : Math.max(this.closedBefore, bucketStart(watermark, this.config.intervalMs))
  }

  private closeInterval(start: number, segment: string, iv: Interval, out: IndicatorEvent[]): void {
    let speedN = 0, speedSum = 0, weightedSum = 0, weight = 0, vehicles = 0, vehicleRows = 0
    let unpaired = false
    for (const rows of iv.rows.values()) {
      for (const row of rows.values()) {
        if (row.count !== undefined) { vehicles += row.count; vehicleRows++ }
        if (row.speed === undefined) continue
        speedN++
        speedSum += row.speed
        if (row.count === undefined) unpaired = true
        else { weightedSum += row.speed * row.count; weight += row.count }
      }
    }
    if (speedN === 0) return
    const occupancy = iv.occupancyN > 0 ? iv.occupancySum / iv.occupancyN : undefined
    // Zero speed with zero vehicles and no occupancy is the absence of a measurement
    // (a dead detector reports it), not a jam; with occupancy a queue stands on the
    // detector: nothing passes, so nothing is counted and no speed is measured.
    if (speedSum === 0 && vehicleRows > 0 && vehicles === 0 && (occupancy === undefined || occupancy <= 0)) return
    if (iv.freeFlowKmh === undefined) { this.stats.missingMetadata++; return }
    // Volume weighting needs every speed paired with its count; a zero total (no vehicle passed) has no weights.
    const volumeWeighted = !unpaired && weight > 0
    const speed = volumeWeighted ? weightedSum / weight : speedSum / speedN
    const speedPct = (speed / iv.freeFlowKmh) * 100
    const los = levelOfService(speedPct, this.thresholdsPct, occupancy, this.config.occupancyJamPct)
    const index = congestionIndex(speed, iv.freeFlowKmh)
    const scope = iv.scope
    const details: Record<string, number | string | boolean> = {
      intervalStart: new Date(start).toISOString(),
      speedKmh: round1(speed), freeFlowSpeedKmh: iv.freeFlowKmh, speedPct: round1(speedPct),
      congested: this.config.congestedLevels.includes(los), devices: iv.rows.size,
    }
    if (occupancy !== undefined) details.occupancyPct = round1(occupancy)
    if (vehicleRows > 0) details.vehicles = vehicles
    details.speedAveraging = volumeWeighted ? 'volume_weighted' : 'arithmetic'
    details.hcmEdition = this.config.losThresholdsPct === undefined ? this.config.hcmEdition : 'custom'
    const time = start + this.config.intervalMs
    out.push({ kind: 'indicator', name: 'traffic_los', scope, key: segment, time, value: round1(speedPct), level: los, details })
    out.push({ kind: 'indicator', name: 'traffic_congestion', scope, key: segment, time, value: Math.round(index * 1000) / 1000, level: los, details })
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

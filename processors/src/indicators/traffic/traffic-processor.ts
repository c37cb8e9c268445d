import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { bucketStart } from '../shared/time.ts'
import type { TrafficConfig } from './config.ts'
import { congestionIndex, levelOfService } from './level-of-service.ts'

interface Interval {
  speedSum: number; speedN: number
  occupancySum: number; occupancyN: number
  vehicles: number; vehicleReadings: number
  devices: Set<string>
  freeFlowKmh: number | undefined
  scope: 'device' | 'road_segment'
}

/**
 * Level of service and congestion index per road segment (metadata `roadSegment`,
 * or the device itself) per interval, from `avg_speed` against the segment's
 * `freeFlowSpeedKmh` and `occupancy` where reported.
 */
export class TrafficProcessor implements IndicatorProcessor {
  readonly name = 'traffic'
  readonly metrics = ['avg_speed', 'occupancy', 'vehicle_count']
  /** Interval start -> segment -> sums. */
  private readonly open = new Map<number, Map<string, Interval>>()
  private closedBefore = -Infinity

  constructor(private readonly config: TrafficConfig, private readonly stats: IndicatorStats) {}

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
      iv = { speedSum: 0, speedN: 0, occupancySum: 0, occupancyN: 0, vehicles: 0, vehicleReadings: 0, devices: new Set(), freeFlowKmh: undefined, scope: roadSegment === undefined ? 'device' : 'road_segment' }
      segments.set(segment, iv)
    }
    iv.devices.add(reading.deviceId)
    const ff = device?.metadata.freeFlowSpeedKmh
    if (typeof ff === 'number' && ff > 0) iv.freeFlowKmh = ff
    if (m === 'avg_speed') { iv.speedSum += reading.value; iv.speedN++ }
    else if (m === 'occupancy') { iv.occupancySum += reading.value; iv.occupancyN++ }
    else { iv.vehicles += reading.value; iv.vehicleReadings++ }
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
    if (iv.speedN === 0) return
    // Zero speed with zero vehicles is the absence of a measurement (a dead detector reports it), not a jam.
    if (iv.speedSum === 0 && iv.vehicleReadings > 0 && iv.vehicles === 0) return
    if (iv.freeFlowKmh === undefined) { this.stats.missingMetadata++; return }
    const speed = iv.speedSum / iv.speedN
    const speedPct = (speed / iv.freeFlowKmh) * 100
    const occupancy = iv.occupancyN > 0 ? iv.occupancySum / iv.occupancyN : undefined
    const los = levelOfService(speedPct, this.config.losThresholdsPct, occupancy, this.config.occupancyJamPct)
    const index = congestionIndex(speed, iv.freeFlowKmh)
    const scope = iv.scope
    const details: Record<string, number | string | boolean> = {
      intervalStart: new Date(start).toISOString(),
      speedKmh: round1(speed), freeFlowSpeedKmh: iv.freeFlowKmh, speedPct: round1(speedPct),
      congested: this.config.congestedLevels.includes(los), devices: iv.devices.size,
    }
    if (occupancy !== undefined) details.occupancyPct = round1(occupancy)
    if (iv.vehicleReadings > 0) details.vehicles = iv.vehicles
    const time = start + this.config.intervalMs
    out.push({ kind: 'indicator', name: 'traffic_los', scope, key: segment, time, value: round1(speedPct), level: los, details })
    out.push({ kind: 'indicator', name: 'traffic_congestion', scope, key: segment, time, value: Math.round(index * 1000) / 1000, level: los, details })
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

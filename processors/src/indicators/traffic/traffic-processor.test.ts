import { describe, expect, test } from 'vitest'
import type { IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { TrafficConfigSchema } from './config.ts'
import { TrafficProcessor } from './traffic-processor.ts'

const MIN = 60_000
const segmentDevice = (id: string) => ({ id, domain: 'traffic', metadata: { roadSegment: 'nguyen-hue-nb', freeFlowSpeedKmh: 50 } })

/** Feeds one detector row (speed, count and, when given, occupancy at one time) to the processor. */
function row(p: TrafficProcessor, device: string, time: number, speed: number, count: number, occupancy?: number): void {
  const d = segmentDevice(device)
  p.onReading(reading(device, 'avg_speed', time, speed, 0, 'traffic'), d)
  p.onReading(reading(device, 'vehicle_count', time, count, 0, 'traffic'), d)
  if (occupancy !== undefined) p.onReading(reading(device, 'occupancy', time, occupancy, 0, 'traffic'), d)
}

function close(p: TrafficProcessor): IndicatorEvent[] {
  const out: IndicatorEvent[] = []
  p.onWatermark(Infinity, out)
  return out
}

describe('traffic level of service', () => {
  test('a queue standing on the detector (speed 0, 0 vehicles, occupancy 95 %) is LOS F, not a missing measurement', () => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({}), createIndicatorStats())
    row(p, 'det-1', 0, 0, 0, 95)
    const los = close(p).find((e) => e.name === 'traffic_los')
    expect(los).toMatchObject({ key: 'nguyen-hue-nb', level: 'F', value: 0, details: { occupancyPct: 95, vehicles: 0, congested: true } })
  })

  test.each([
    ['without occupancy', undefined],
    ['with occupancy 0 %', 0],
  ])('a dead detector (speed 0, 0 vehicles) %s emits nothing', (_label, occupancy) => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({}), createIndicatorStats())
    row(p, 'det-1', 0, 0, 0, occupancy)
    expect(close(p)).toEqual([])
  })

  test('speeds are weighted by volume: a slow lane carrying most vehicles weighs most', () => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({}), createIndicatorStats())
    // Two lane detectors on one segment: 30 vehicles at 20 km/h, 10 at 60 km/h.
    // Volume-weighted mean (20·30 + 60·10) / 40 = 30 km/h = 60 % -> LOS C;
    // the plain mean of the two detectors, 40 km/h = 80 %, would say B.
    row(p, 'det-1', 0, 20, 30)
    row(p, 'det-2', 0, 60, 10)
    const los = close(p).find((e) => e.name === 'traffic_los')!
    expect(los).toMatchObject({ level: 'C', value: 60, details: { speedKmh: 30, vehicles: 40, devices: 2, speedAveraging: 'volume_weighted' } })
  })

  test('without counts the speeds are averaged plainly, and say so', () => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({}), createIndicatorStats())
    const d = segmentDevice('det-1')
    p.onReading(reading('det-1', 'avg_speed', 0, 20, 0, 'traffic'), d)
    p.onReading(reading('det-1', 'avg_speed', MIN, 60, 0, 'traffic'), d)
    const los = close(p).find((e) => e.name === 'traffic_los')!
    expect(los).toMatchObject({ value: 80, details: { speedKmh: 40, speedAveraging: 'arithmetic' } })
  })

  test('a 15-minute interval, as HCM analyses, pools three 5-minute rows by volume', () => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({ intervalMs: 15 * MIN }), createIndicatorStats())
    row(p, 'det-1', 0, 45, 40)
    row(p, 'det-1', 5 * MIN, 15, 100)
    row(p, 'det-1', 10 * MIN, 45, 60)
    // (45·40 + 15·100 + 45·60) / 200 = 30 km/h = 60 % -> C (the plain mean, 35 km/h, 70 %, would be B).
    const events = close(p).filter((e) => e.name === 'traffic_los')
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ time: 15 * MIN, level: 'C', value: 60, details: { vehicles: 200 } })
  })

  test.each([
    ['2010', 82, 'B'],
    ['6th', 82, 'A'],
    ['2010', 86, 'A'],
  ] as const)('HCM %s edition thresholds: %s percent of free flow is LOS %s', (hcmEdition, pct, level) => {
    const p = new TrafficProcessor(TrafficConfigSchema.parse({ hcmEdition }), createIndicatorStats())
    row(p, 'det-1', 0, (pct / 100) * 50, 10)
    const los = close(p).find((e) => e.name === 'traffic_los')!
    expect(los).toMatchObject({ level, details: { hcmEdition } })
  })

  test('explicit thresholds override the edition', () => {
    const config = TrafficConfigSchema.parse({ hcmEdition: '6th', losThresholdsPct: [90, 70, 50, 40, 30] })
    const p = new TrafficProcessor(config, createIndicatorStats())
    row(p, 'det-1', 0, 43, 10) // 86 %
    expect(close(p).find((e) => e.name === 'traffic_los')).toMatchObject({ level: 'B' })
  })
})

import { describe, expect, test } from 'vitest'
import type { DeviceInfo, IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { AirQualityProcessor } from './air-quality-processor.ts'
import { AirQualityConfigSchema } from './config.ts'

const HOUR = 3_600_000
const T0 = Date.UTC(2026, 9, 29, 0, 0, 0)
const STEP = 150_000

/**
 * Feeds (hour index, PM2.5 values every 150 s from the hour's start; null: that reading is
 * missing) and closes every hour; returns the VN hourly events by the hour they end (index).
 */
function run(hours: [number, (number | null)[]][], options: { config?: Record<string, unknown>; metadata?: Record<string, unknown>; stepMs?: number } = {}) {
  const stats = createIndicatorStats()
  const processor = new AirQualityProcessor(AirQualityConfigSchema.parse({ usAqi: false, perDistrict: false, ...options.config }), stats)
  const device: DeviceInfo = { id: 'aq-1', domain: 'environment', metadata: options.metadata ?? {} }
  const out: IndicatorEvent[] = []
  for (const [h, values] of hours) {
    values.forEach((v, i) => { if (v !== null) processor.onReading(reading('aq-1', 'pm25', T0 + h * HOUR + i * (options.stepMs ?? STEP), v), device) })
    processor.onWatermark(T0 + (h + 1) * HOUR, out)
  }
  processor.onWatermark(Infinity, out)
  return { processor, stats, byHourEnd: new Map(out.filter((e) => e.name === 'vn_aqi_hourly').map((e) => [(e.time - T0) / HOUR, e])) }
}

const full = (v: number): number[] => Array(24).fill(v)

describe('air-quality hourly completeness', () => {
  // The Nha Be case: an outage, then an hour with a single 150-second sample.
  const outage: [number, number[]][] = [[0, full(20)], [1, full(20)], [2, full(20)], [3, [300]], [4, full(20)]]

  test('one 150-second sample no longer counts as an hourly mean and dominates NowCast as c1', () => {
    // Former rule (any reading): c1 = 300, c2 = c3 = 20, w* = 0.07 -> w = 1/2:
    // (300 + 10 + 5 + 2.5) / 1.875 = 169.3 µg/m³ -> 200 + 100/100 × 19.3 = VN_AQI 219 (Rất xấu)
    // from one sample in an hour of otherwise clean air.
    const before = run(outage, { config: { hourlyCompletenessPct: 0 } })
    expect(before.byHourEnd.get(4)?.value).toBe(219)
    // 75 % of 24 expected readings = 18: the hour is missing, c2 and c3 remain: NowCast 20 -> 40.
    const after = run(outage)
    expect(after.byHourEnd.get(4)?.value).toBe(40)
    expect(after.byHourEnd.get(4)?.details?.pm25Nowcast).toBe(20)
    expect(after.processor.incompleteHours).toBe(1)
    // The shared stats count it by pollutant, for /metrics (gridline_indicator_incomplete_hours_total).
    expect(after.stats.incompleteHours).toEqual({ pm25: 1 })
  })

  test.each([
    ['inferred from the spacing of readings', {}],
    ['from the registry (reportingIntervalS)', { reportingIntervalS: 150 }],
  ])('18 of 24 readings count, 17 do not (interval %s)', (_name, metadata) => {
    // Hour 2's mean is 200 if it counts: NowCast (200 + 10 + 5) / 1.75 = 122.9 -> 150 + 50/70 × 42.9 = AQI 181.
    const hours = (n: number): [number, number[]][] => [[0, full(20)], [1, full(20)], [2, Array(n).fill(200)]]
    expect(run(hours(18), { metadata }).byHourEnd.get(3)?.value).toBe(181)
    expect(run(hours(17), { metadata }).byHourEnd.get(3)?.value).toBe(40)
  })

  test('the registry interval wins over the spacing: a 60 s device whose readings come every 150 s is incomplete', () => {
    // 60 expected, 45 needed; 24 arrived.
    const r = run([[0, full(20)], [1, full(20)], [2, full(20)]], { metadata: { reportingIntervalS: 60 } })
    expect(r.byHourEnd.size).toBe(0)
    expect(r.processor.incompleteHours).toBe(3)
  })

  test('an hourly device needs its one reading an hour; minReadingsPerHour stays a floor', () => {
    const hourly: [number, number[]][] = [[0, [20]], [1, [20]], [2, [20]], [3, [20]]]
    // Hour 0: the first reading of the device, no interval known yet: completeness cannot be
    // judged and the hour is missing, so hour 1 has c1 only and the first value ends hour 2.
    expect([...run(hourly).byHourEnd.keys()]).toEqual([3, 4])
    expect([...run(hourly, { metadata: { reportingIntervalS: 3600 } }).byHourEnd.keys()]).toEqual([2, 3, 4])
    expect([...run(hourly, { metadata: { reportingIntervalS: 3600 }, config: { minReadingsPerHour: 2 } }).byHourEnd.keys()]).toEqual([])
  })

  test('gaps do not move the inferred interval: it is the median of the last 15 spacings', () => {
    // Hour 1 loses 6 readings (18 left, 7 spacings of 300 s among 17): the median stays 150 s.
    const thinned = full(20).map((v, i) => (i % 4 === 1 ? null : v))
    expect(thinned.filter((v) => v !== null)).toHaveLength(18)
    const r = run([[0, full(20)], [1, thinned], [2, full(20)]])
    // Hour end 1 has c1 only (NowCast needs 2 of c1..c3); hours 1 and 2 count.
    expect([...r.byHourEnd.keys()]).toEqual([2, 3])
    expect(r.processor.incompleteHours).toBe(0)
  })
})

test('a sensor moved to another district (set-metadata) counts in the new one from its next hour', () => {
  const processor = new AirQualityProcessor(AirQualityConfigSchema.parse({ usAqi: false }), createIndicatorStats())
  const out: IndicatorEvent[] = []
  const at = (district: string): DeviceInfo => ({ id: 'aq-1', domain: 'environment', metadata: { district, reportingIntervalS: 150 } })
  // NowCast needs 2 of c1..c3: the first value is the second hour's.
  for (let h = 0; h < 3; h++) {
    for (let i = 0; i < 24; i++) processor.onReading(reading('aq-1', 'pm25', T0 + h * HOUR + i * STEP, 20), at(h < 2 ? 'Hải Châu' : 'Sơn Trà'))
    processor.onWatermark(T0 + (h + 1) * HOUR, out)
  }
  expect(out.filter((e) => e.name === 'vn_aqi_hourly' && e.scope === 'district').map((e) => e.key)).toEqual(['Hải Châu', 'Sơn Trà'])
})

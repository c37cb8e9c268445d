import { describe, expect, test } from 'vitest'
import type { IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { WaterConfigSchema } from './config.ts'
import { WaterProcessor } from './water-processor.ts'

const MIN = 60_000
const meta = (id: string, meteredArea?: string) => ({ id, domain: 'water', metadata: meteredArea === undefined ? {} : { meteredArea } })
// 2026-01-10 00:00 in Ho Chi Minh City (UTC+7).
const LOCAL_MIDNIGHT = Date.parse('2026-01-10T00:00:00+07:00')

describe('water indicators', () => {
  test('minimum night flow per metered area is the minimum of the summed inflow between 02:00 and 04:00', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    // Meter A: 10 m³/h except 8 at 03:00-03:15; meter B: 5 except 4 at 02:15-02:30.
    // Summed 15-minute means: 15 mostly, 14 at 02:15, 13 at 03:00 -> area MNF 13 at 03:00.
    // (The sum of each meter's minimum, 8 + 4 = 12, would understate it.)
    for (let t = LOCAL_MIDNIGHT + 100 * MIN; t < LOCAL_MIDNIGHT + 250 * MIN; t += 5 * MIN) {
      const minute = (t - LOCAL_MIDNIGHT) / MIN
      p.onReading(reading('a', 'flow', t, minute >= 180 && minute < 195 ? 8 : 10, 0, 'water'), meta('a', 'dma-7'), out)
      p.onReading(reading('b', 'flow', t, minute >= 135 && minute < 150 ? 4 : 5, 0, 'water'), meta('b', 'dma-7'), out)
    }
    p.onWatermark(LOCAL_MIDNIGHT + 240 * MIN - 1, out)
    expect(out).toEqual([])
    p.onWatermark(LOCAL_MIDNIGHT + 240 * MIN, out)
    const area = out.find((e) => e.scope === 'metered_area')!
    expect(area).toMatchObject({ name: 'night_flow_min', key: 'dma-7', value: 13, time: LOCAL_MIDNIGHT + 240 * MIN })
    expect(area.details).toMatchObject({ night: '2026-01-10', minAt: new Date(LOCAL_MIDNIGHT + 180 * MIN).toISOString(), meters: 2, complete: true, buckets: 8, completeBuckets: 8 })
    expect(out.filter((e) => e.scope === 'device').map((e) => [e.key, e.value])).toEqual([['a', 8], ['b', 4]])
  })

  test('a meter silent for 15 minutes does not lower the area minimum: the bucket is incomplete and left out', () => {
    const stats = createIndicatorStats()
    const p = new WaterProcessor(WaterConfigSchema.parse({}), stats)
    const out: IndicatorEvent[] = []
    // Two constant 10 m³/h meters every 5 min from 01:40; b silent 02:30-02:45.
    // Summing what came would give 10 at 02:30 (a dropout reading as a 10 m³/h drop in leakage).
    for (let t = LOCAL_MIDNIGHT + 100 * MIN; t < LOCAL_MIDNIGHT + 250 * MIN; t += 5 * MIN) {
      const minute = (t - LOCAL_MIDNIGHT) / MIN
      p.onReading(reading('a', 'flow', t, 10, 0, 'water'), meta('a', 'dma-7'), out)
      if (minute < 150 || minute >= 165) p.onReading(reading('b', 'flow', t, 10, 0, 'water'), meta('b', 'dma-7'), out)
    }
    p.onWatermark(LOCAL_MIDNIGHT + 240 * MIN, out)
    const area = out.find((e) => e.scope === 'metered_area')!
    expect(area).toMatchObject({ name: 'night_flow_min', key: 'dma-7', value: 20 })
    expect(area.details).toMatchObject({ complete: false, buckets: 8, completeBuckets: 7, expectedMeters: 2, missingMeters: 'b', meters: 2 })
    // Counted for /metrics (gridline_indicator_night_flow_incomplete_total); the meters' own values have no completeness.
    expect(stats.incompleteNightFlows).toBe(1)
  })

  test('a meter of the area that reported before the night but not during it leaves no complete bucket', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    for (let t = LOCAL_MIDNIGHT; t < LOCAL_MIDNIGHT + 60 * MIN; t += 5 * MIN) p.onReading(reading('b', 'flow', t, 10, 0, 'water'), meta('b', 'dma-7'), out)
    for (let t = LOCAL_MIDNIGHT; t < LOCAL_MIDNIGHT + 250 * MIN; t += 5 * MIN) p.onReading(reading('a', 'flow', t, 10, 0, 'water'), meta('a', 'dma-7'), out)
    p.onWatermark(LOCAL_MIDNIGHT + 240 * MIN, out)
    const area = out.find((e) => e.scope === 'metered_area')!
    // The value is then the smallest partial sum, flagged: not comparable with complete nights.
    expect(area).toMatchObject({ value: 10, details: { complete: false, completeBuckets: 0, buckets: 8, expectedMeters: 2, missingMeters: 'b', meters: 1 } })
  })

  test('an outflow meter (flowDirection: out) is subtracted from the area total', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const outMeta = { id: 'o', domain: 'water', metadata: { meteredArea: 'dma-7', flowDirection: 'out' as const } }
    for (let t = LOCAL_MIDNIGHT + 120 * MIN; t < LOCAL_MIDNIGHT + 240 * MIN; t += 5 * MIN) {
      const minute = (t - LOCAL_MIDNIGHT) / MIN
      p.onReading(reading('i', 'flow', t, 30, 0, 'water'), { id: 'i', domain: 'water', metadata: { meteredArea: 'dma-7', flowDirection: 'in' as const } }, out)
      // Export to the next DMA: 12 m³/h, 15 at 03:00-03:15 (the area's own use is lowest then: 15).
      p.onReading(reading('o', 'flow', t, minute >= 180 && minute < 195 ? 15 : 12, 0, 'water'), outMeta, out)
    }
    p.onWatermark(LOCAL_MIDNIGHT + 240 * MIN, out)
    const area = out.find((e) => e.scope === 'metered_area')!
    expect(area).toMatchObject({ value: 15, details: { complete: true, inflowMeters: 1, outflowMeters: 1, minAt: new Date(LOCAL_MIDNIGHT + 180 * MIN).toISOString() } })
    // The meter's own night flow keeps its sign: what it measures.
    expect(out.find((e) => e.scope === 'device' && e.key === 'o')).toMatchObject({ value: 12 })
  })

  test('a burst is a pressure drop beyond X % with a flow rise beyond Z % within Y minutes, raised once and cleared', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({ burstPressureDropPct: 20, burstFlowRisePct: 30, burstWindowMs: 10 * MIN }), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const t0 = LOCAL_MIDNIGHT
    p.onReading(reading('p1', 'pressure', t0, 4.0, 0, 'water'), meta('p1', 'dma-7'), out)
    p.onReading(reading('f1', 'flow', t0, 100, 0, 'water'), meta('f1', 'dma-7'), out)
    // Pressure -25 % alone: no burst.
    p.onReading(reading('p1', 'pressure', t0 + 2 * MIN, 3.0, 0, 'water'), meta('p1', 'dma-7'), out)
    expect(out).toEqual([])
    // Flow +50 % within the window: burst.
    p.onReading(reading('f1', 'flow', t0 + 3 * MIN, 150, 0, 'water'), meta('f1', 'dma-7'), out)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ name: 'burst_suspected', scope: 'metered_area', key: 'dma-7', value: 1, level: 'burst', details: { pressureDropPct: 25, flowRisePct: 50 } })
    // Still low pressure, high flow: no second event.
    p.onReading(reading('f1', 'flow', t0 + 4 * MIN, 150, 0, 'water'), meta('f1', 'dma-7'), out)
    expect(out).toHaveLength(1)
    // Ten minutes on, the old high pressure and low flow left the window, but the pipe is still burst: latched.
    p.onReading(reading('p1', 'pressure', t0 + 14 * MIN, 3.0, 0, 'water'), meta('p1', 'dma-7'), out)
    expect(out).toHaveLength(1)
    // Flow back to its pre-burst level (the burst isolated): cleared.
    p.onReading(reading('f1', 'flow', t0 + 20 * MIN, 105, 0, 'water'), meta('f1', 'dma-7'), out)
    expect(out).toHaveLength(2)
    expect(out[1]).toMatchObject({ name: 'burst_suspected', value: 0, level: 'normal', details: { flowRisePct: 5, raisedAt: new Date(t0 + 3 * MIN).toISOString() } })
  })

  test('a held burst (4.0 -> 2.5 bar, 100 -> 150 m³/h, staying there) stays raised until the level returns towards the pre-burst baseline', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const t0 = LOCAL_MIDNIGHT
    const at = (minute: number, bar: number, m3h: number): void => {
      p.onReading(reading('p1', 'pressure', t0 + minute * MIN, bar, 0, 'water'), meta('p1', 'dma-7'), out)
      p.onReading(reading('f1', 'flow', t0 + minute * MIN, m3h, 0, 'water'), meta('f1', 'dma-7'), out)
    }
    for (let m = 0; m < 20; m++) at(m, 4.0, 100)
    // The burst at minute 20, held for two hours: raised once, never cleared.
    for (let m = 20; m < 140; m++) at(m, 2.5, 150)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ value: 1, level: 'burst', time: t0 + 20 * MIN, details: { pressureDropPct: 37.5, flowRisePct: 50, baselinePressureBar: 4, baselineFlowM3h: 100 } })
    // Partly repaired: 3.5 bar (12.5 % below the baseline) and 125 m³/h (25 % above), still more than half of X and Z: held.
    for (let m = 140; m < 150; m++) at(m, 3.5, 125)
    expect(out).toHaveLength(1)
    // Pressure back within half of X (10 %) of the baseline: cleared on that reading (the flow, 125, not yet read), once.
    for (let m = 150; m < 170; m++) at(m, 3.8, 110)
    expect(out).toHaveLength(2)
    expect(out[1]).toMatchObject({ value: 0, level: 'normal', time: t0 + 150 * MIN, details: { pressureDropPct: 5, flowRisePct: 25, raisedAt: new Date(t0 + 20 * MIN).toISOString() } })
  })

  test('tank level trend: slope in m/h and hours to empty', () => {
    const p = new WaterProcessor(WaterConfigSchema.parse({ tankIntervalMs: 15 * MIN }), createIndicatorStats())
    const out: IndicatorEvent[] = []
    // 6 m falling 0.5 m/h, a reading every 5 min from 00:00 to 00:15.
    for (let i = 0; i <= 3; i++) p.onReading(reading('tank-1', 'level', LOCAL_MIDNIGHT + i * 5 * MIN, 6 - (0.5 * i * 5) / 60, 0, 'water'), { id: 'tank-1', domain: 'water', metadata: { tankMaxLevelM: 8 } }, out)
    // The 00:15 reading closes the 00:00-00:15 interval with the three readings before it: slope -0.5 m/h, level 5.917 m -> 11.8 h to empty.
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ name: 'tank_level_trend', key: 'tank-1', value: -0.5, level: 'falling', time: LOCAL_MIDNIGHT + 15 * MIN })
    expect(out[0]!.details!.hoursToEmpty).toBeCloseTo(11.8, 1)
  })
})

import { describe, expect, test } from 'vitest'
import type { IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { FloodConfigSchema } from './config.ts'
import { floodLevelName } from './flood-level.ts'
import { FloodProcessor } from './flood-processor.ts'

const MIN = 60_000

describe('flood indicators', () => {
  test.each([
    [0.9, 'normal'], [1.0, 'alert_1'], [2.5, 'alert_2'], [3.0, 'alert_3'], [4.2, 'alert_3'],
  ])('level %d m against [1, 2, 3] is %s', (level, name) => {
    expect(floodLevelName(level, [1, 2, 3])).toBe(name)
  })

  test('river gauge without confirmation: level changes at once, level and rise rate every interval', () => {
    const stats = createIndicatorStats()
    const p = new FloodProcessor(FloodConfigSchema.parse({ intervalMs: 15 * MIN, riseWindowMs: 60 * MIN, riseMinPoints: 2, alertConfirmReadings: 1 }), stats)
    const out: IndicatorEvent[] = []
    const gauge = { id: 'han-river', domain: 'environment', metadata: { gauge: 'river' as const, alertLevelsM: [1.5, 2.5, 3.5] } }
    const t0 = Date.parse('2026-11-01T00:00:00Z')
    // Rising 0.6 m/h: 0.1 m every 10 minutes from 1.2 m.
    for (let i = 0; i <= 4; i++) p.onReading(reading('han-river', 'water_level', t0 + i * 10 * MIN, 1.2 + 0.1 * i), gauge, out)
    const names = out.map((e) => [e.name, e.level, e.time])
    expect(names).toEqual([
      // 1.5 m at 00:30 crosses báo động I.
      // 00:20 reading closes 00:00-00:15 (2 points); 00:30 closes 00:15-00:30 before the level change at 00:30.
      ['flood_level', 'normal', t0 + 15 * MIN],
      ['flood_rise_rate', 'normal', t0 + 15 * MIN],
      ['flood_level', 'normal', t0 + 30 * MIN],
      ['flood_rise_rate', 'normal', t0 + 30 * MIN],
      ['flood_level', 'alert_1', t0 + 30 * MIN],
    ])
    expect(out[1]!.value).toBeCloseTo(0.6, 6)
    expect(out[4]!.details).toMatchObject({ change: true, previous: 'normal', alert1M: 1.5 })
  })

  test('a river gauge without alert levels is unknown and counted', () => {
    const stats = createIndicatorStats()
    const p = new FloodProcessor(FloodConfigSchema.parse({}), stats)
    const out: IndicatorEvent[] = []
    p.onReading(reading('g', 'water_level', 0, 2), { id: 'g', domain: 'environment', metadata: { gauge: 'river' } }, out)
    expect(out[0]).toMatchObject({ level: 'unknown' })
    expect(stats.missingMetadata).toBe(1)
  })
})

/** Deterministic noise in [-amp, +amp] (a fixed LCG: the same sequence on every run). */
function noise(seed: number, amp: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return ((s / 2 ** 32) * 2 - 1) * amp
  }
}

const street = { id: 'flood-street-01', domain: 'environment', metadata: { gauge: 'street' as const } }

describe('issue 19: flood faults', () => {
  const T0 = Date.parse('2026-11-01T10:00:00+07:00')
  const changes = (out: IndicatorEvent[]) => out.filter((e) => e.name === 'flood_level' && e.details?.change === true).map((e) => e.level)

  test('±1 cm of noise around the 0.30 m alert level changes the level once, not on every reading', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const n = noise(7, 0.01)
    // Water stands at 0.25 m, then rises to hover at 0.30 m ± 1 cm for an hour (one reading a minute).
    for (let i = 0; i < 10; i++) p.onReading(reading(street.id, 'water_level', T0 + i * MIN, 0.25 + n()), street, out)
    for (let i = 10; i < 70; i++) p.onReading(reading(street.id, 'water_level', T0 + i * MIN, 0.30 + n()), street, out)
    expect(changes(out)).toEqual(['alert_1', 'alert_2'])
  })

  test('one implausible 0.62 m reading raises nothing; a jump the next reading confirms is accepted', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const levels = [0.05, 0.05, 0.06, 0.62, 0.06, 0.05, 0.05]
    levels.forEach((v, i) => p.onReading(reading(street.id, 'water_level', T0 + i * MIN, v), street, out))
    expect(changes(out)).toEqual([])
    expect(p.implausibleReadings).toBe(1)
    // A real surge: 0.05 -> 0.60 m and staying there is confirmed by the next reading.
    ;[0.60, 0.61, 0.61].forEach((v, i) => p.onReading(reading(street.id, 'water_level', T0 + (10 + i) * MIN, v), street, out))
    expect(changes(out)).toEqual(['alert_3'])
  })

  test('a steady fast rise with readings further apart than the plausible step is accepted, not dropped reading by reading', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    // A river gauge reporting every 5 minutes through a 3.6 m/h flood wave: 0.3 m a reading.
    const river = { id: 'han-river', domain: 'environment', metadata: { gauge: 'river' as const, alertLevelsM: [1.5, 2.5, 3.5] } }
    for (let i = 0; i <= 11; i++) p.onReading(reading(river.id, 'water_level', T0 + i * 5 * MIN, 1.0 + 0.3 * i), river, out)
    expect(p.implausibleReadings).toBe(0)
    expect(changes(out)).toEqual(['alert_1', 'alert_2', 'alert_3'])
  })

  test('a real 1.8 m/h rise with ±1 cm noise shows close to 1.8 m/h by the time 0.27 m stands on the street', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const n = noise(11, 0.01)
    // Dry for an hour, then 1.8 m/h (3 cm a minute) from 11:00: 0.27 m at 11:09.
    const onset = T0 + 60 * MIN
    let rateAt027: number | undefined
    for (let i = 0; i <= 70; i++) {
      const t = T0 + i * MIN
      const depth = Math.max(0, (1.8 * (t - onset)) / 3_600_000)
      p.onReading(reading(street.id, 'water_level', t, depth === 0 ? 0 : Math.max(0, depth + n())), street, out)
      if (t === onset + 9 * MIN) rateAt027 = p.riseRate(street.id)
    }
    // A one-hour least-squares slope shows 0.11-0.12 m/h here (the 0.121).
    expect(rateAt027).toBeGreaterThan(1.5)
    expect(rateAt027).toBeLessThan(2.1)
    // The periodic rate is emitted every 5 minutes: the 11:10 event already shows the rise.
    const at1110 = out.find((e) => e.name === 'flood_rise_rate' && e.time === onset + 10 * MIN)
    expect(at1110?.value).toBeGreaterThan(1.5)
  })

  test('a gauge that stops reporting during rain raises flood_gauge_stale, and clears when it reports', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const rainGauge = { id: 'rain-01', domain: 'environment', metadata: {} }
    p.onReading(reading(street.id, 'water_level', T0, 0.02), street, out)
    // It keeps raining (another device's rainfall, mm/h), the gauge sends nothing more.
    for (let i = 1; i <= 30; i++) {
      p.onReading(reading('rain-01', 'rainfall', T0 + i * MIN, 12), rainGauge, out)
      p.onWatermark(T0 + i * MIN - 2 * MIN, out)
    }
    const stale = out.filter((e) => e.name === 'flood_gauge_stale')
    expect(stale).toHaveLength(1)
    expect(stale[0]).toMatchObject({ key: street.id, value: 1, level: 'stale', details: { reason: 'rain' } })
    expect(stale[0]!.time).toBeGreaterThanOrEqual(T0 + 15 * MIN)
    p.onReading(reading(street.id, 'water_level', T0 + 31 * MIN, 0.04), street, out)
    expect(out.filter((e) => e.name === 'flood_gauge_stale').at(-1)).toMatchObject({ value: 0, level: 'ok' })
  })

  describe('rain is matched to a gauge by its district', () => {
    const gauge = (id: string, district?: string) => ({ id, domain: 'environment', metadata: district === undefined ? { gauge: 'street' as const } : { gauge: 'street' as const, district } })
    const rain = (id: string, district?: string) => ({ id, domain: 'environment', metadata: district === undefined ? {} : { district } })
    /** Each flood gauge reports once at T0, then only the rain gauges report, every minute for 30 minutes. */
    const staleAfterRain = (gauges: ReturnType<typeof gauge>[], rainGauges: ReturnType<typeof rain>[]) => {
      const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
      const out: IndicatorEvent[] = []
      for (const g of gauges) p.onReading(reading(g.id, 'water_level', T0, 0.02), g, out)
      for (let i = 1; i <= 30; i++) {
        for (const r of rainGauges) p.onReading(reading(r.id, 'rainfall', T0 + i * MIN, 8), r, out)
        p.onWatermark(T0 + i * MIN - 2 * MIN, out)
      }
      return out.filter((e) => e.name === 'flood_gauge_stale')
    }

    test.each([
      ['Hải Châu', 'Hải Châu'],
      ['Hải Châu', 'hai-chau'],
      ['hai-chau', 'Hai Chau'],
      ['HẢI CHÂU', 'hai chau'],
    ])('rain in %j raises a stale alarm for a silent gauge in %j', (rainDistrict, gaugeDistrict) => {
      const stale = staleAfterRain([gauge('flood-hc-01', gaugeDistrict)], [rain('rain-hc', rainDistrict)])
      expect(stale).toMatchObject([{ key: 'flood-hc-01', value: 1, details: { reason: 'rain', district: gaugeDistrict } }])
    })

    test('rain in another district does not make a silent gauge stale; rain in its own does', () => {
      const stale = staleAfterRain([gauge('flood-hc-01', 'Hải Châu'), gauge('flood-st-01', 'Sơn Trà')], [rain('rain-st', 'son-tra')])
      expect(stale.map((e) => e.key)).toEqual(['flood-st-01'])
      expect(stale[0]!.details).toMatchObject({ reason: 'rain', district: 'Sơn Trà' })
    })

    test('a rain gauge without a district counts for every gauge; a gauge without a district hears rain anywhere', () => {
      expect(staleAfterRain([gauge('flood-hc-01', 'Hải Châu')], [rain('rain-city')]).map((e) => e.key)).toEqual(['flood-hc-01'])
      expect(staleAfterRain([gauge('flood-x')], [rain('rain-st', 'Sơn Trà')]).map((e) => e.key)).toEqual(['flood-x'])
    })

    test('a gauge moved to another district (set-metadata) is matched by its new one', () => {
      const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
      const out: IndicatorEvent[] = []
      p.onReading(reading('flood-01', 'water_level', T0, 0.02), gauge('flood-01', 'Hải Châu'), out)
      p.onReading(reading('flood-01', 'water_level', T0 + MIN, 0.02), gauge('flood-01', 'Sơn Trà'), out)
      for (let i = 2; i <= 30; i++) {
        p.onReading(reading('rain-hc', 'rainfall', T0 + i * MIN, 8), rain('rain-hc', 'Hải Châu'), out)
        p.onWatermark(T0 + i * MIN - 2 * MIN, out)
      }
      expect(out.filter((e) => e.name === 'flood_gauge_stale')).toEqual([])
    })
  })

  test('a silent gauge at an alert level is stale without rain; a silent dry gauge in dry weather is not', () => {
    const p = new FloodProcessor(FloodConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const dry = { id: 'flood-street-02', domain: 'environment', metadata: { gauge: 'street' as const } }
    for (let i = 0; i < 3; i++) {
      p.onReading(reading(street.id, 'water_level', T0 + i * MIN, 0.35), street, out)
      p.onReading(reading(dry.id, 'water_level', T0 + i * MIN, 0), dry, out)
    }
    p.onWatermark(T0 + 60 * MIN, out)
    const stale = out.filter((e) => e.name === 'flood_gauge_stale')
    expect(stale.map((e) => [e.key, e.details?.reason])).toEqual([[street.id, 'alert']])
    // The input ending is not silence.
    p.onWatermark(Infinity, out)
    expect(out.filter((e) => e.name === 'flood_gauge_stale')).toHaveLength(1)
  })
})

test('alert levels set on a running gauge (set-metadata) count from its next reading', () => {
  const p = new FloodProcessor(FloodConfigSchema.parse({ alertConfirmReadings: 1 }), createIndicatorStats())
  const out: IndicatorEvent[] = []
  const t0 = Date.parse('2026-11-01T00:00:00Z')
  p.onReading(reading('han', 'water_level', t0, 2.0), { id: 'han', domain: 'environment', metadata: { gauge: 'river' } }, out)
  p.onReading(reading('han', 'water_level', t0 + MIN, 2.0), { id: 'han', domain: 'environment', metadata: { gauge: 'river', alertLevelsM: [1.5, 2.5, 3.5] } }, out)
  expect(out.filter((e) => e.details?.change === true).map((e) => e.level)).toEqual(['unknown', 'alert_1'])
})

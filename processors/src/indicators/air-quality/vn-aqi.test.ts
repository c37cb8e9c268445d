import { describe, expect, test } from 'vitest'
import { maxEightHourMean, vnAqiDaily, vnAqiHourly, vnNowcast, vnSubIndex } from './vn-aqi.ts'

// Every expected value below is worked by hand from Table 2 ("Bảng 2") of
// Decision 1459/QĐ-TCMT: concentration -> bracket [BPi, BPi+1] with levels
// [Ii, Ii+1] -> (Ii+1 - Ii)/(BPi+1 - BPi) × (C - BPi) + Ii -> rounded.

describe('VN_AQI sub-indices (Table 2)', () => {
  test.each([
    // PM2.5 20.3: bracket 0-25 (0-50): 50/25 × 20.3 = 40.6 -> 41 (the decision's own example, 2.3 b)
    ['pm25', 20.3, 41],
    // PM2.5 25: top of 0-25 -> exactly 50 (an EPA-table program would say 81 here)
    ['pm25', 25, 50],
    // PM2.5 25.5: bracket 25-50 (50-100): 50 + 50/25 × 0.5 = 51
    ['pm25', 25.5, 51],
    // PM2.5 55.7: bracket 50-80 (100-150): 100 + 50/30 × 5.7 = 109.5 -> 110 (decision 2.3 c)
    ['pm25', 55.7, 110],
    // PM2.5 65: 100 + 50/30 × 15 = 125
    ['pm25', 65, 125],
    // PM10 400: bracket 350-420 (200-300): 200 + 100/70 × 50 = 271.43 -> 271
    ['pm10', 400, 271],
    // O3 1h 136.1: bracket 0-160 (0-50): 50/160 × 136.1 = 42.53 -> 43 (decision 2.3 b)
    ['o3_1h', 136.1, 43],
    // O3 8h 89.3: bracket 0-100 (0-50): 44.65 -> 45 (decision 2.3 c)
    ['o3_8h', 89.3, 45],
    // NO2 130.8: bracket 100-200 (50-100): 50 + 0.5 × 30.8 = 65.4 -> 65 (decision 2.3 c)
    ['no2', 130.8, 65],
    // SO2 600: bracket 550-800 (150-200): 150 + 50/250 × 50 = 160
    ['so2', 600, 160],
    // CO 12 mg/m³ = 12 000 µg/m³: bracket 10 000-30 000 (50-100): 50 + 50/20 000 × 2 000 = 55
    ['co', 12_000, 55],
  ] as const)('%s at %d µg/m³ gives %d', (table, c, expected) => {
    expect(Math.floor(vnSubIndex(table, c)! + 0.5)).toBe(expected)
  })

  test('a value above the table is capped at 500 and marked', () => {
    const r = vnAqiHourly({ pm25Nowcast: 600 })!
    expect(r.value).toBe(500)
    expect(r.aboveScale).toBe(true)
    expect(r.band.key).toBe('hazardous')
  })

  test('a negative concentration has no sub-index', () => {
    expect(vnSubIndex('pm25', -1)).toBeUndefined()
  })
})

describe('VN_AQI NowCast (2.2.1 a)', () => {
  // The decision's worked example (2.3 a): PM2.5 from 09:00 to 20:00, c1 = 20:00.
  const example = [20.6, 19.6, 22.4, 20.3, 16.5, 19.0, 16.5, 19.5, 23.5, 20.5, 24.7, 26.9]

  test('reproduces the decision\'s example: w* = 16.5/26.9 = 0.61 > 0.5, NowCast = 20.3', () => {
    expect(vnNowcast(example)!).toBeCloseTo(20.3, 1)
  })

  test('w* <= 1/2 takes w = 1/2', () => {
    // c = 10, 40, 20: w* = 0.25 -> w = 0.5: (10 + 0.5·40 + 0.25·20) / (1 + 0.5 + 0.25) = 35 / 1.75 = 20
    expect(vnNowcast([10, 40, 20])).toBeCloseTo(20, 10)
    // The literal form Σ (1/2)^i·ci = 5 + 10 + 2.5 = 17.5
    expect(vnNowcast([10, 40, 20], { literalHalfWeight: true })).toBeCloseTo(17.5, 10)
  })

  test('the literal w = 1/2 form applies the missing-hour rule too; the normalised one (gridline\'s choice) also rescales', () => {
    // c2 missing, w* = 20/40 = 1/2: the decision drops c2's term, Σ (1/2)^i·ci over i = 1, 3:
    // 0.5·20 + 0.125·40 = 15, below every hour present (its weights sum to 0.625, not 1).
    // Normalised by the weights present: (20 + 0.25·40) / (1 + 0.25) = 24. Neither contradicts the
    // missing-hour rule; they differ in whether the remaining weights are rescaled to sum to 1.
    expect(vnNowcast([20, undefined, 40], { literalHalfWeight: true })).toBeCloseTo(15, 10)
    expect(vnNowcast([20, undefined, 40])).toBeCloseTo(24, 10)
  })

  test('with all 12 hours the literal and normalised forms differ by under 0.03 %', () => {
    const hours = [10, 40, 20, 30, 10, 40, 20, 30, 10, 40, 20, 30]
    const normalised = vnNowcast(hours)!
    const literal = vnNowcast(hours, { literalHalfWeight: true })!
    expect(Math.abs(normalised - literal) / normalised).toBeLessThan(3e-4)
  })

  test('needs 2 of c1, c2, c3; a missing hour gets weight 0', () => {
    expect(vnNowcast([undefined, undefined, 30, 30, 30])).toBeUndefined()
    expect(vnNowcast([30, undefined, undefined, 30])).toBeUndefined()
    // c1 missing, c2 = 30, c3 = 30: w = 1 -> mean of the hours present = 30
    expect(vnNowcast([undefined, 30, 30])).toBe(30)
    // c2 missing: (20 + w²·22) / (1 + w²), w = 20/22: 20 + 0.8264·22 = 38.18 / 1.8264 = 20.905
    expect(vnNowcast([20, undefined, 22])).toBeCloseTo(20.905, 3)
  })

  test('steady air gives its own concentration; all zeros give zero', () => {
    expect(vnNowcast(Array(12).fill(30))).toBeCloseTo(30, 10)
    expect(vnNowcast(Array(12).fill(0))).toBe(0)
  })
})

describe('VN_AQI composite', () => {
  test('hourly example (2.3 b): O3 43, NO2 59.35, PM2.5 41 -> 59 and NO2 dominates', () => {
    // The decision prints AQI(NO2) = 60, but (100-50)/(200-100) × (118.7-100) + 50 = 59.35,
    // which rounds to 59; no rounding rule makes every example in 2.3 agree, so we
    // apply "rounded to an integer" and document the printed 60 as an arithmetic slip.
    const r = vnAqiHourly({ o3: 136.1, no2: 118.7, pm25Nowcast: 20.3 })!
    expect(r.value).toBe(59)
    expect(r.dominant).toBe('no2')
    expect(r.band).toMatchObject({ key: 'moderate', label: 'Trung bình', colour: 'yellow' })
    expect(r.subIndices.pm25).toBeCloseTo(40.6, 10)
  })

  test('daily example (2.3 c): O3 max(45, 36), NO2 65, PM2.5 110 -> 110 (Kém, orange)', () => {
    const r = vnAqiDaily({ o3Max8h: 89.3, o3Max1h: 114.6, no2Max1h: 130.8, pm25Mean24h: 55.7 })!
    expect(r.value).toBe(110)
    expect(r.dominant).toBe('pm25')
    expect(r.band).toMatchObject({ key: 'poor', label: 'Kém', colour: 'orange', rgb: '255;126;0' })
    expect(Math.round(r.subIndices.o3!)).toBe(45)
  })

  test('daily O3: an 8-hour maximum above 400 µg/m³ is left out, the 1-hour one decides', () => {
    // O3 1h 500: bracket 400-800 (200-300): 200 + 100/400 × 100 = 225. 8h 450 ignored.
    const r = vnAqiDaily({ pm25Mean24h: 10, o3Max8h: 450, o3Max1h: 500 })!
    expect(r.value).toBe(225)
    expect(r.dominant).toBe('o3')
  })

  test('CO is taken in mg/m³ and converted to µg/m³', () => {
    // 35 mg/m³ = 35 000 µg/m³: bracket 30 000-45 000 (100-150): 100 + 50/15 000 × 5 000 = 116.67 -> 117
    expect(vnAqiHourly({ pm25Nowcast: 5, coMgM3: 35 })!.value).toBe(117)
  })

  test('no AQI without PM2.5 or PM10 [2.1 b]', () => {
    expect(vnAqiHourly({ o3: 200, no2: 300 })).toBeUndefined()
    expect(vnAqiDaily({ o3Max1h: 200 })).toBeUndefined()
  })

  test.each([
    [50, 'good', 'green'], [51, 'moderate', 'yellow'], [150, 'poor', 'orange'],
    [151, 'bad', 'red'], [300, 'very_bad', 'purple'], [301, 'hazardous', 'maroon'],
  ])('AQI %d is band %s (%s)', (pm25Index, key, colour) => {
    // Invert the PM2.5 table to hit the exact index: PM2.5 0-25 maps 0-50 etc.
    const c = [[0, 0], [50, 25], [100, 50], [150, 80], [200, 150], [300, 250], [400, 350], [500, 500]]
    let conc = 0
    for (let i = 0; i + 1 < c.length; i++) {
      const [i0, c0] = c[i]!; const [i1, c1] = c[i + 1]!
      if (pm25Index <= i1!) { conc = c0! + ((pm25Index - i0!) * (c1! - c0!)) / (i1! - i0!); break }
    }
    const r = vnAqiHourly({ pm25Nowcast: conc })!
    expect(r.value).toBe(pm25Index)
    expect(r.band.key).toBe(key)
    expect(r.band.colour).toBe(colour)
  })
})

describe('8-hour O3 means', () => {
  test('reproduces the decision\'s example: largest 8-hour mean of the day 74.4', () => {
    // Hourly O3 from 18:00 the day before to 00:00 (31 values), decision 2.2.2 a.
    const o3 = [15.7, 14.2, 17.7, 18.9, 19.3, 15.7, 19.7, 22.6, 27.1, 29.0, 31.9, 25.3, 34.7, 35.2, 41.6, 45.7,
      49.2, 55.8, 69.6, 78.3, 91.5, 97.7, 81.2, 71.8, 43.5, 34.3, 21.5, 20.5, 19.4, 20.4, 21.3]
    // The 8-hour mean ending 17:00 covers 10:00..17:00: (49.2+55.8+69.6+78.3+91.5+97.7+81.2+71.8)/8 = 74.39
    expect(maxEightHourMean(o3)!).toBeCloseTo(74.39, 2)
  })
})

import { describe, expect, test } from 'vitest'
import { MOLAR_MASS_G, usAqi, usNowcast } from './us-aqi.ts'

// Worked by hand from the EPA Technical Assistance Document (EPA-454/B-24-002, 2024), Table 6:
// truncate -> bracket [BPlo, BPhi] with [Ilo, Ihi] -> (Ihi-Ilo)/(BPhi-BPlo) × (C-BPlo) + Ilo -> round.

const ppmO3ToUg = (ppm: number): number => (ppm * 1000 * MOLAR_MASS_G.o3) / 24.45

describe('US EPA AQI', () => {
  test.each([
    // 9.0 is the top of Good since the 2024 revision -> 50
    [9.0, 50],
    // 12.0: 9.1-35.4 (51-100): 51 + 49/26.3 × 2.9 = 56.40 -> 56 (was 50 before 2024)
    [12.0, 56],
    // 25.0: 51 + 49/26.3 × 15.9 = 80.62 -> 81 (VN_AQI gives 50 for the same air)
    [25.0, 81],
    // 35.46 truncates to 35.4 -> top of Moderate, 100
    [35.46, 100],
    // 35.5: bottom of USG -> 101
    [35.5, 101],
    // 150: 125.5-225.4 (201-300): 201 + 99/99.9 × 24.5 = 225.28 -> 225
    [150, 225],
    // 300: 225.5-325.4 (301-500): 301 + 199/99.9 × 74.5 = 449.40 -> 449
    [300, 449],
  ])('PM2.5 %d µg/m³ -> %d', (pm25, expected) => {
    expect(usAqi({ pm25 })!.value).toBe(expected)
  })

  test('PM10 200 µg/m³: 155-254 (101-150): 101 + 49/99 × 45 = 123.27 -> 123', () => {
    expect(usAqi({ pm10: 200 })!.value).toBe(123)
  })

  test('O3 8-hour 0.078 ppm: 0.071-0.085 (101-150): 101 + 49/0.014 × 0.007 = 125.5 -> 126', () => {
    const r = usAqi({ o3Mean8hUgM3: ppmO3ToUg(0.078) })!
    expect(r.value).toBe(126)
    expect(r.band.key).toBe('unhealthy_sensitive')
  })

  test('O3 1-hour below 0.125 ppm adds nothing; above, it can decide', () => {
    expect(usAqi({ o3Mean1hUgM3: ppmO3ToUg(0.1) })).toBeUndefined()
    // 0.180 ppm: 0.165-0.204 (151-200): 151 + 49/0.039 × 0.015 = 169.85 -> 170
    expect(usAqi({ o3Mean8hUgM3: ppmO3ToUg(0.05), o3Mean1hUgM3: ppmO3ToUg(0.18) })!.value).toBe(170)
  })

  test('NO2 118.7 µg/m³ = 63.08 ppb -> 63: 54-100 (51-100): 51 + 49/46 × 9 = 60.59 -> 61', () => {
    expect(usAqi({ no2UgM3: 118.7 })!.value).toBe(61)
  })

  test('CO 8-hour 10 mg/m³ = 8.73 ppm -> 8.7: 4.5-9.4 (51-100): 51 + 49/4.9 × 4.2 = 93', () => {
    expect(usAqi({ coMean8hMgM3: 10 })!.value).toBe(93)
  })

  test('the largest sub-index wins and names the pollutant', () => {
    const r = usAqi({ pm25: 12, pm10: 200, no2UgM3: 118.7 })!
    expect(r.value).toBe(123)
    expect(r.dominant).toBe('pm10')
  })

  test('above the table caps at 500', () => {
    const r = usAqi({ pm25: 400 })!
    expect(r.value).toBe(500)
    expect(r.aboveScale).toBe(true)
  })
})

describe('EPA NowCast', () => {
  test('rising air: w = max(Cmin/Cmax, 0.5)', () => {
    // c = 40, 20, 10: w* = 0.25 -> 0.5: (40 + 10 + 2.5) / 1.75 = 30
    expect(usNowcast([40, 20, 10])).toBeCloseTo(30, 10)
  })
  test('needs 2 of the 3 latest hours', () => {
    expect(usNowcast([undefined, undefined, 10, 10])).toBeUndefined()
    expect(usNowcast([10, undefined, 10])).toBe(10)
  })
})

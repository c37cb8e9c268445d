import { type Breakpoint, interpolateIndex, roundHalfUp } from '../shared/piecewise.ts'
import { type AqiBand, usAqiBand } from './bands.ts'

/**
 * US EPA AQI: Technical Assistance Document for the Reporting of Daily Air Quality
 * (EPA-454/B-24-002, May 2024), Table 6, with the February 2024 PM2.5 revision
 * (Federal Register 89 FR 16202): Good ends at 9.0 µg/m³ and the Hazardous category
 * is one 301-500 row. Concentrations are truncated before lookup, so the 0.1 / 1 ppb
 * gaps between rows are never hit.
 */
const row = (cLow: number, cHigh: number, iLow: number, iHigh: number): Breakpoint => ({ cLow, cHigh, iLow, iHigh })

export const US_AQI_TABLES = {
  /** µg/m³, 24-hour (or NowCast), truncated to 0.1. */
  pm25: [row(0, 9.0, 0, 50), row(9.1, 35.4, 51, 100), row(35.5, 55.4, 101, 150), row(55.5, 125.4, 151, 200), row(125.5, 225.4, 201, 300), row(225.5, 325.4, 301, 500)],
  /** µg/m³, 24-hour (or NowCast), truncated to integer. */
  pm10: [row(0, 54, 0, 50), row(55, 154, 51, 100), row(155, 254, 101, 150), row(255, 354, 151, 200), row(355, 424, 201, 300), row(425, 604, 301, 500)],
  /** ppm, 8-hour, truncated to 0.001; not defined above 0.200 ppm. */
  o3_8h: [row(0, 0.054, 0, 50), row(0.055, 0.07, 51, 100), row(0.071, 0.085, 101, 150), row(0.086, 0.105, 151, 200), row(0.106, 0.2, 201, 300)],
  /** ppm, 1-hour, truncated to 0.001; defined only from AQI 101. */
  o3_1h: [row(0.125, 0.164, 101, 150), row(0.165, 0.204, 151, 200), row(0.205, 0.404, 201, 300), row(0.405, 0.604, 301, 500)],
  /** ppm, 8-hour, truncated to 0.1. */
  co: [row(0, 4.4, 0, 50), row(4.5, 9.4, 51, 100), row(9.5, 12.4, 101, 150), row(12.5, 15.4, 151, 200), row(15.5, 30.4, 201, 300), row(30.5, 50.4, 301, 500)],
  /** ppb, 1-hour up to AQI 200 (24-hour above), truncated to integer. */
  so2: [row(0, 35, 0, 50), row(36, 75, 51, 100), row(76, 185, 101, 150), row(186, 304, 151, 200), row(305, 604, 201, 300), row(605, 1004, 301, 500)],
  /** ppb, 1-hour, truncated to integer. */
  no2: [row(0, 53, 0, 50), row(54, 100, 51, 100), row(101, 360, 101, 150), row(361, 649, 151, 200), row(650, 1249, 201, 300), row(1250, 2049, 301, 500)],
} as const satisfies Record<string, readonly Breakpoint[]>

/**
 * µg/m³ -> ppb at 25 °C and 1 atm (molar volume 24.45 L), the EPA's reference
 * conditions: ppb = µg/m³ × 24.45 / M.
 */
const MOLAR_VOLUME_L = 24.45
export const MOLAR_MASS_G = { o3: 48.0, no2: 46.0055, so2: 64.066, co: 28.01 } as const

export function ugm3ToPpb(ugm3: number, molarMass: number): number {
  return (ugm3 * MOLAR_VOLUME_L) / molarMass
}

const truncate = (x: number, decimals: number): number => {
  const f = 10 ** decimals
  // The epsilon keeps 35.4 (stored as 35.39999…) from truncating to 35.3.
  return Math.floor(x * f + 1e-9) / f
}

export type UsPollutant = 'pm25' | 'pm10' | 'o3' | 'no2' | 'so2' | 'co'

export interface UsAqiInput {
  /** NowCast or 24-hour mean, µg/m³. */
  pm25?: number
  pm10?: number
  /** 8-hour mean and 1-hour mean O3, µg/m³ (converted to ppm). */
  o3Mean8hUgM3?: number
  o3Mean1hUgM3?: number
  /** 1-hour means, µg/m³. */
  no2UgM3?: number
  so2UgM3?: number
  /** 8-hour mean CO, mg/m³ (the catalogue's unit). */
  coMean8hMgM3?: number
}

export interface UsAqiResult {
  value: number
  band: AqiBand
  dominant: UsPollutant
  subIndices: Partial<Record<UsPollutant, number>>
  aboveScale: boolean
}

/** Sub-index from an already-truncated concentration in the table's unit. */
export function usSubIndex(table: keyof typeof US_AQI_TABLES, c: number): { value: number; aboveScale: boolean } | undefined {
  const r = interpolateIndex(US_AQI_TABLES[table], c)
  if (r === undefined) return undefined
  return { value: roundHalfUp(r.exact), aboveScale: r.aboveScale }
}

/** EPA AQI (TAD 2024 steps: truncate, find the bracket, interpolate, round; report the largest). */
export function usAqi(input: UsAqiInput): UsAqiResult | undefined {
  const sub: Partial<Record<UsPollutant, number>> = {}
  let above = false
  const add = (p: UsPollutant, r: { value: number; aboveScale: boolean } | undefined): void => {
    if (r === undefined) return
    if (r.aboveScale) above = true
    sub[p] = Math.max(sub[p] ?? -1, r.value)
  }
  if (input.pm25 !== undefined && input.pm25 >= 0) add('pm25', usSubIndex('pm25', truncate(input.pm25, 1)))
  if (input.pm10 !== undefined && input.pm10 >= 0) add('pm10', usSubIndex('pm10', truncate(input.pm10, 0)))
  if (input.o3Mean8hUgM3 !== undefined && input.o3Mean8hUgM3 >= 0) {
    const ppm = truncate(ugm3ToPpb(input.o3Mean8hUgM3, MOLAR_MASS_G.o3) / 1000, 3)
    // Above 0.200 ppm the 8-hour table stops; the 1-hour value decides.
    if (ppm <= 0.2) add('o3', usSubIndex('o3_8h', ppm))
  }
  if (input.o3Mean1hUgM3 !== undefined && input.o3Mean1hUgM3 >= 0) {
    const ppm = truncate(ugm3ToPpb(input.o3Mean1hUgM3, MOLAR_MASS_G.o3) / 1000, 3)
    if (ppm >= 0.125) add('o3', usSubIndex('o3_1h', ppm))
  }
  if (input.no2UgM3 !== undefined && input.no2UgM3 >= 0) add('no2', usSubIndex('no2', truncate(ugm3ToPpb(input.no2UgM3, MOLAR_MASS_G.no2), 0)))
  if (input.so2UgM3 !== undefined && input.so2UgM3 >= 0) add('so2', usSubIndex('so2', truncate(ugm3ToPpb(input.so2UgM3, MOLAR_MASS_G.so2), 0)))
  if (input.coMean8hMgM3 !== undefined && input.coMean8hMgM3 >= 0) {
    add('co', usSubIndex('co', truncate(ugm3ToPpb(input.coMean8hMgM3 * 1000, MOLAR_MASS_G.co) / 1000, 1)))
  }
  const entries = Object.entries(sub) as [UsPollutant, number][]
  if (entries.length === 0) return undefined
  let [dominant, value] = entries[0]!
  for (const [p, v] of entries) if (v > value) { dominant = p; value = v }
  return { value, band: usAqiBand(value), dominant, subIndices: sub, aboveScale: above }
}

/**
 * EPA NowCast for PM (AirNow): 12 hourly means, `hourly[0]` the most recent.
 * Needs 2 of the 3 most recent hours; w = max(Cmin/Cmax, 0.5); weighted mean over
 * the hours present. PM2.5 truncated to 0.1, PM10 to integer by the caller (usAqi).
 */
export function usNowcast(hourly: readonly (number | undefined)[]): number | undefined {
  let recent = 0
  for (let i = 0; i < 3; i++) if (hourly[i] !== undefined) recent++
  if (recent < 2) return undefined
  const present = hourly.slice(0, 12).filter((c): c is number => c !== undefined)
  const cMax = Math.max(...present)
  const cMin = Math.min(...present)
  const w = cMax > 0 ? Math.max(cMin / cMax, 0.5) : 1
  let num = 0
  let den = 0
  for (let i = 0; i < Math.min(12, hourly.length); i++) {
    const c = hourly[i]
    if (c === undefined) continue
    num += w ** i * c
    den += w ** i
  }
  return num / den
}

import { type Breakpoint, contiguousTable, interpolateIndex, roundHalfUp } from '../shared/piecewise.ts'
import { type AqiBand, vnAqiBand } from './bands.ts'

/**
 * VN_AQI per Decision 1459/QĐ-TCMT (Vietnam Environment Administration, 12 Nov 2019),
 * "Hướng dẫn kỹ thuật tính toán và công bố chỉ số chất lượng không khí Việt Nam".
 * Table 2 ("Bảng 2: Các giá trị BPi"), all concentrations in µg/m³, CO included.
 * Its brackets are contiguous: BPi is the lower and BPi+1 the upper bound of level i
 * (unlike the EPA's 0-12.0 / 12.1-35.4 style, which several "VN_AQI" programs copy).
 */
export const VN_AQI_LEVELS = [0, 50, 100, 150, 200, 300, 400, 500] as const

const VN_BP = {
  o3_1h: [0, 160, 200, 300, 400, 800, 1000, 1200],
  // O3 (8h) stops at 400 µg/m³ (AQI 300); above it the decision uses the 1-hour value only.
  o3_8h: [0, 100, 120, 170, 210, 400],
  co: [0, 10_000, 30_000, 45_000, 60_000, 90_000, 120_000, 150_000],
  so2: [0, 125, 350, 550, 800, 1600, 2100, 2630],
  no2: [0, 100, 200, 700, 1200, 2350, 3100, 3850],
  pm10: [0, 50, 150, 250, 350, 420, 500, 600],
  pm25: [0, 25, 50, 80, 150, 250, 350, 500],
} as const

export type VnPollutantTable = keyof typeof VN_BP

export const VN_AQI_TABLES: Record<VnPollutantTable, readonly Breakpoint[]> = {
  o3_1h: contiguousTable(VN_AQI_LEVELS, VN_BP.o3_1h),
  o3_8h: contiguousTable(VN_AQI_LEVELS, VN_BP.o3_8h),
  co: contiguousTable(VN_AQI_LEVELS, VN_BP.co),
  so2: contiguousTable(VN_AQI_LEVELS, VN_BP.so2),
  no2: contiguousTable(VN_AQI_LEVELS, VN_BP.no2),
  pm10: contiguousTable(VN_AQI_LEVELS, VN_BP.pm10),
  pm25: contiguousTable(VN_AQI_LEVELS, VN_BP.pm25),
}

/** The decision works in µg/m³; the metric catalogue stores CO in mg/m³. */
export const CO_MG_TO_UG = 1000

/** Sub-index of one pollutant (AQIx), unrounded; undefined for a missing or negative value. */
export function vnSubIndex(table: VnPollutantTable, concentrationUgM3: number | undefined): number | undefined {
  if (concentrationUgM3 === undefined) return undefined
  return interpolateIndex(VN_AQI_TABLES[table], concentrationUgM3)?.exact
}

export interface NowcastOptions {
  /**
   * The decision writes the w = 1/2 case as Σ (1/2)^i·ci, whose weights 1/2 ... 1/4096
   * sum to just under 1 when all 12 hours exist. true applies that form as written: a
   * missing hour's term is dropped, which is the decision's missing-hour rule ("if ci
   * is missing, take w^(i-1) = 0"), and the rest is not rescaled. false (default),
   * gridline's engineering choice, divides by the weights of the hours present, as the
   * decision's formula for w > 1/2 does: both are consistent with the decision; the
   * renormalised one keeps steady air at its own concentration when hours are missing
   * (the literal one then reads low) and makes w = 1/2 the limit of the w > 1/2 case.
   */
  literalHalfWeight?: boolean
}

/**
 * NowCast for PM2.5 and PM10, decision section 2.2.1 a.
 * `hourly[0]` is c1 (the current hour's mean), `hourly[11]` is c12; undefined marks
 * a missing hour. Needs at least 2 of c1, c2, c3, otherwise "no data" (undefined).
 * w* = Cmin/Cmax over the hours present; w = 1/2 when w* <= 1/2, else w*.
 */
export function vnNowcast(hourly: readonly (number | undefined)[], options: NowcastOptions = {}): number | undefined {
  let recent = 0
  for (let i = 0; i < 3; i++) if (hourly[i] !== undefined) recent++
  if (recent < 2) return undefined
  let cMin = Infinity
  let cMax = -Infinity
  const n = Math.min(12, hourly.length)
  for (let i = 0; i < n; i++) {
    const c = hourly[i]
    if (c === undefined) continue
    if (c < cMin) cMin = c
    if (c > cMax) cMax = c
  }
  // All zeros: any weight gives 0; w* would be 0/0.
  const wStar = cMax > 0 ? cMin / cMax : 1
  const w = wStar <= 0.5 ? 0.5 : wStar
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    const c = hourly[i]
    if (c === undefined) continue
    const weight = w ** i
    num += weight * c
    den += weight
  }
  if (w === 0.5 && options.literalHalfWeight === true) return num / 2
  return num / den
}

export type VnPollutant = 'pm25' | 'pm10' | 'o3' | 'no2' | 'so2' | 'co'

export interface VnHourlyInput {
  /** NowCast values (µg/m³), see vnNowcast. */
  pm25Nowcast?: number
  pm10Nowcast?: number
  /** 1-hour means, µg/m³. */
  o3?: number
  no2?: number
  so2?: number
  /** 1-hour mean in mg/m³ (the catalogue's unit); converted to µg/m³ for the table. */
  coMgM3?: number
}

export interface AqiResult {
  /** Rounded composite AQI (the largest sub-index). */
  value: number
  band: AqiBand
  /** The pollutant with the largest sub-index. */
  dominant: VnPollutant
  /** Unrounded sub-index of each pollutant present. */
  subIndices: Partial<Record<VnPollutant, number>>
  /** True when a concentration was above the table's top row (capped at 500). */
  aboveScale: boolean
}

function composite(subIndices: Partial<Record<VnPollutant, number>>, aboveScale: boolean): AqiResult | undefined {
  // [1459 2.1 b] at least one of PM10, PM2.5 must be in the calculation.
  if (subIndices.pm25 === undefined && subIndices.pm10 === undefined) return undefined
  let dominant: VnPollutant = subIndices.pm25 !== undefined ? 'pm25' : 'pm10'
  let max = -1
  for (const [pollutant, index] of Object.entries(subIndices) as [VnPollutant, number][]) {
    if (index > max) { max = index; dominant = pollutant }
  }
  const value = roundHalfUp(max)
  return { value, band: vnAqiBand(value), dominant, subIndices, aboveScale }
}

function put(into: Partial<Record<VnPollutant, number>>, pollutant: VnPollutant, table: VnPollutantTable, c: number | undefined, flags: { above: boolean }): void {
  if (c === undefined) return
  const r = interpolateIndex(VN_AQI_TABLES[table], c)
  if (r === undefined) return
  if (r.aboveScale) flags.above = true
  into[pollutant] = r.exact
}

/** Hourly VN_AQI (AQI^h), decision 2.2.1 b-c. Undefined without PM2.5 or PM10. */
export function vnAqiHourly(input: VnHourlyInput): AqiResult | undefined {
  const sub: Partial<Record<VnPollutant, number>> = {}
  const flags = { above: false }
  put(sub, 'pm25', 'pm25', input.pm25Nowcast, flags)
  put(sub, 'pm10', 'pm10', input.pm10Nowcast, flags)
  put(sub, 'o3', 'o3_1h', input.o3, flags)
  put(sub, 'no2', 'no2', input.no2, flags)
  put(sub, 'so2', 'so2', input.so2, flags)
  put(sub, 'co', 'co', input.coMgM3 === undefined ? undefined : input.coMgM3 * CO_MG_TO_UG, flags)
  return composite(sub, flags.above)
}

export interface VnDailyInput {
  /** 24-hour means, µg/m³. */
  pm25Mean24h?: number
  pm10Mean24h?: number
  /** Largest 1-hour and 8-hour O3 means of the day, µg/m³. */
  o3Max1h?: number
  o3Max8h?: number
  /** Largest 1-hour means of the day; CO in mg/m³. */
  no2Max1h?: number
  so2Max1h?: number
  coMax1hMgM3?: number
}

/** Daily VN_AQI (AQI^d), decision 2.2.2. Undefined without PM2.5 or PM10. */
export function vnAqiDaily(input: VnDailyInput): AqiResult | undefined {
  const sub: Partial<Record<VnPollutant, number>> = {}
  const flags = { above: false }
  put(sub, 'pm25', 'pm25', input.pm25Mean24h, flags)
  put(sub, 'pm10', 'pm10', input.pm10Mean24h, flags)
  put(sub, 'no2', 'no2', input.no2Max1h, flags)
  put(sub, 'so2', 'so2', input.so2Max1h, flags)
  put(sub, 'co', 'co', input.coMax1hMgM3 === undefined ? undefined : input.coMax1hMgM3 * CO_MG_TO_UG, flags)
  // O3: the larger of the 1-hour-table and 8-hour-table indices; the 8-hour one is
  // not computed when the 8-hour maximum exceeds 400 µg/m³ [1459 2.2.2 b].
  const o3: Partial<Record<VnPollutant, number>> = {}
  put(o3, 'o3', 'o3_1h', input.o3Max1h, flags)
  const o3h1 = o3.o3
  let o3h8: number | undefined
  if (input.o3Max8h !== undefined && input.o3Max8h <= 400) o3h8 = vnSubIndex('o3_8h', input.o3Max8h)
  const o3Index = Math.max(o3h1 ?? -1, o3h8 ?? -1)
  if (o3Index >= 0) sub.o3 = o3Index
  return composite(sub, flags.above)
}

/** Mean of up to 8 consecutive hourly means ending at each hour; the day's largest. */
export function maxEightHourMean(hourlyOldestFirst: readonly (number | undefined)[], minHours = 6): number | undefined {
  let best: number | undefined
  for (let end = 7; end < hourlyOldestFirst.length; end++) {
    let sum = 0
    let n = 0
    for (let i = end - 7; i <= end; i++) {
      const c = hourlyOldestFirst[i]
      if (c !== undefined) { sum += c; n++ }
    }
    if (n >= minHours) {
      const mean = sum / n
      if (best === undefined || mean > best) best = mean
    }
  }
  return best
}

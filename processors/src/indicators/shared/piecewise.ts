/**
 * One row of a breakpoint table: concentrations [cLow, cHigh] map linearly
 * onto index values [iLow, iHigh].
 */
export interface Breakpoint {
  cLow: number
  cHigh: number
  iLow: number
  iHigh: number
}

export interface IndexResult {
  /** The interpolated index before rounding. */
  exact: number
  /** Rounded to the nearest integer (half up), as both VN_AQI and the EPA publish it. */
  value: number
  /** True when the concentration was above the table and the index was capped at its top. */
  aboveScale: boolean
}

/**
 * Linear interpolation inside the bracket that holds `c`:
 * I = (iHigh - iLow) / (cHigh - cLow) * (c - cLow) + iLow.
 * Brackets are tried in order, so with contiguous tables (VN_AQI) a value on a
 * shared breakpoint takes the lower bracket's top (25 µg/m³ PM2.5 -> 50).
 * Returns undefined for a negative or non-finite concentration; caps at the
 * last row's top when above the table.
 */
export function interpolateIndex(table: readonly Breakpoint[], c: number): IndexResult | undefined {
  if (!Number.isFinite(c) || c < 0) return undefined
  for (const row of table) {
    if (c <= row.cHigh && c >= row.cLow) {
      const exact = ((row.iHigh - row.iLow) / (row.cHigh - row.cLow)) * (c - row.cLow) + row.iLow
      return { exact, value: roundHalfUp(exact), aboveScale: false }
    }
  }
  const last = table[table.length - 1]
  if (last !== undefined && c > last.cHigh) return { exact: last.iHigh, value: last.iHigh, aboveScale: true }
  // A gap between brackets (EPA tables after truncation never hit this; kept total).
  const next = table.find((row) => row.cLow > c)
  if (next === undefined) return undefined
  return { exact: next.iLow, value: next.iLow, aboveScale: false }
}

/** Math.round rounds -0.5 to -0; indices are never negative, but be explicit about half-up. */
export function roundHalfUp(x: number): number {
  // The epsilon absorbs binary noise such as 109.49999999999999 for an exact 109.5.
  return Math.floor(x + 0.5 + 1e-9)
}

/** Builds contiguous brackets from level values: [0, 25, 50] with [0, 50, 100] -> (0..25 -> 0..50), (25..50 -> 50..100). */
export function contiguousTable(levels: readonly number[], concentrations: readonly number[]): Breakpoint[] {
  const rows: Breakpoint[] = []
  for (let i = 0; i + 1 < levels.length && i + 1 < concentrations.length; i++) {
    rows.push({ cLow: concentrations[i]!, cHigh: concentrations[i + 1]!, iLow: levels[i]!, iHigh: levels[i + 1]! })
  }
  return rows
}

/**
 * Plausible ranges per metric for a region's climate: the plausibility check
 * (docs/rollups.md#plausibility) stores a reading outside its metric's range with
 * quality OUT_OF_RANGE and the IMPLAUSIBLE row flag. It is narrower than the
 * catalogue's range, which has to hold anywhere a sensor may stand: 55 °C is a
 * possible air temperature on Earth (the catalogue allows up to 60) but not in
 * a Vietnamese city, where it is a sensor in the sun.
 *
 * Ranges are inclusive: a value equal to `min` or `max` is plausible.
 */
export interface PlausibleRange {
  /** Lowest plausible value, inclusive; absent: no lower bound. */
  min?: number
  /** Highest plausible value, inclusive; absent: no upper bound. */
  max?: number
}

/**
 * Region presets. Metric names are shared across domains (environment `pressure` is
 * hPa, water `pressure` is bar), so a preset only holds metrics whose name means one
 * thing in the catalogue.
 */
export const PLAUSIBILITY_PRESETS = {
  /**
   * Vietnam's cities, from the Red River delta and the northern highlands to the
   * Mekong delta. Temperature: the country's highest recorded air temperature is
   * 44.2 °C (Tương Dương, Nghệ An, May 2023), so 45 °C leaves a margin over the record
   * and anything above it is a housing in the sun or a fault (the Nha Be recording
   * reaches 55 °C around midday).
   * The lower bound, -5 °C, is below the frost and occasional snow of the highland
   * towns (Sa Pa, Đà Lạt, Mẫu Sơn); lowland cities stay well above 0 °C.
   * Figures from published climate records, not from the hydro-meteorological
   * service's station data: tighten a city's range with `ranges` if you have those.
   */
  vietnam: {
    temperature: { min: -5, max: 45 },
  },
  /** No preset: only the ranges given in `ranges`. */
  none: {},
} as const satisfies Record<string, Readonly<Record<string, PlausibleRange>>>

export type PlausibilityRegion = keyof typeof PLAUSIBILITY_PRESETS
export const PLAUSIBILITY_REGIONS = Object.keys(PLAUSIBILITY_PRESETS) as [PlausibilityRegion, ...PlausibilityRegion[]]

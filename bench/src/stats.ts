/** The spread of one figure over the rounds of a run. */
export interface Spread {
  median: number
  min: number
  max: number
  /** How many measurements it summarises. */
  count: number
}

/** Median of unsorted values: the middle one, or the mean of the two middle ones. NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * The p-th percentile (0..100) of values sorted ascending, by nearest rank:
 * the smallest value that at least p% of the values are less than or equal
 * to. Unlike interpolation it always returns a latency that was observed,
 * which is what "p99 < 100 ms" promises about real messages. NaN for no values.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100, got ${p}`)
  const n = sorted.length
  if (n === 0) return NaN
  const rank = Math.max(1, Math.ceil((p / 100) * n))
  return sorted[rank - 1]!
}

/** Sorts samples (latencies) ascending into a new typed array, ready for `percentile`. */
export function sortSamples(samples: ArrayLike<number>): Float64Array {
  return Float64Array.from(samples).sort()
}

export interface LatencySummary {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** Count, p50, p95, p99 and max of latencies already sorted (sortSamples); at least one. */
export function latencySummary(sorted: Float64Array): LatencySummary {
  return { count: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! }
}

/** Median, min and max of a figure's measurements. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, count: 0 }
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), count: values.length }
}

/**
 * Time series and histograms for the reports' charts: counts per time bucket
 * (throughput over time), a drift summary for the soak, and a latency
 * histogram on log-spaced bins. Pure, so they are unit-tested on their own.
 */

/** Events counted per fixed time bucket since a start instant. Bounded: at most `maxBuckets` buckets. */
export class Timeline {
  private counts: number[] = []

  constructor(readonly bucketMs: number, private readonly startMs: number, private readonly maxBuckets = 100_000) {
    if (!(bucketMs > 0)) throw new RangeError(`bucketMs must be above 0, got ${bucketMs}`)
  }

  /** Counts `n` events at `atMs` (same clock as the start); events before the start or past the last bucket are ignored. */
  add(n: number, atMs: number): void {
    const bucket = Math.floor((atMs - this.startMs) / this.bucketMs)
    if (bucket < 0 || bucket >= this.maxBuckets) return
    while (this.counts.length <= bucket) this.counts.push(0)
    this.counts[bucket]! += n
  }

  /** Counts per bucket, the first bucket starting at the start instant. */
  toArray(): number[] {
    return [...this.counts]
  }
}

/** One point of a throughput chart: seconds since the phase started, and the rate over the bucket ending there. */
export interface RatePoint {
  atSeconds: number
  perSecond: number
}

/**
 * Adds timelines bucket by bucket (one per load generator, started at about
 * the same instant) and turns counts into rates.
 */
export function ratesOf(timelines: readonly number[][], bucketMs: number): RatePoint[] {
  const length = Math.max(0, ...timelines.map((t) => t.length))
  const out: RatePoint[] = []
  for (let i = 0; i < length; i++) {
    let n = 0
    for (const t of timelines) n += t[i] ?? 0
    out.push({ atSeconds: ((i + 1) * bucketMs) / 1000, perSecond: n / (bucketMs / 1000) })
  }
  return out
}

/** Rates from cumulative counts sampled at times (a row count read every few seconds). */
export function ratesFromCumulative(samples: readonly { atMs: number; total: number }[]): RatePoint[] {
  const out: RatePoint[] = []
  const t0 = samples[0]?.atMs ?? 0
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!
    const b = samples[i]!
    if (b.atMs <= a.atMs) continue
    out.push({ atSeconds: (b.atMs - t0) / 1000, perSecond: (b.total - a.total) / ((b.atMs - a.atMs) / 1000) })
  }
  return out
}

/** How a series moved over a long run. */
export interface Drift {
  /** Mean of the first and of the last third of the points. */
  firstThird: number
  lastThird: number
  /** lastThird / firstThird - 1: +0.10 is 10% higher at the end. */
  change: number
  /** Least-squares slope, in units per minute. */
  slopePerMinute: number
  /** The slope as a share of the mean per minute. */
  slopeSharePerMinute: number
  points: number
}

/** Drift of (seconds, value) points: first third against last third, and the least-squares slope. NaN fields for fewer than 3 points. */
export function drift(points: readonly { atSeconds: number; value: number }[]): Drift {
  const n = points.length
  if (n < 3) return { firstThird: NaN, lastThird: NaN, change: NaN, slopePerMinute: NaN, slopeSharePerMinute: NaN, points: n }
  const third = Math.max(1, Math.floor(n / 3))
  const mean = (xs: readonly { value: number }[]) => xs.reduce((a, p) => a + p.value, 0) / xs.length
  const firstThird = mean(points.slice(0, third))
  const lastThird = mean(points.slice(n - third))
  const mx = points.reduce((a, p) => a + p.atSeconds, 0) / n
  const my = mean(points)
  let sxy = 0
  let sxx = 0
  for (const p of points) {
    sxy += (p.atSeconds - mx) * (p.value - my)
    sxx += (p.atSeconds - mx) ** 2
  }
  const slopePerSecond = sxx > 0 ? sxy / sxx : 0
  return {
    firstThird,
    lastThird,
    change: lastThird / firstThird - 1,
    slopePerMinute: slopePerSecond * 60,
    slopeSharePerMinute: my !== 0 ? (slopePerSecond * 60) / my : NaN,
    points: n,
  }
}

/** A latency histogram: counts between bin edges (ms), log-spaced so 0.1 ms and 1 s both read. */
export interface Histogram {
  /** edges[i] .. edges[i + 1] holds counts[i]; the last bin is open-ended. */
  edgesMs: number[]
  counts: number[]
  total: number
}

/** Bin edges from 0.1 ms to ~100 s, 5 per decade. */
export const LATENCY_EDGES_MS: readonly number[] = Array.from({ length: 31 }, (_, i) => Number((0.1 * 10 ** (i / 5)).toPrecision(3)))

/** Counts latencies (any order) into the log-spaced bins; values under the first edge count in the first bin. */
export function latencyHistogram(latenciesMs: ArrayLike<number>, edgesMs: readonly number[] = LATENCY_EDGES_MS): Histogram {
  const counts = new Array<number>(edgesMs.length).fill(0)
  for (let i = 0; i < latenciesMs.length; i++) {
    const v = latenciesMs[i]!
    let lo = 0
    let hi = edgesMs.length - 1
    // The last edge at or below v (binary search); below the first edge counts in bin 0.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (edgesMs[mid]! <= v) lo = mid
      else hi = mid - 1
    }
    counts[lo]!++
  }
  return { edgesMs: [...edgesMs], counts, total: latenciesMs.length }
}

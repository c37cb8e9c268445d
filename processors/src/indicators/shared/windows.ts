/**
 * Max (or min) over a sliding time window in O(1) amortised per value: a
 * monotonic deque, so a window of thousands of readings costs no scans.
 */
export class MonotonicWindow {
  private readonly times: number[] = []
  private readonly values: number[] = []
  private head = 0

  constructor(private readonly keep: 'max' | 'min') {}

  push(time: number, value: number): void {
    const dominated = this.keep === 'max' ? (v: number) => v <= value : (v: number) => v >= value
    while (this.values.length > this.head && dominated(this.values[this.values.length - 1]!)) {
      this.values.pop()
      this.times.pop()
    }
    this.times.push(time)
    this.values.push(value)
  }

  /** Drops values older than `since`. */
  evict(since: number): void {
    while (this.head < this.times.length && this.times[this.head]! < since) this.head++
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head)
      this.values.splice(0, this.head)
      this.head = 0
    }
  }

  get value(): number | undefined {
    return this.head < this.values.length ? this.values[this.head] : undefined
  }
}

/** Least-squares slope of (time ms, value) points, per hour; undefined with fewer than 2 distinct times. */
export function slopePerHour(times: readonly number[], values: readonly number[]): number | undefined {
  const n = times.length
  if (n < 2) return undefined
  const t0 = times[0]!
  let st = 0, sv = 0, stt = 0, stv = 0
  for (let i = 0; i < n; i++) {
    const t = (times[i]! - t0) / 3_600_000
    const v = values[i]!
    st += t; sv += v; stt += t * t; stv += t * v
  }
  const den = n * stt - st * st
  if (den <= 0) return undefined
  return (n * stv - st * sv) / den
}

/**
 * A fixed-capacity ring buffer of (time, value) points for live charts: keeps at most
 * `capacity` points and none older than `maxAgeMs` before the newest. Pure module,
 * unit-tested from dashboards/src/web-ring.test.ts.
 */
export class RingBuffer {
  private readonly times: Float64Array
  private readonly values: Float64Array
  private start = 0
  private count = 0

  constructor(
    readonly capacity: number,
    readonly maxAgeMs: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`RingBuffer capacity must be a positive integer, got ${capacity}.`)
    this.times = new Float64Array(capacity)
    this.values = new Float64Array(capacity)
  }

  get size(): number {
    return this.count
  }

  /** The newest point's time, or undefined when empty. */
  get lastTime(): number | undefined {
    return this.count === 0 ? undefined : this.times[(this.start + this.count - 1) % this.capacity]
  }

  /**
   * Adds a point. Points arrive in time order from the stream; one older than the
   * newest (a late or duplicate reading) is dropped so the chart's x stays sorted,
   * as uPlot requires. Returns whether it was kept.
   */
  push(time: number, value: number): boolean {
    const last = this.lastTime
    if (last !== undefined && time <= last) {
      if (time === last) {
        this.values[(this.start + this.count - 1) % this.capacity] = value
        return true
      }
      return false
    }
    if (this.count < this.capacity) {
      const i = (this.start + this.count) % this.capacity
      this.times[i] = time
      this.values[i] = value
      this.count++
    } else {
      this.times[this.start] = time
      this.values[this.start] = value
      this.start = (this.start + 1) % this.capacity
    }
    this.trim(time - this.maxAgeMs)
    return true
  }

  /** Drops points older than `cutoff`. */
  trim(cutoff: number): void {
    while (this.count > 0 && (this.times[this.start] ?? 0) < cutoff) {
      this.start = (this.start + 1) % this.capacity
      this.count--
    }
  }

  clear(): void {
    this.start = 0
    this.count = 0
  }

  /** The points oldest first; times divided by `timeScale` (uPlot wants seconds: 1000). */
  toArrays(timeScale = 1): { times: number[]; values: number[] } {
    const times = new Array<number>(this.count)
    const values = new Array<number>(this.count)
    for (let k = 0; k < this.count; k++) {
      const i = (this.start + k) % this.capacity
      times[k] = (this.times[i] ?? 0) / timeScale
      values[k] = this.values[i] ?? 0
    }
    return { times, values }
  }
}

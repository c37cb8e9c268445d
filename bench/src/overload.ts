/**
 * Pure helpers of the overload scenario, shared by the load generators, the
 * scenario and the report (and unit-tested on their own): bookkeeping of
 * which readings were acknowledged, the in-flight cap that keeps the load
 * open loop, and the pass/fail rules.
 */

/**
 * Reading indices of one connection, as half-open ranges [lo, hi). PUBACKs
 * of a connection arrive in the order of its PUBLISHes [MQTT-4.6.0-2], so the
 * acknowledged readings of a phase are one range unless a message failed in
 * between: memory stays a few numbers per connection whatever the rate.
 */
export class IndexRanges {
  private readonly bounds: number[] = []
  private count = 0

  /** Records readings lo .. lo + n - 1. */
  add(lo: number, n: number): void {
    if (n <= 0) return
    this.count += n
    const last = this.bounds.length - 1
    if (last > 0 && this.bounds[last] === lo) this.bounds[last] = lo + n
    else this.bounds.push(lo, lo + n)
  }

  /** Readings recorded. */
  get total(): number {
    return this.count
  }

  /** Flattened [lo0, hi0, lo1, hi1, ...], for IPC. */
  toArray(): number[] {
    return [...this.bounds]
  }
}

/** Highest in-flight cap mqtt.js can honour: packet ids are 16-bit and it does not check reuse. */
export const MAX_INFLIGHT_CAP = 60_000

/**
 * A per-connection in-flight cap that never paces an open-loop phase: as many
 * messages as one connection is due in the whole offered-load time (so the
 * cap binds only if not a single PUBACK came back), at least `floor`, and
 * within mqtt.js's packet-id space.
 */
export function openLoopInflightCap(totalRatePerSecond: number, connections: number, offerMs: number, floor: number): number {
  const perConnection = Math.ceil((totalRatePerSecond / Math.max(1, connections)) * (offerMs / 1000) * 1.1)
  return Math.min(MAX_INFLIGHT_CAP, Math.max(floor, Number.isFinite(perConnection) ? perConnection : floor))
}

/** "Memory bounded": peak RSS at the highest level within this factor of the peak at the lowest. */
export const MEMORY_BOUND_FACTOR = 1.5

export interface MemoryVerdict {
  pass: boolean
  /** Peak RSS at the highest overload level over the peak at the lowest. */
  ratio: number
  text: string
}

/**
 * Twice the offered load must not need much more memory than the lower
 * level: a service that holds its sockets keeps a bounded amount in flight, a
 * service that buffers grows with the excess (3x has four times the excess
 * of 1.5x). NaN peaks (no samples) fail.
 */
export function memoryBounded(peakLowBytes: number, peakHighBytes: number, factor = MEMORY_BOUND_FACTOR): MemoryVerdict {
  const ratio = peakHighBytes / peakLowBytes
  const pass = Number.isFinite(ratio) && ratio <= factor
  return { pass, ratio, text: `peak RSS at the highest level <= ${factor} x peak RSS at the lowest` }
}

/** "Nothing acknowledged lost": every acknowledged reading's row is in the database. */
export function nothingAckedLost(ackedReadings: number, ackedMissing: number, storedRows: number): boolean {
  return ackedMissing === 0 && storedRows >= ackedReadings
}

/**
 * The peak of several series added up at common times: each series is
 * sampled on its own clock (one load generator each); at every sample time
 * of any series, every series counts with its latest value at or before it
 * (0 before its first sample). Used for the unacknowledged backlog of all
 * load generators together.
 */
export function peakOfSum(series: readonly (readonly { atMs: number; value: number }[])[]): number {
  const events = series.flatMap((s, i) => s.map((p) => ({ i, atMs: p.atMs, value: p.value }))).sort((a, b) => a.atMs - b.atMs)
  const current = new Array<number>(series.length).fill(0)
  let total = 0
  let peak = 0
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!
    total += e.value - current[e.i]!
    current[e.i] = e.value
    // Several series sampled at the same instant count together.
    if (k + 1 < events.length && events[k + 1]!.atMs === e.atMs) continue
    peak = Math.max(peak, total)
  }
  return peak
}

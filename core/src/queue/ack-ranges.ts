/**
 * Which record indices are acknowledged: everything below `ackedBelow`, plus
 * sorted, disjoint, non-adjacent [start, end) ranges above it. Ranges above
 * the frontier come from live batches acknowledged while an older backlog is
 * still draining; there are few of them, so a sorted array is enough.
 */
export class AckRanges {
  ackedBelow = 0
  private ranges: Array<[number, number]> = []

  add(start: number, end: number): void {
    if (end <= this.ackedBelow || end <= start) return
    start = Math.max(start, this.ackedBelow)
    const merged: Array<[number, number]> = []
    let placed = false
    for (const range of this.ranges) {
      if (range[1] < start) merged.push(range)
      else if (range[0] > end) {
        if (!placed) { merged.push([start, end]); placed = true }
        merged.push(range)
      } else {
        start = Math.min(start, range[0])
        end = Math.max(end, range[1])
      }
    }
    if (!placed) merged.push([start, end])
    merged.sort((a, b) => a[0] - b[0])
    if (merged[0] && merged[0][0] <= this.ackedBelow) {
      this.ackedBelow = merged[0][1]
      merged.shift()
    }
    this.ranges = merged
  }

  has(index: number): boolean {
    if (index < this.ackedBelow) return true
    let low = 0
    let high = this.ranges.length - 1
    while (low <= high) {
      const mid = (low + high) >> 1
      const [start, end] = this.ranges[mid]!
      if (index < start) high = mid - 1
      else if (index >= end) low = mid + 1
      else return true
    }
    return false
  }

  /** How many indices in [start, end) are acknowledged. */
  countWithin(start: number, end: number): number {
    let count = Math.max(0, Math.min(end, this.ackedBelow) - start)
    for (const [s, e] of this.ranges) count += Math.max(0, Math.min(end, e) - Math.max(start, s))
    return count
  }

  /** The first index at or after `index` that is not acknowledged. */
  nextUnacked(index: number): number {
    let at = Math.max(index, this.ackedBelow)
    for (const [s, e] of this.ranges) if (at >= s && at < e) at = e
    return at
  }

  toJSON(): { ackedBelow: number; ranges: Array<[number, number]> } {
    return { ackedBelow: this.ackedBelow, ranges: this.ranges }
  }

  load(state: unknown): void {
    const s = state as { ackedBelow?: unknown; ranges?: unknown }
    if (typeof s?.ackedBelow === 'number' && Number.isSafeInteger(s.ackedBelow) && s.ackedBelow >= 0) this.ackedBelow = s.ackedBelow
    if (Array.isArray(s?.ranges)) {
      for (const r of s.ranges) if (Array.isArray(r) && typeof r[0] === 'number' && typeof r[1] === 'number') this.add(r[0], r[1])
    }
  }
}

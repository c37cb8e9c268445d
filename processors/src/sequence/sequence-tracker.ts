/**
 * Per-device `seq` bookkeeping that costs one map lookup per reading and no
 * database round trip: counts gaps (readings the device numbered but we never
 * saw) and regressions (a seq not above the last one: a resend, a duplicate or
 * a device restart). Storage dedup itself is keyed on (device, metric, time).
 */
export class SequenceTracker {
  private readonly last = new Map<string, number>()
  /** Readings missing between consecutive seqs, summed over devices. */
  missing = 0
  /** Readings whose seq was not above the device's last one. */
  regressions = 0

  observe(deviceId: string, seq: number): void {
    const previous = this.last.get(deviceId)
    if (previous === undefined || seq > previous) {
      if (previous !== undefined && seq > previous + 1) this.missing += seq - previous - 1
      this.last.set(deviceId, seq)
    } else {
      this.regressions++
    }
  }

  lastSeq(deviceId: string): number | undefined {
    return this.last.get(deviceId)
  }
}

/**
 * Distinct metrics outside the catalogue per device, capped, for
 * `catalogue.unknownMetrics: store`. Every distinct series costs memory in
 * the processors and the console (rollup windows, quality history, the
 * device page), so one device must not be able to create them without bound:
 * 25 messages naming 499,200 distinct metrics once cost 600 MB. Catalogue
 * metrics are bounded by the catalogue and need no tracking.
 */
export class MetricLimit {
  private readonly byDevice = new Map<string, Set<string>>()

  constructor(
    /** Distinct unknown metrics one device may have; more are refused (metric_limit). */
    readonly perDevice: number,
    /** Devices tracked at once; a device beyond this may not add unknown metrics. */
    private readonly maxDevices = 100_000,
  ) {}

  /** True when `deviceId` may store `metric` (already seen, or under the cap). */
  admit(deviceId: string, metric: string): boolean {
    let seen = this.byDevice.get(deviceId)
    if (seen?.has(metric)) return true
    if (!seen) {
      if (this.byDevice.size >= this.maxDevices || this.perDevice === 0) return false
      this.byDevice.set(deviceId, (seen = new Set()))
    }
    if (seen.size >= this.perDevice) return false
    seen.add(metric)
    return true
  }
}

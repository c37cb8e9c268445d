/**
 * Quality codes stored in `telemetry.quality` (docs/storage.md#quality).
 * Rollups and indicators use only GOOD readings unless asked otherwise.
 */
export const Quality = {
  /** Plausible value, no flag from the device. */
  GOOD: 0,
  /**
   * Outside the plausible range for the metric; stored, not trusted (suspect). The
   * catalogue's range (the decoder), or with RowFlags.IMPLAUSIBLE the region's
   * narrower range (the plausibility check before the write).
   */
  OUT_OF_RANGE: 1,
  /** The device flagged the value as bad. */
  BAD: 2,
  /** The device flagged the value as uncertain (for example an OPC-UA Uncertain status). */
  UNCERTAIN: 3,
  /** Flagged by the stuck-sensor check: the same value N times where the metric should vary. */
  STUCK: 4,
  /** Flagged by the saturation check: at the sensor's documented maximum (or minimum). */
  SATURATED: 5,
  /** Flagged by the spike check: a physically impossible rate of change from the previous reading. */
  SPIKE: 6,
} as const
export type QualityCode = (typeof Quality)[keyof typeof Quality]

/** Bits of `telemetry.flags`. */
export const RowFlags = {
  /** The reading had no `ts`: `time` is the server's receive time. */
  SERVER_TIME: 1,
  /** Forwarded from an edge agent's backlog after an outage: never raises live alarms. */
  BACKFILL: 2,
  /**
   * Set with quality OUT_OF_RANGE by the plausibility check: the value is outside the
   * region's plausible range for the metric (processors.quality.plausibility), though
   * inside the catalogue's. Without it, OUT_OF_RANGE is the catalogue's range check.
   */
  IMPLAUSIBLE: 4,
} as const

/**
 * Default quality rules per metric. Each number comes from a sensor's
 * documentation or from the recorded data in /work/shared/datasets, as noted;
 * docs/rollups.md explains every rule. A metric absent here gets no check.
 *
 * Saturation is the sensor's own limit, never the catalogue's plausible range
 * (the decoder already stores values outside that range as OUT_OF_RANGE).
 */
export interface QualityRule {
  /** Stuck: flag once this many consecutive readings carry the same value. Absent: no stuck check. */
  stuckReadings?: number
  /** Stuck also needs the run to span at least this long (so a 1 Hz sensor is not flagged after 10 s). */
  stuckMinDurationMs?: number
  /** Values that may legitimately repeat for hours (no flow while a pump is off). */
  stuckIgnoreValues?: number[]
  /** Saturated: value at or above the sensor's documented maximum output. */
  saturationMax?: number
  /** Saturated: value at or below the sensor's documented minimum output. */
  saturationMin?: number
  /** Spike: |change| / elapsed time above this, per second, against the last accepted reading. */
  maxRatePerSecond?: number
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE

export const DEFAULT_QUALITY_RULES: Readonly<Record<string, QualityRule>> = {
  // SDS011 datasheet: PM2.5 and PM10 output 0.0-999.9 ug/m3. The sensor.community firmware
  // reports its PM10 ceiling as 1999.9 (HCMC recording, SDS_P1 = 1999.90 twice). Natural runs
  // of an identical PM value in that recording are at most 3 readings long.
  pm25: { saturationMax: 999.9, stuckReadings: 10, stuckMinDurationMs: 20 * MINUTE },
  pm10: { saturationMax: 1999.9, stuckReadings: 10, stuckMinDurationMs: 20 * MINUTE },
  // DHT22-class sensors: 0.1 %RH resolution. The HCMC recording never repeats a humidity value
  // more than 6 times in a row except the stuck 99.90 runs (up to 406 readings, 17 h).
  // 99.9 is not treated as saturation: fog really reads that high; only the long run is a defect.
  // Air humidity cannot move 30 %RH within a minute.
  humidity: { stuckReadings: 10, stuckMinDurationMs: 20 * MINUTE, maxRatePerSecond: 30 / 60 },
  // Natural repeats in the HCMC recording reach 22 readings (55 min, at night), so stuck needs
  // 2 h. Sun on the housing moves that sensor by up to 2.2 degC/min; 5 degC/min is not air.
  temperature: { stuckReadings: 30, stuckMinDurationMs: 2 * HOUR, maxRatePerSecond: 5 / 60 },
  no2: { stuckReadings: 20, stuckMinDurationMs: HOUR },
  o3: { stuckReadings: 20, stuckMinDurationMs: HOUR },
  so2: { stuckReadings: 20, stuckMinDurationMs: HOUR },
  co: { stuckReadings: 20, stuckMinDurationMs: HOUR },
  noise: { stuckReadings: 20, stuckMinDurationMs: 30 * MINUTE },
  // Water: a live network's pressure and flow always wobble. Zero flow is legitimate (pump off,
  // valve closed). No spike rule: a burst is a real sudden pressure drop and must reach the
  // indicators.
  pressure: { stuckReadings: 30, stuckMinDurationMs: HOUR },
  flow: { stuckReadings: 30, stuckMinDurationMs: HOUR, stuckIgnoreValues: [0] },
  // Tank level (water.tankMetric): a service reservoir fills and drains by centimetres a
  // minute; 3 m/min is a glitch.
  level: { maxRatePerSecond: 3 / 60 },
  // Flood gauges (flood.levelMetric, docs/indicators.md#flood) publish water_level. A flash
  // flood raises a street gauge by centimetres per second, not metres: 3 m/min is a glitch
  // (an echo off debris or a bird in an ultrasonic beam). Kept loose on purpose: a real surge
  // flagged as a spike would never reach the flood indicators, which check plausibility
  // themselves (a jump must be confirmed by the next reading).
  water_level: { maxRatePerSecond: 3 / 60 },
}

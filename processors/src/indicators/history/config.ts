import { z } from 'zod'

/** `processors.indicators.history` (docs/indicators.md#history). */
export const IndicatorHistoryConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Store every indicator value in indicator_values, replay recent telemetry at start so no window is skipped or emitted twice, and correct stored values when late readings arrive.'),
  flushIntervalMs: z.number().int().min(50).default(1_000).describe('Indicator values are written in one statement this often.'),
  warmupHours: z.number().min(0).max(24 * 14).default(36).describe('At start, the telemetry of the indicator metrics this far back is run through the indicators again, so the windows open when the service stopped (a day for daily VN_AQI, 12 hours for NowCast) are whole; values already stored are not emitted again. 0: no replay.'),
  maxWarmupRows: z.number().int().min(0).default(5_000_000).describe('The replay reads at most this many readings (the newest); a larger fleet starts its replay later and says so in the log.'),
  correctionDelayMs: z.number().int().min(0).default(30_000).describe('Late readings (for windows already closed) are gathered this long, then the indicators over them are computed again from storage and stored values that change are corrected (revision + 1).'),
  correctionHorizonHours: z.number().min(0).max(24 * 31).default(48).describe('Late readings older than this correct nothing (counted as late, as before).'),
}).prefault({})

export type IndicatorHistoryConfig = z.output<typeof IndicatorHistoryConfigSchema>

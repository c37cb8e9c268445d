import { z } from 'zod'
import { AirQualityConfigSchema } from './air-quality/config.ts'
import { FloodConfigSchema } from './flood/config.ts'
import { IndicatorHistoryConfigSchema } from './history/config.ts'
import { LightingConfigSchema } from './lighting/config.ts'
import { TrafficConfigSchema } from './traffic/config.ts'
import { WaterConfigSchema } from './water/config.ts'

/** `processors.indicators` in the ingest config (docs/indicators.md#configuration). */
export const IndicatorsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the city indicators at all.'),
  allowedLatenessMs: z.number().int().min(0).default(120_000).describe('A window closes once the newest event time seen is this far past its end; readings arriving later are counted as late and left out.'),
  idleTickMs: z.number().int().min(100).default(10_000).describe('While no reading arrives, the watermark advances with the wall clock this often, so quiet windows still close.'),
  includeNonGood: z.boolean().default(false).describe('Use readings whose quality is not GOOD (stuck, saturated, spike...). Off: flagged readings never reach an indicator.'),
  maxFutureSkewMs: z.number().int().min(0).default(300_000).describe('Readings stamped further ahead of their receive time do not move the watermark.'),
  airQuality: AirQualityConfigSchema,
  traffic: TrafficConfigSchema,
  water: WaterConfigSchema,
  lighting: LightingConfigSchema,
  flood: FloodConfigSchema,
  history: IndicatorHistoryConfigSchema.describe('Indicator history: indicator_values, the warm-up at start, corrections by late readings (docs/indicators.md#history).'),
}).prefault({})

export type IndicatorsConfig = z.output<typeof IndicatorsConfigSchema>

import { z } from 'zod'
import { DEFAULT_QUALITY_RULES, type QualityRule } from './defaults.ts'
import { PLAUSIBILITY_PRESETS, PLAUSIBILITY_REGIONS, type PlausibleRange } from './plausibility.ts'

const positive = z.number().positive()

export const QualityRuleSchema = z.strictObject({
  stuckReadings: z.number().int().min(2).optional().describe('Consecutive identical values that make a reading stuck; absent: no stuck check.'),
  stuckMinDurationMs: z.number().int().min(0).optional().describe('The identical run must also span at least this many ms.'),
  stuckIgnoreValues: z.array(z.number()).optional().describe('Values allowed to repeat indefinitely (e.g. flow 0).'),
  saturationMax: z.number().optional().describe("The sensor's documented maximum output; values at or above it are SATURATED."),
  saturationMin: z.number().optional().describe("The sensor's documented minimum output; values at or below it are SATURATED."),
  maxRatePerSecond: positive.optional().describe('Largest physically possible |change| per second; faster is a SPIKE.'),
})

export const PlausibleRangeSchema = z.strictObject({
  min: z.number().optional().describe('Lowest plausible value, inclusive; absent: no lower bound.'),
  max: z.number().optional().describe('Highest plausible value, inclusive; absent: no upper bound.'),
}).refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, { message: 'min must not exceed max' })

export const PlausibilityConfigSchema = z.strictObject({
  region: z.enum(PLAUSIBILITY_REGIONS).default('vietnam')
    .describe('Climate preset of plausible ranges (processors/src/quality/plausibility.ts): vietnam (temperature -5..45 degC) or none.'),
  ranges: z.record(z.string(), PlausibleRangeSchema.nullable()).default({})
    .describe("Per-metric plausible ranges merged key by key over the region's preset; null removes a metric's range."),
}).prefault({}).describe('Plausibility check: a GOOD reading outside its metric\'s range is stored as OUT_OF_RANGE (1) with the IMPLAUSIBLE flag (4).')

export const QualityConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the plausibility, stuck, saturation and spike checks before the write.'),
  useDefaults: z.boolean().default(true).describe('Start from the built-in rules table (processors/src/quality/defaults.ts).'),
  rules: z.record(z.string(), QualityRuleSchema.nullable()).default({})
    .describe('Per-metric rules merged key by key over the defaults; null removes a metric\'s rules.'),
  plausibility: PlausibilityConfigSchema,
}).describe('Quality checks that set telemetry.quality to OUT_OF_RANGE (implausible for the region), STUCK, SATURATED or SPIKE.')

export type QualityConfig = z.infer<typeof QualityConfigSchema>
/** What a caller may pass: any key left out takes its default. */
export type QualityConfigInput = z.input<typeof QualityConfigSchema>

/** The effective rule table: defaults (unless turned off) with each metric's override merged over it. */
export function resolveQualityRules(config: QualityConfig): Map<string, QualityRule> {
  const rules = new Map<string, QualityRule>()
  if (config.useDefaults) for (const [metric, rule] of Object.entries(DEFAULT_QUALITY_RULES)) rules.set(metric, rule)
  for (const [metric, override] of Object.entries(config.rules)) {
    if (override === null) rules.delete(metric)
    else rules.set(metric, { ...rules.get(metric), ...override })
  }
  return rules
}

/** The effective plausible ranges: the region's preset with each metric's override merged over it. */
export function resolvePlausibleRanges(config: QualityConfig): Map<string, PlausibleRange> {
  const ranges = new Map<string, PlausibleRange>()
  const preset: Readonly<Record<string, PlausibleRange>> = PLAUSIBILITY_PRESETS[config.plausibility.region]
  for (const [metric, range] of Object.entries(preset)) ranges.set(metric, range)
  for (const [metric, override] of Object.entries(config.plausibility.ranges)) {
    if (override === null) ranges.delete(metric)
    else ranges.set(metric, { ...ranges.get(metric), ...override })
  }
  for (const [metric, r] of ranges) {
    if (r.min !== undefined && r.max !== undefined && r.min > r.max) {
      throw new Error(`processors.quality.plausibility.ranges.${metric}: min ${r.min} exceeds max ${r.max} once merged over the ${config.plausibility.region} preset`)
    }
  }
  return ranges
}

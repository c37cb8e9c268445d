import { z } from 'zod'
import { DEFAULT_QUALITY_RULES, type QualityRule } from './defaults.ts'

const positive = z.number().positive()

export const QualityRuleSchema = z.strictObject({
  stuckReadings: z.number().int().min(2).optional().describe('Consecutive identical values that make a reading stuck; absent: no stuck check.'),
  stuckMinDurationMs: z.number().int().min(0).optional().describe('The identical run must also span at least this many ms.'),
  stuckIgnoreValues: z.array(z.number()).optional().describe('Values allowed to repeat indefinitely (e.g. flow 0).'),
  saturationMax: z.number().optional().describe("The sensor's documented maximum output; values at or above it are SATURATED."),
  saturationMin: z.number().optional().describe("The sensor's documented minimum output; values at or below it are SATURATED."),
  maxRatePerSecond: positive.optional().describe('Largest physically possible |change| per second; faster is a SPIKE.'),
})

export const QualityConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the stuck, saturation and spike checks before the write.'),
  useDefaults: z.boolean().default(true).describe('Start from the built-in rules table (processors/src/quality/defaults.ts).'),
  rules: z.record(z.string(), QualityRuleSchema.nullable()).default({})
    .describe('Per-metric rules merged key by key over the defaults; null removes a metric\'s rules.'),
}).describe('Quality checks that set telemetry.quality to STUCK, SATURATED or SPIKE.')

export type QualityConfig = z.infer<typeof QualityConfigSchema>

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

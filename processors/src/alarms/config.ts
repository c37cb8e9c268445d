import { z } from 'zod'

/** Rule ids appear in MQTT topics and URLs, so they are kept to a safe alphabet. */
export const RULE_ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/

const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const
const INDICATOR_SCOPES = ['device', 'district', 'road_segment', 'metered_area', 'circuit'] as const

const common = {
  id: z.string().regex(RULE_ID_PATTERN, 'a rule id is 1-64 characters: lowercase letters, digits, "_", "." or "-", starting with a letter or digit')
    .describe('Unique rule id; part of the alarm topic and of every alarm the rule raises.'),
  severity: z.enum(SEVERITIES).default('warning').describe('critical, major, minor, warning or info.'),
  message: z.string().min(1).optional().describe('Template of the raise message; placeholders in docs/alarms.md. A default per rule type.'),
  clearMessage: z.string().min(1).optional().describe('Template of the clear message. A default per rule type.'),
  escalateAfterMinutes: z.number().positive().optional()
    .describe('Escalate an alarm of this rule not acknowledged this many minutes after it was raised (overrides `escalation` for its severity).'),
}

const deviceFilter = {
  domains: z.array(z.string().min(1)).min(1).optional().describe('Only devices of these domains; all when absent.'),
  devices: z.array(z.string().min(1)).min(1).optional().describe('Only these device ids; `*` and `?` are wildcards. All when absent.'),
  includeNonGood: z.boolean().default(false)
    .describe('Evaluate readings whose quality is not GOOD (0). By default they neither raise nor clear.'),
}

const limits = {
  raiseAbove: z.number().optional().describe('Raise when the value is above this.'),
  clearBelow: z.number().optional().describe('Clear when the value is below this (at most raiseAbove); defaults to raiseAbove.'),
  raiseBelow: z.number().optional().describe('Raise when the value is below this.'),
  clearAbove: z.number().optional().describe('Clear when the value is above this (at least raiseBelow); defaults to raiseBelow.'),
  forSeconds: z.number().min(0).default(0).describe('The raise condition must hold this long (reading time) before the alarm is raised.'),
  clearForSeconds: z.number().min(0).default(0).describe('The clear condition must hold this long before the alarm clears.'),
}

type Limits = { raiseAbove?: number | undefined; clearBelow?: number | undefined; raiseBelow?: number | undefined; clearAbove?: number | undefined }

/**
 * Cross-field checks run even when other fields of the rule are wrong (zod
 * skips a refinement once its object has issues), so validate-config lists
 * every problem at once; they then see unvalidated values: compare numbers only.
 * (The same as core's EVEN_WITH_OTHER_PROBLEMS; processors do not depend on core.)
 */
const EVEN_WITH_OTHER_PROBLEMS = { when: (payload: { value: unknown }) => typeof payload.value === 'object' && payload.value !== null }
const num = (v: unknown): v is number => typeof v === 'number'

function checkLimits(rule: Limits, ctx: z.RefinementCtx): void {
  const above = rule.raiseAbove !== undefined
  const below = rule.raiseBelow !== undefined
  if (above === below) {
    ctx.addIssue({ code: 'custom', message: 'set exactly one of raiseAbove (with optional clearBelow) or raiseBelow (with optional clearAbove)', path: ['raiseAbove'] })
    return
  }
  if (above && rule.clearAbove !== undefined) ctx.addIssue({ code: 'custom', message: 'clearAbove goes with raiseBelow; with raiseAbove use clearBelow', path: ['clearAbove'] })
  if (below && rule.clearBelow !== undefined) ctx.addIssue({ code: 'custom', message: 'clearBelow goes with raiseAbove; with raiseBelow use clearAbove', path: ['clearBelow'] })
  if (above && num(rule.clearBelow) && num(rule.raiseAbove) && rule.clearBelow > rule.raiseAbove) {
    ctx.addIssue({ code: 'custom', message: `clearBelow (${rule.clearBelow}) must not be above raiseAbove (${rule.raiseAbove}): hysteresis clears on the safe side`, path: ['clearBelow'] })
  }
  if (below && num(rule.clearAbove) && num(rule.raiseBelow) && rule.clearAbove < rule.raiseBelow) {
    ctx.addIssue({ code: 'custom', message: `clearAbove (${rule.clearAbove}) must not be below raiseBelow (${rule.raiseBelow}): hysteresis clears on the safe side`, path: ['clearAbove'] })
  }
}

export const ThresholdRuleSchema = z.strictObject({
  type: z.literal('threshold'),
  ...common,
  ...deviceFilter,
  metric: z.string().min(1).describe('The metric the rule watches.'),
  ...limits,
}).superRefine(checkLimits, EVEN_WITH_OTHER_PROBLEMS)

export const RateOfChangeRuleSchema = z.strictObject({
  type: z.literal('rate_of_change'),
  ...common,
  ...deviceFilter,
  metric: z.string().min(1).describe('The metric the rule watches.'),
  windowSeconds: z.number().positive().default(60).describe('The change is measured from the oldest reading in this window to the newest.'),
  per: z.enum(['second', 'minute', 'hour']).default('minute').describe('Unit of time of the rate limits.'),
  direction: z.enum(['rise', 'fall', 'both']).default('both').describe('Which changes count: rising, falling, or either (absolute value).'),
  raiseAbove: z.number().positive().describe('Raise when the rate (units of the metric per `per`) is above this.'),
  clearBelow: z.number().min(0).optional().describe('Clear when the rate is below this; defaults to raiseAbove.'),
  forSeconds: limits.forSeconds,
  clearForSeconds: limits.clearForSeconds,
}).superRefine((rule, ctx) => {
  if (num(rule.clearBelow) && num(rule.raiseAbove) && rule.clearBelow > rule.raiseAbove) {
    ctx.addIssue({ code: 'custom', message: `clearBelow (${rule.clearBelow}) must not be above raiseAbove (${rule.raiseAbove})`, path: ['clearBelow'] })
  }
}, EVEN_WITH_OTHER_PROBLEMS)

export const StaleRuleSchema = z.strictObject({
  type: z.literal('stale'),
  ...common,
  domains: deviceFilter.domains,
  devices: deviceFilter.devices,
  metric: z.string().min(1).optional().describe('Only readings of this metric count as a sign of life; any metric when absent.'),
  expectedIntervalSeconds: z.number().positive().describe('How often the device is expected to report.'),
  missedIntervals: z.number().int().min(1).default(3).describe('Raise after this many expected intervals without a reading.'),
})

export const IndicatorRuleSchema = z.strictObject({
  type: z.literal('indicator'),
  ...common,
  indicator: z.string().min(1).describe('Indicator name, e.g. vn_aqi_hourly (docs/indicators.md).'),
  scopes: z.array(z.enum(INDICATOR_SCOPES)).min(1).optional().describe('Only these scopes (device, district, ...); all when absent.'),
  keys: z.array(z.string().min(1)).min(1).optional().describe('Only these keys (device ids or group names); `*` and `?` are wildcards.'),
  ...limits,
}).superRefine(checkLimits, EVEN_WITH_OTHER_PROBLEMS)

export const AlarmRuleSchema = z.discriminatedUnion('type', [ThresholdRuleSchema, RateOfChangeRuleSchema, StaleRuleSchema, IndicatorRuleSchema])

export const AlarmsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the alarm engine.'),
  rules: z.array(AlarmRuleSchema).default([]).describe('The alarm rules (docs/alarms.md).').superRefine((rules, ctx) => {
    const seen = new Map<string, number>()
    rules.forEach((rule, i) => {
      if (typeof rule !== 'object' || rule === null || typeof rule.id !== 'string') return
      const first = seen.get(rule.id)
      if (first !== undefined) ctx.addIssue({ code: 'custom', message: `duplicate rule id "${rule.id}" (also rules.${first})`, path: [i, 'id'] })
      else seen.set(rule.id, i)
    })
  }, { when: (payload) => Array.isArray(payload.value) }),
  flapping: z.strictObject({
    maxTransitions: z.number().int().min(2).default(4).describe('More raise/clear transitions than this within windowSeconds marks an alarm flapping.'),
    windowSeconds: z.number().positive().default(600).describe('The flapping window; a flapping alarm clears only after its clear condition has held this long.'),
  }).prefault({}).describe('Flapping suppression.'),
  staleCheckIntervalSeconds: z.number().positive().optional()
    .describe('How often stale rules are checked; defaults to the smallest expectedIntervalSeconds, between 1 and 60.'),
  maxShelveMinutes: z.number().positive().default(480)
    .describe('The longest an operator may shelve an alarm, in minutes (8 h by default).'),
  escalation: z.array(z.strictObject({
    severity: z.enum(SEVERITIES).describe('Alarms of this severity ...'),
    afterMinutes: z.number().positive().describe('... not acknowledged this many minutes after they were raised raise an `escalated` event, once.'),
  })).default([]).describe('Escalation of unacknowledged alarms by severity (docs/alarms.md#escalation); a rule\'s escalateAfterMinutes overrides it.').superRefine((list, ctx) => {
    const seen = new Set<unknown>()
    list.forEach((e, i) => {
      if (typeof e !== 'object' || e === null) return
      if (seen.has(e.severity)) ctx.addIssue({ code: 'custom', message: `severity "${e.severity}" is listed twice`, path: [i, 'severity'] })
      seen.add(e.severity)
    })
  }, { when: (payload) => Array.isArray(payload.value) }),
  maxQueuedWrites: z.number().int().min(100).default(10_000)
    .describe('Alarm changes waiting to be written to the database; beyond this new changes are not persisted (counted, logged).'),
})

export type AlarmsConfig = z.output<typeof AlarmsConfigSchema>
export type AlarmsConfigInput = z.input<typeof AlarmsConfigSchema>
export type AlarmRule = z.output<typeof AlarmRuleSchema>
export type ThresholdRule = z.output<typeof ThresholdRuleSchema>
export type RateOfChangeRule = z.output<typeof RateOfChangeRuleSchema>
export type StaleRule = z.output<typeof StaleRuleSchema>
export type IndicatorRule = z.output<typeof IndicatorRuleSchema>

/** Parses a config section, throwing one error that lists every problem by path. */
export function parseAlarmsConfig(raw: unknown): AlarmsConfig {
  const result = AlarmsConfigSchema.safeParse(raw ?? {})
  if (result.success) return result.data
  const problems = result.error.issues.map((i) => `alarms.${i.path.join('.')}: ${i.message}`)
  throw new Error(`Invalid alarms config:\n  ${problems.join('\n  ')}`)
}

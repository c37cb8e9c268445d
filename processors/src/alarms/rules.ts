import { compileDeviceMatcher } from '../stream/filter.ts'
import type { AlarmRule, IndicatorRule, RateOfChangeRule, ThresholdRule } from './config.ts'
import { type ConditionState, type ConditionTiming, Level } from './condition.ts'
import type { TemplateValues } from './template.ts'

/** A rule with everything evaluation needs precomputed. */
export interface CompiledRule {
  rule: AlarmRule
  timing: ConditionTiming
  /** Condition state per subject. */
  states: Map<string, ConditionState>
  /** Does a device (of this domain) fall under the rule? Cached per device id for wildcard patterns. */
  matches: (deviceId: string, domain: string | undefined) => boolean
  /** Threshold and indicator rules: the level a value is at. */
  level: (value: number) => Level
  raiseTemplate: string
  clearTemplate: string
  /** Placeholders that depend only on the rule. */
  values: TemplateValues
  /** Stale rules: silence after which the device is offline, and when each device was last heard. */
  timeoutMs: number
  lastHeard: Map<string, number>
  /** Stale rules: the only metric that counts as a sign of life, if any. */
  staleMetric: string | undefined
  /** Subjects whose condition is active, so stale rules skip a lookup when none is. */
  activeCount: number
  /** Rate rules: window, and the factor from units per ms to units per `per`. */
  windowMs: number
  perFactor: number
}

const PER_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const

function deviceMatcher(domains: readonly string[] | undefined, devices: readonly string[] | undefined): CompiledRule['matches'] {
  const domainSet = domains ? new Set(domains) : undefined
  const idMatch = devices ? compileDeviceMatcher(devices) : undefined
  const cache = new Map<string, boolean>()
  return (deviceId, domain) => {
    if (domainSet && (domain === undefined || !domainSet.has(domain))) return false
    if (!idMatch) return true
    let hit = cache.get(deviceId)
    if (hit === undefined) {
      hit = idMatch(deviceId)
      if (cache.size < 100_000) cache.set(deviceId, hit)
    }
    return hit
  }
}

function limitLevel(rule: ThresholdRule | IndicatorRule): { level: (v: number) => Level; limit: number; clearLimit: number; above: boolean } {
  if (rule.raiseAbove !== undefined) {
    const raise = rule.raiseAbove
    const clear = rule.clearBelow ?? raise
    return { level: (v) => (v > raise ? Level.Raise : v < clear ? Level.Clear : Level.Band), limit: raise, clearLimit: clear, above: true }
  }
  const raise = rule.raiseBelow!
  const clear = rule.clearAbove ?? raise
  return { level: (v) => (v < raise ? Level.Raise : v > clear ? Level.Clear : Level.Band), limit: raise, clearLimit: clear, above: false }
}

function rateLevel(rule: RateOfChangeRule): (rate: number) => Level {
  const raise = rule.raiseAbove
  const clear = rule.clearBelow ?? raise
  const magnitude = rule.direction === 'rise' ? (r: number) => r : rule.direction === 'fall' ? (r: number) => -r : Math.abs
  return (rate) => {
    const m = magnitude(rate)
    return m > raise ? Level.Raise : m < clear ? Level.Clear : Level.Band
  }
}

export function compileRule(rule: AlarmRule): CompiledRule {
  const base = {
    rule,
    states: new Map<string, ConditionState>(),
    lastHeard: new Map<string, number>(),
    staleMetric: rule.type === 'stale' ? rule.metric : undefined,
    activeCount: 0,
    timeoutMs: 0,
    windowMs: 0,
    perFactor: 1,
    timing: { forMs: 0, clearForMs: 0 },
  }
  const values: TemplateValues = { rule: rule.id, severity: rule.severity }
  switch (rule.type) {
    case 'threshold': {
      const l = limitLevel(rule)
      Object.assign(values, { metric: rule.metric, limit: l.limit, clearLimit: l.clearLimit })
      return {
        ...base,
        timing: { forMs: rule.forSeconds * 1000, clearForMs: rule.clearForSeconds * 1000 },
        matches: deviceMatcher(rule.domains, rule.devices),
        level: l.level,
        values,
        raiseTemplate: rule.message ?? `{metric} on {subject} is {value}, ${l.above ? 'above' : 'below'} {limit}`,
        clearTemplate: rule.clearMessage ?? `{metric} on {subject} is back to {value} (clears ${l.above ? 'below' : 'above'} {clearLimit})`,
      }
    }
    case 'rate_of_change': {
      const clearLimit = rule.clearBelow ?? rule.raiseAbove
      Object.assign(values, { metric: rule.metric, limit: rule.raiseAbove, clearLimit, per: rule.per, windowSeconds: rule.windowSeconds })
      return {
        ...base,
        timing: { forMs: rule.forSeconds * 1000, clearForMs: rule.clearForSeconds * 1000 },
        matches: deviceMatcher(rule.domains, rule.devices),
        level: rateLevel(rule),
        values,
        windowMs: rule.windowSeconds * 1000,
        perFactor: PER_MS[rule.per],
        raiseTemplate: rule.message ?? '{metric} on {subject} changes by {value} per {per}, faster than {limit}',
        clearTemplate: rule.clearMessage ?? '{metric} on {subject} changes by {value} per {per} again (clears below {clearLimit})',
      }
    }
    case 'stale': {
      const timeoutMs = rule.expectedIntervalSeconds * rule.missedIntervals * 1000
      Object.assign(values, { metric: rule.metric ?? 'any metric', expectedSeconds: rule.expectedIntervalSeconds, silentMinutes: Number((timeoutMs / 60_000).toFixed(1)) })
      return {
        ...base,
        timeoutMs,
        matches: deviceMatcher(rule.domains, rule.devices),
        level: () => Level.Band,
        values,
        raiseTemplate: rule.message ?? '{subject} has sent no reading for {silentMinutes} min (expected every {expectedSeconds} s): device offline',
        clearTemplate: rule.clearMessage ?? '{subject} is reporting again',
      }
    }
    case 'indicator': {
      const l = limitLevel(rule)
      Object.assign(values, { indicator: rule.indicator, metric: rule.indicator, limit: l.limit, clearLimit: l.clearLimit })
      const keyMatch = rule.keys ? compileDeviceMatcher(rule.keys) : () => true
      const scopes = rule.scopes ? new Set<string>(rule.scopes) : undefined
      return {
        ...base,
        timing: { forMs: rule.forSeconds * 1000, clearForMs: rule.clearForSeconds * 1000 },
        // For indicators the "device" is the indicator key and the "domain" its scope.
        matches: (key, scope) => (!scopes || (scope !== undefined && scopes.has(scope))) && keyMatch(key),
        level: l.level,
        values,
        raiseTemplate: rule.message ?? `{indicator} for {subject} is {value}{levelText}, ${l.above ? 'above' : 'below'} {limit}`,
        clearTemplate: rule.clearMessage ?? `{indicator} for {subject} is back to {value}{levelText}`,
      }
    }
  }
}


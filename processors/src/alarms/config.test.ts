import { describe, expect, test } from 'vitest'
import { AlarmsConfigSchema, parseAlarmsConfig } from './config.ts'

describe('alarms config', () => {
  test('an empty config is valid and has every default', () => {
    expect(parseAlarmsConfig({})).toEqual({ enabled: true, rules: [], flapping: { maxTransitions: 4, windowSeconds: 600 }, maxQueuedWrites: 10_000, maxShelveMinutes: 480, escalation: [] })
    expect(parseAlarmsConfig(undefined).rules).toEqual([])
  })

  test('rule defaults are filled in', () => {
    const config = parseAlarmsConfig({ rules: [{ id: 'offline', type: 'stale', expectedIntervalSeconds: 60 }, { id: 'pm', type: 'threshold', metric: 'pm25', raiseAbove: 50 }] })
    expect(config.rules[0]).toMatchObject({ severity: 'warning', missedIntervals: 3 })
    expect(config.rules[1]).toMatchObject({ forSeconds: 0, clearForSeconds: 0, includeNonGood: false })
  })

  test('every problem is reported at once, by path', () => {
    let message = ''
    try {
      parseAlarmsConfig({
        rules: [
          { id: 'Bad Id', type: 'threshold', metric: 'pm25', raiseAbove: 50 },
          { id: 'both', type: 'threshold', metric: 'pm25', raiseAbove: 50, raiseBelow: 10 },
          { id: 'inverted', type: 'threshold', metric: 'pm25', raiseAbove: 50, clearBelow: 60 },
          { id: 'inverted', type: 'indicator', indicator: 'vn_aqi_hourly', raiseBelow: 10, clearAbove: 5 },
          { id: 'what', type: 'magic' },
          { id: 'stale', type: 'stale' },
        ],
        flapping: { maxTransitions: 1 },
        colour: 'red',
      })
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toContain('alarms.rules.0.id: a rule id is 1-64 characters')
    expect(message).toContain('alarms.rules.1.raiseAbove: set exactly one of raiseAbove')
    expect(message).toContain('alarms.rules.2.clearBelow: clearBelow (60) must not be above raiseAbove (50)')
    expect(message).toContain('alarms.rules.3.clearAbove: clearAbove (5) must not be below raiseBelow (10)')
    expect(message).toContain('alarms.rules.4.type')
    expect(message).toContain('alarms.rules.5.expectedIntervalSeconds')
    expect(message).toContain('alarms.flapping.maxTransitions')
    expect(message).toMatch(/colour/)
  })

  test('duplicate rule ids are refused', () => {
    const result = AlarmsConfigSchema.safeParse({ rules: [{ id: 'a', type: 'stale', expectedIntervalSeconds: 1 }, { id: 'a', type: 'stale', expectedIntervalSeconds: 2 }] })
    expect(result.success).toBe(false)
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['rules.1.id', 'duplicate rule id "a" (also rules.0)']])
  })
})

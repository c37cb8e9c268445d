import { Quality, RowFlags } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import { Rows } from '@gridline/core'
import { QualityConfigSchema } from './config.ts'
import { QualityChecker } from './quality-checker.ts'

const MIN = 60_000
const T0 = Date.UTC(2026, 10, 28, 3, 0, 0)

/** One message per reading, as the hot path calls it; returns the stored qualities. */
function run(checker: QualityChecker, metric: string, values: number[], stepMs = 150_000, quality: number = Quality.GOOD): number[] {
  return values.map((value, i) => {
    const rows = new Rows()
    rows.push(T0 + i * stepMs, 'aq-1', metric, value, quality, i, 0)
    checker.apply(rows)
    return rows.quality[0]!
  })
}

const G = Quality.GOOD
const ST = Quality.STUCK
const SA = Quality.SATURATED
const SP = Quality.SPIKE

describe('QualityChecker', () => {
  test.each([
    ['pm25 at the SDS011 ceiling', 'pm25', [20, 999.9, 21], [G, SA, G]],
    ['pm10 at the firmware ceiling', 'pm10', [40, 1999.9, 41], [G, SA, G]],
    ['pm25 high but below the ceiling', 'pm25', [20, 998, 21], [G, G, G]],
    ['humidity 99.9 alone is not saturation', 'humidity', [98, 99.9, 98], [G, G, G]],
    ['temperature jump of 15 degC in 150 s', 'temperature', [28, 43, 28.2], [G, SP, G]],
    ['temperature moving 2 degC in 150 s', 'temperature', [28, 30, 32], [G, G, G]],
    ['metric without rules', 'lamp_on', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], Array(12).fill(G)],
  ])('%s', (_name, metric, values, expected) => {
    expect(run(new QualityChecker(), metric, values as number[])).toEqual(expected)
  })

  test('a stuck run is flagged from its Nth reading on, and a new value ends it', () => {
    const values = [...Array(12).fill(99.9), 97.1, 97.1]
    const expected = [...Array(9).fill(G), ST, ST, ST, G, G]
    const checker = new QualityChecker()
    expect(run(checker, 'humidity', values)).toEqual(expected)
    expect(checker.counts.stuck).toBe(3)
  })

  test('a stuck run also needs its minimum duration', () => {
    // Ten identical readings one second apart span 9 s, far below the 20 min humidity rule.
    expect(run(new QualityChecker(), 'humidity', Array(12).fill(80), 1000)).toEqual(Array(12).fill(G))
  })

  test('ignored values may repeat (no flow while the pump is off)', () => {
    expect(run(new QualityChecker(), 'flow', Array(40).fill(0), 5 * MIN).every((q) => q === G)).toBe(true)
    expect(run(new QualityChecker(), 'flow', Array(40).fill(12.5), 5 * MIN).slice(-5)).toEqual(Array(5).fill(ST))
  })

  test('device-flagged and out-of-range rows keep their quality and do not feed the checks', () => {
    const checker = new QualityChecker()
    expect(run(checker, 'pm25', [999.9, 999.9], 150_000, Quality.BAD)).toEqual([Quality.BAD, Quality.BAD])
    expect(run(checker, 'pm25', [1200], 150_000, Quality.OUT_OF_RANGE)).toEqual([Quality.OUT_OF_RANGE])
    expect(checker.counts).toEqual({ stuck: 0, saturated: 0, spike: 0, implausible: 0 })
  })

  test('spikes are measured against the last accepted reading, so the return is good', () => {
    expect(run(new QualityChecker(), 'level', [1.0, 1.02, 9.5, 1.04, 1.05], 10_000)).toEqual([G, G, SP, G, G])
  })

  test('a real step is accepted once enough time has passed for it to be possible', () => {
    // Level may rise 3 m/min: +4 m is a spike after 10 s, but not two minutes after the last good reading.
    expect(run(new QualityChecker(), 'level', [1, 5, 5], 60_000)).toEqual([G, SP, G])
  })

  test('series are kept per device and metric', () => {
    const checker = new QualityChecker()
    const rows = new Rows()
    for (let i = 0; i < 12; i++) {
      rows.push(T0 + i * 150_000, 'aq-1', 'humidity', 99.9, G, i, 0)
      rows.push(T0 + i * 150_000, 'aq-2', 'humidity', 60 + i, G, i, 0)
    }
    checker.apply(rows)
    const q = rows.quality
    expect(q.filter((_, i) => i % 2 === 0 && q[i] === ST)).toHaveLength(3)
    expect(q.filter((_, i) => i % 2 === 1 && q[i] !== G)).toHaveLength(0)
  })

  test('config overrides merge over the defaults, and null removes a metric', () => {
    const checker = new QualityChecker({ rules: { humidity: { stuckReadings: 3, stuckMinDurationMs: 0 }, pm25: null } })
    expect(run(checker, 'humidity', [50, 50, 50, 50])).toEqual([G, G, ST, ST])
    expect(run(checker, 'pm25', [999.9])).toEqual([G])
    expect(run(new QualityChecker({ enabled: false }), 'pm25', [999.9])).toEqual([G])
  })

  test('an empty config is valid and a bad one names the path', () => {
    expect(QualityConfigSchema.parse({})).toEqual({ enabled: true, useDefaults: true, rules: {}, plausibility: { region: 'vietnam', ranges: {} } })
    const result = QualityConfigSchema.safeParse({ rules: { pm25: { stuckReadings: 'ten' } } })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.path).toEqual(['rules', 'pm25', 'stuckReadings'])
  })
})

/** Like run(), but returns [quality, flags] per reading. */
function runWithFlags(checker: QualityChecker, metric: string, values: number[], stepMs = 150_000): [number, number][] {
  return values.map((value, i) => {
    const rows = new Rows()
    rows.push(T0 + i * stepMs, 'aq-1', metric, value, G, i, RowFlags.BACKFILL)
    checker.apply(rows)
    return [rows.quality[0]!, rows.flags[0]!]
  })
}

const OR = Quality.OUT_OF_RANGE
const B = RowFlags.BACKFILL
const I = RowFlags.IMPLAUSIBLE

describe('QualityChecker plausibility (region presets)', () => {
  test.each([
    // The vietnam preset: temperature -5..45 degC, inclusive; the catalogue allows -20..60.
    ['45.0 degC is plausible (the bound is inclusive)', [44, 45], [[G, B], [G, B]]],
    ['45.1 degC is not: OUT_OF_RANGE with the IMPLAUSIBLE flag, other flags kept', [44, 45.1, 44.5], [[G, B], [OR, B | I], [G, B]]],
    ['55 degC (sun on the housing) is not', [50, 55], [[OR, B | I], [OR, B | I]]],
    ['-5 degC is, -5.5 degC is not', [-5, -5.5], [[G, B], [OR, B | I]]],
  ] as const)('%s', (_name, values, expected) => {
    expect(runWithFlags(new QualityChecker(), 'temperature', [...values])).toEqual(expected)
  })

  test('counted apart from the other checks; a metric without a range is not judged', () => {
    const checker = new QualityChecker()
    run(checker, 'temperature', [30, 46, 47, 31])
    run(checker, 'humidity', [100, 100])
    expect(checker.counts).toEqual({ stuck: 0, saturated: 0, spike: 0, implausible: 2 })
  })

  test('an implausible reading is no spike baseline; the reading after it is judged against the last plausible one', () => {
    // 150 s apart, 5 degC/min allows 12.5 degC per step: 30 -> 46 (implausible) -> 44 is +14 from 30 in 300 s: fine.
    expect(run(new QualityChecker(), 'temperature', [30, 46, 44])).toEqual([G, OR, G])
    // The first reading of a series being implausible leaves no baseline at all.
    expect(run(new QualityChecker(), 'temperature', [50, 30, 31])).toEqual([OR, G, G])
  })

  test('saturation wins over implausibility', () => {
    const checker = new QualityChecker({ plausibility: { ranges: { pm25: { max: 500 } } } })
    expect(run(checker, 'pm25', [20, 600, 999.9])).toEqual([G, OR, SA])
    expect(checker.counts).toMatchObject({ saturated: 1, implausible: 1 })
  })

  test('ranges merge key by key over the preset, null removes one, region none starts from nothing', () => {
    // A Hanoi deployment tightening the top only: the preset's -5 stays.
    const hanoi = new QualityChecker({ plausibility: { region: 'vietnam', ranges: { temperature: { max: 43 } } } })
    expect(run(hanoi, 'temperature', [43, 43.5, -5, -6], 60_000 * 60)).toEqual([G, OR, G, OR])
    expect(run(new QualityChecker({ plausibility: { ranges: { temperature: null } } }), 'temperature', [55])).toEqual([G])
    expect(run(new QualityChecker({ plausibility: { region: 'none' } }), 'temperature', [55])).toEqual([G])
    expect(run(new QualityChecker({ plausibility: { region: 'none', ranges: { rainfall: { max: 200 } } } }), 'rainfall', [150, 250])).toEqual([G, OR])
    expect(run(new QualityChecker({ enabled: false }), 'temperature', [55])).toEqual([G])
  })

  test('a bad range fails: per path in the schema, and once merged over the preset', () => {
    const result = QualityConfigSchema.safeParse({ plausibility: { region: 'mars', ranges: { temperature: { min: 10, max: 0 } } } })
    expect(result.success).toBe(false)
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['plausibility.ranges.temperature', 'plausibility.region'])
    expect(() => new QualityChecker({ plausibility: { ranges: { temperature: { min: 50 } } } }))
      .toThrow('processors.quality.plausibility.ranges.temperature: min 50 exceeds max 45')
  })
})

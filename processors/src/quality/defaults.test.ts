import { Quality } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import { Rows } from '@gridline/core'
import { QualityChecker } from './quality-checker.ts'

const T0 = Date.UTC(2026, 10, 1, 0, 0, 0)

/** One message per reading from one gauge, 10 s apart; returns the stored qualities. */
function run(metric: string, values: number[]): number[] {
  const checker = new QualityChecker()
  return values.map((value, i) => {
    const rows = new Rows()
    rows.push(T0 + i * 10_000, 'flood-street-01', metric, value, Quality.GOOD, i, 0)
    checker.apply(rows)
    return rows.quality[0]!
  })
}

describe('default quality rules', () => {
  test('flood gauges publish water_level, and a 9 m glitch on one is a spike', () => {
    // The street gauge in firmware-sim and docs/indicators.md#flood name the metric water_level.
    expect(run('water_level', [0.12, 0.13, 9.2, 0.14])).toEqual([Quality.GOOD, Quality.GOOD, Quality.SPIKE, Quality.GOOD])
  })

  test('a tank level keeps its own spike rule', () => {
    expect(run('level', [4.0, 4.01, 9.5, 4.02])).toEqual([Quality.GOOD, Quality.GOOD, Quality.SPIKE, Quality.GOOD])
  })
})

import { describe, expect, test } from 'vitest'
import type { IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { FloodConfigSchema } from './config.ts'
import { floodLevelName } from './flood-level.ts'
import { FloodProcessor } from './flood-processor.ts'

const MIN = 60_000

describe('flood indicators', () => {
  test.each([
    [0.9, 'normal'], [1.0, 'alert_1'], [2.5, 'alert_2'], [3.0, 'alert_3'], [4.2, 'alert_3'],
  ])('level %d m against [1, 2, 3] is %s', (level, name) => {
    expect(floodLevelName(level, [1, 2, 3])).toBe(name)
  })

  test('river gauge: level changes at once, level and rise rate every interval', () => {
    const stats = createIndicatorStats()
    const p = new FloodProcessor(FloodConfigSchema.parse({ intervalMs: 15 * MIN }), stats)
    const out: IndicatorEvent[] = []
    const gauge = { id: 'han-river', domain: 'environment', metadata: { gauge: 'river' as const, alertLevelsM: [1.5, 2.5, 3.5] } }
    const t0 = Date.parse('2026-11-01T00:00:00Z')
    // Rising 0.6 m/h: 0.1 m every 10 minutes from 1.2 m.
    for (let i = 0; i <= 4; i++) p.onReading(reading('han-river', 'water_level', t0 + i * 10 * MIN, 1.2 + 0.1 * i), gauge, out)
    const names = out.map((e) => [e.name, e.level, e.time])
    expect(names).toEqual([
      // 1.5 m at 00:30 crosses báo động I.
      // 00:20 reading closes 00:00-00:15 (2 points); 00:30 closes 00:15-00:30 before the level change at 00:30.
      ['flood_level', 'normal', t0 + 15 * MIN],
      ['flood_rise_rate', 'normal', t0 + 15 * MIN],
      ['flood_level', 'normal', t0 + 30 * MIN],
      ['flood_rise_rate', 'normal', t0 + 30 * MIN],
      ['flood_level', 'alert_1', t0 + 30 * MIN],
    ])
    expect(out[1]!.value).toBeCloseTo(0.6, 6)
    expect(out[4]!.details).toMatchObject({ change: true, previous: 'normal', alert1M: 1.5 })
  })

  test('a river gauge without alert levels is unknown and counted', () => {
    const stats = createIndicatorStats()
    const p = new FloodProcessor(FloodConfigSchema.parse({}), stats)
    const out: IndicatorEvent[] = []
    p.onReading(reading('g', 'water_level', 0, 2), { id: 'g', domain: 'environment', metadata: { gauge: 'river' } }, out)
    expect(out[0]).toMatchObject({ level: 'unknown' })
    expect(stats.missingMetadata).toBe(1)
  })
})

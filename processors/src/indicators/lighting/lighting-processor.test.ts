import { describe, expect, test } from 'vitest'
import type { IndicatorEvent } from '../../stream/events.ts'
import { createIndicatorStats } from '../shared/processor.ts'
import { reading } from '../shared/test-support.ts'
import { LightingConfigSchema } from './config.ts'
import { LightingProcessor } from './lighting-processor.ts'
import { sunTimes } from './sun.ts'

const MIN = 60_000
const lamp = (id: string) => ({ id, domain: 'lighting', metadata: { circuit: 'cab-12' } })

describe('sunrise and sunset', () => {
  test('Da Nang at the June solstice, against a hand calculation', () => {
    // δ = 23.44°, φ = 16.05°: cos ω0 = (sin(-0.833°) - sin φ sin δ) / (cos φ cos δ) = -0.1409 -> ω0 = 98.1° = 6 h 32 min.
    // Solar noon at 108.2° E with an equation of time of about -1.8 min: 12:00 + 7 h - 108.2 × 4 min + 1.8 min = 11:49 local.
    // Sunrise ≈ 05:17, sunset ≈ 18:21 (UTC+7).
    const t = sunTimes(Date.parse('2024-06-21T05:00:00Z'), 16.05, 108.2)!
    const local = (ms: number): number => ((ms / MIN + 420) % 1440)
    expect(Math.abs(local(t.sunrise) - (5 * 60 + 17))).toBeLessThanOrEqual(3)
    expect(Math.abs(local(t.sunset) - (18 * 60 + 21))).toBeLessThanOrEqual(3)
  })
})

describe('lighting indicators', () => {
  test('a lamp dark at night is reported failed after two readings, and recovered when it draws power', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const night = Date.parse('2026-01-10T22:00:00+07:00')
    p.onReading(reading('lamp-1', 'power', night, 0, 0, 'lighting'), lamp('lamp-1'), out)
    expect(out).toEqual([])
    p.onReading(reading('lamp-1', 'power', night + 10 * MIN, 1, 0, 'lighting'), lamp('lamp-1'), out)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ name: 'lamp_failure', key: 'lamp-1', value: 1, level: 'failed', details: { circuit: 'cab-12' } })
    p.onReading(reading('lamp-1', 'power', night + 20 * MIN, 120, 0, 'lighting'), lamp('lamp-1'), out)
    expect(out[1]).toMatchObject({ name: 'lamp_failure', value: 0, level: 'ok' })
    // In daylight a dark lamp is expected.
    const day = Date.parse('2026-01-11T12:00:00+07:00')
    p.onReading(reading('lamp-1', 'power', day, 0, 0, 'lighting'), lamp('lamp-1'), out)
    p.onReading(reading('lamp-1', 'power', day + MIN, 0, 0, 'lighting'), lamp('lamp-1'), out)
    expect(out).toHaveLength(2)
  })

  test('energy per lamp and circuit per night, and burning hours', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const night = p.nightAt(Date.parse('2026-01-10T23:00:00+07:00'))!
    expect(night.date).toBe('2026-01-10')
    // Two lamps at 100 W every 5 min from 20:00 to 04:00 local: 8 h × 100 W = 0.8 kWh each.
    const from = Date.parse('2026-01-10T20:00:00+07:00')
    for (let t = from; t <= from + 8 * 60 * MIN; t += 5 * MIN) {
      for (const id of ['lamp-1', 'lamp-2']) p.onReading(reading(id, 'power', t, 100, 0, 'lighting'), lamp(id), out)
    }
    p.onWatermark(night.end, out)
    const byKey = (name: string, scope: string) => out.filter((e) => e.name === name && e.scope === scope).map((e) => [e.key, e.value])
    expect(byKey('lighting_energy_night', 'device')).toEqual([['lamp-1', 0.8], ['lamp-2', 0.8]])
    expect(byKey('lighting_energy_night', 'circuit')).toEqual([['cab-12', 1.6]])
    expect(byKey('lamp_burning_hours', 'device')).toEqual([['lamp-1', 8], ['lamp-2', 8]])
  })
})

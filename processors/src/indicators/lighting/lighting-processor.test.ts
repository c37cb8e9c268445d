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

describe('issue 19: lamp faults', () => {
  const night = Date.parse('2026-01-10T21:00:00+07:00')
  const noon = Date.parse('2026-01-11T12:00:00+07:00')
  const rated = (id: string, circuit = 'cab-12') => ({ id, domain: 'lighting', metadata: { circuit, ratedPowerW: 120 } })
  const named = (out: IndicatorEvent[], name: string) => out.filter((e) => e.name === name)
  /** One report of a lamp controller, in the order firmware-sim's lamp sends it. */
  const report = (p: LightingProcessor, id: string, time: number, values: Record<string, number>, out: IndicatorEvent[], device = rated(id)) => {
    for (const [metric, value] of Object.entries(values)) p.onReading(reading(id, metric, time, value, 0, 'lighting'), device, out)
  }

  test('a lamp switched off by command at night is not failed', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    report(p, 'lamp-1', night, { lamp_on: 1, dim_level: 100, power: 121 }, out)
    // switch {on: false} succeeded at 21:00:30: the controller reports itself off from then on.
    for (let i = 1; i <= 10; i++) report(p, 'lamp-1', night + i * MIN, { lamp_on: 0, dim_level: 0, power: 0 }, out)
    // A controller that sends power before its switch state in the same report changes nothing.
    for (let i = 11; i <= 13; i++) report(p, 'lamp-1', night + i * MIN, { power: 0, lamp_on: 0 }, out)
    p.onWatermark(night + 13 * MIN, out)
    expect(named(out, 'lamp_failure')).toEqual([])
    // Switched on again and still dark: that is a failure.
    report(p, 'lamp-1', night + 20 * MIN, { lamp_on: 1, dim_level: 100, power: 0 }, out)
    report(p, 'lamp-1', night + 21 * MIN, { lamp_on: 1, dim_level: 100, power: 0 }, out)
    expect(named(out, 'lamp_failure')).toMatchObject([{ key: 'lamp-1', value: 1, level: 'failed' }])
  })

  test('a lamp drawing 55 W of 120 W rated is underpowered; 58 W dimmed to 50 % is not', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    report(p, 'lamp-1', night, { lamp_on: 1, dim_level: 50, power: 58 }, out)
    report(p, 'lamp-1', night + MIN, { lamp_on: 1, dim_level: 50, power: 59 }, out)
    expect(named(out, 'lamp_underpower')).toEqual([])
    report(p, 'lamp-1', night + 2 * MIN, { lamp_on: 1, dim_level: 100, power: 55 }, out)
    report(p, 'lamp-1', night + 3 * MIN, { lamp_on: 1, dim_level: 100, power: 55 }, out)
    expect(named(out, 'lamp_underpower')).toMatchObject([
      { key: 'lamp-1', value: 1, level: 'underpower', details: { powerW: 55, expectedW: 120, ratedPowerW: 120, circuit: 'cab-12' } },
    ])
    report(p, 'lamp-1', night + 4 * MIN, { lamp_on: 1, dim_level: 100, power: 119 }, out)
    expect(named(out, 'lamp_underpower').at(-1)).toMatchObject({ value: 0, level: 'ok' })
    expect(named(out, 'lamp_failure')).toEqual([])
  })

  test('a lamp burning at noon is a day burner, with the energy it wasted', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    for (let i = 0; i <= 60; i += 5) p.onReading(reading('lamp-1', 'power', noon + i * MIN, 120, 0, 'lighting'), rated('lamp-1'), out)
    p.onReading(reading('lamp-1', 'power', noon + 65 * MIN, 0, 0, 'lighting'), rated('lamp-1'), out)
    expect(named(out, 'lamp_day_burner')).toMatchObject([
      { key: 'lamp-1', value: 1, level: 'day_burner', time: noon + 5 * MIN },
      { key: 'lamp-1', value: 0, level: 'ok', details: { wastedKwh: 0.125 } },
    ])
  })

  test('a lamp that sends nothing at night is silent', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    p.onReading(reading('lamp-1', 'power', night, 120, 0, 'lighting'), rated('lamp-1'), out)
    for (let i = 1; i <= 30; i++) {
      p.onReading(reading('lamp-2', 'power', night + i * MIN, 120, 0, 'lighting'), rated('lamp-2', 'cab-3'), out)
      p.onWatermark(night + i * MIN - 2 * MIN, out)
    }
    expect(named(out, 'lamp_silent')).toMatchObject([{ key: 'lamp-1', value: 1, level: 'silent', details: { circuit: 'cab-12' } }])
    p.onReading(reading('lamp-1', 'power', night + 31 * MIN, 120, 0, 'lighting'), rated('lamp-1'), out)
    expect(named(out, 'lamp_silent').at(-1)).toMatchObject({ key: 'lamp-1', value: 0, level: 'ok' })
  })

  test('a whole circuit losing supply is one circuit fault, not a failure per lamp; one dark lamp of it is a lamp failure', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const ids = ['lamp-1', 'lamp-2', 'lamp-3', 'lamp-4', 'lamp-5']
    const tick = (minute: number, power: (id: string) => number) => {
      // Controllers report a few seconds apart within each minute.
      ids.forEach((id, k) => report(p, id, night + minute * MIN + k * 7_000, { lamp_on: 1, power: power(id) }, out, rated(id, 'cab-7')))
      p.onWatermark(night + minute * MIN - 2 * MIN, out)
    }
    for (let m = 0; m < 5; m++) tick(m, () => 120)
    // Supply lost at 21:05 (the controllers have their own supply and keep reporting).
    for (let m = 5; m < 20; m++) tick(m, () => 0)
    expect(named(out, 'lamp_failure')).toEqual([])
    expect(named(out, 'circuit_fault')).toMatchObject([
      { scope: 'circuit', key: 'cab-7', value: 1, level: 'fault', details: { lamps: 'lamp-1,lamp-2,lamp-3,lamp-4,lamp-5', dark: 5, silent: 0, lampsKnown: 5 } },
    ])
    // Supply back at 21:20; lamp-3 stays dark: it alone has failed.
    for (let m = 20; m < 35; m++) tick(m, (id) => (id === 'lamp-3' ? 0 : 120))
    expect(named(out, 'circuit_fault').map((e) => e.value)).toEqual([1, 0])
    expect(named(out, 'lamp_failure')).toMatchObject([{ key: 'lamp-3', value: 1, details: { circuit: 'cab-7' } }])
  })

  test('controllers of a circuit falling silent together are one circuit fault', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    const ids = ['lamp-1', 'lamp-2', 'lamp-3', 'lamp-4']
    for (let m = 0; m < 5; m++) ids.forEach((id, k) => report(p, id, night + m * MIN + k * 5_000, { power: 120 }, out, rated(id, 'cab-9')))
    // Nothing more from cab-9; another circuit keeps the watermark moving.
    for (let m = 5; m < 40; m++) {
      report(p, 'lamp-x', night + m * MIN, { power: 120 }, out, rated('lamp-x', 'cab-1'))
      p.onWatermark(night + m * MIN - 2 * MIN, out)
    }
    expect(named(out, 'lamp_silent')).toEqual([])
    expect(named(out, 'circuit_fault')).toMatchObject([{ key: 'cab-9', value: 1, details: { dark: 0, silent: 4 } }])
  })
})

describe('a lamp that reports no lamp_on follows its confirmed commands', () => {
  const night = Date.parse('2026-01-10T21:00:00+07:00')
  const device = { id: 'lamp-9', domain: 'lighting', metadata: { ratedPowerW: 120 } }
  const power = (p: LightingProcessor, minute: number, watts: number, out: IndicatorEvent[]) =>
    p.onReading(reading('lamp-9', 'power', night + minute * MIN, watts, 0, 'lighting'), device, out)
  const command = (minute: number, action: string, params: Record<string, unknown>, domain = 'lighting') =>
    ({ deviceId: 'lamp-9', domain, action, params, time: night + minute * MIN + 30_000 })
  const failures = (out: IndicatorEvent[]) => out.filter((e) => e.name === 'lamp_failure').map((e) => [e.value, (e.time - night) / MIN])

  test('switched off by command at night it is dark as told, not failed; switched on and still dark, it is', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    power(p, 0, 121, out)
    // switch {on: false} confirmed at 21:00:30; the controller only meters power.
    p.onCommand(command(0, 'switch', { on: false }))
    for (let m = 1; m <= 30; m++) power(p, m, 0, out)
    p.onWatermark(night + 30 * MIN, out)
    expect(failures(out)).toEqual([])
    // switch {on: true} at 21:30:30, and the lamp stays dark: a failure after two readings.
    p.onCommand(command(30, 'switch', { on: true }))
    power(p, 31, 0, out)
    power(p, 32, 0, out)
    expect(failures(out)).toEqual([[1, 32]])
  })

  test('without the command the same readings are a failure (what the hook changes)', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    power(p, 0, 121, out)
    for (let m = 1; m <= 3; m++) power(p, m, 0, out)
    expect(failures(out)).toEqual([[1, 2]])
  })

  test('schedule hands it back to the night; dim to 0 % is dark as told; other domains\' commands are not lamps\'', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    power(p, 0, 121, out)
    p.onCommand(command(0, 'dim', { level: 0 }))
    for (let m = 1; m <= 5; m++) power(p, m, 0, out)
    expect(failures(out)).toEqual([])
    p.onCommand(command(5, 'schedule', {}))
    // A water pump's schedule or switch-like command for the same id changes nothing here.
    p.onCommand(command(5, 'switch', { on: false }, 'water'))
    power(p, 6, 0, out)
    power(p, 7, 0, out)
    expect(failures(out)).toEqual([[1, 7]])
  })

  test('a reading stamped before the command is judged by the state before it', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    power(p, 0, 0, out)
    // Switched off at 21:00:30, then on at 21:02:30: the on-command reaches the indicators
    // before the 21:02 reading (taken while it was off) has come through the write.
    p.onCommand(command(0, 'switch', { on: false }))
    power(p, 1, 0, out)
    p.onCommand(command(2, 'switch', { on: true }))
    power(p, 2, 0, out)
    expect(failures(out)).toEqual([])
    // Lit after the on-command: fine.
    power(p, 3, 118, out)
    expect(failures(out)).toEqual([])
  })

  test('a command confirmed before the lamp\'s first reading applies from its first reading', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    p.onCommand(command(0, 'switch', { on: false }))
    for (let m = 1; m <= 5; m++) power(p, m, 0, out)
    expect(failures(out)).toEqual([])
  })

  test('the lamp\'s own newer lamp_on report overrides an older command', () => {
    const p = new LightingProcessor(LightingConfigSchema.parse({}), createIndicatorStats())
    const out: IndicatorEvent[] = []
    power(p, 0, 121, out)
    p.onCommand(command(0, 'switch', { on: false }))
    // It reports itself on (its schedule or a local switch) and dark: failed.
    p.onReading(reading('lamp-9', 'lamp_on', night + 2 * MIN, 1, 0, 'lighting'), device, out)
    power(p, 2, 0, out)
    power(p, 3, 0, out)
    expect(failures(out)).toEqual([[1, 3]])
  })
})

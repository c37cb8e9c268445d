import { describe, expect, test } from 'vitest'
import { Rng } from '../random.ts'
import { createModel } from './index.ts'
import { cityRainfall } from './weather.ts'

/** Epoch ms of a local Da Nang time (UTC+7) on a weekday, Wednesday 2026-11-25. */
const local = (hour: number, minute = 0, day = 25) => Date.UTC(2026, 10, day, hour - 7, minute)

function average(kind: Parameters<typeof createModel>[0], metric: string, at: (i: number) => number, n = 20, id = 'dev-1'): number {
  const model = createModel(kind, id, 42)
  const rng = new Rng(7)
  let sum = 0
  for (let i = 0; i < n; i++) sum += Number(model.read(at(i), rng)[metric])
  return sum / n
}

describe('street lights', () => {
  test.each([
    [12, false], [15, false], [22, true], [2, true], [6.5, false], [18.5, true],
  ])('at %s:00 local the lamp is on: %s', (hour, on) => {
    const values = createModel('street_light', 'lamp-1', 1).read(local(Math.floor(hour), (hour % 1) * 60), new Rng(1))
    expect(values.lamp_on).toBe(on)
    if (on) expect(values.power).toBeGreaterThan(0)
    else expect(values.power).toBe(0)
  })

  test('dims late at night, full output in the evening', () => {
    const model = createModel('street_light', 'lamp-1', 1)
    expect(model.read(local(20), new Rng(1)).dim_level).toBe(100)
    expect(model.read(local(2, 0, 26), new Rng(1)).dim_level).toBe(50)
  })

  test('energy grows only while the lamp draws power', () => {
    const model = createModel('street_light', 'lamp-1', 1)
    const rng = new Rng(1)
    const noon = Number(model.read(local(11), rng).energy)
    expect(Number(model.read(local(13), rng).energy)).toBe(noon)
    model.read(local(19), rng)
    expect(Number(model.read(local(21), rng).energy)).toBeGreaterThan(noon + 0.1)
  })

  test('commands switch and dim; the next reading shows it; unknown actions are rejected', () => {
    const model = createModel('street_light', 'lamp-1', 1)
    expect(model.command('switch', { on: true }).status).toBe('ok')
    expect(model.command('dim', { level: 30 }).status).toBe('ok')
    const values = model.read(local(12), new Rng(1))
    expect(values).toMatchObject({ lamp_on: true, dim_level: 30 })
    expect(Number(values.power)).toBeGreaterThan(20)
    expect(model.command('dim', { level: 130 }).status).toBe('rejected')
    expect(model.command('explode', {})).toMatchObject({ status: 'rejected', detail: expect.stringContaining('explode') })
  })
})

describe('traffic', () => {
  test('morning and evening rush hours carry far more traffic than the night, and speeds drop', () => {
    const at = (hour: number) => (i: number) => local(hour, 0, 23 + (i % 3)) + i * 60_000
    const night = average('traffic_counter', 'vehicle_count', at(3))
    const morning = average('traffic_counter', 'vehicle_count', at(7))
    const evening = average('traffic_counter', 'vehicle_count', at(17))
    expect(morning).toBeGreaterThan(night * 4)
    expect(evening).toBeGreaterThan(night * 4)
    expect(average('traffic_counter', 'avg_speed', at(17))).toBeLessThan(average('traffic_counter', 'avg_speed', at(3)))
  })
})

describe('water', () => {
  test('flow has its night minimum around 3:00 and a morning peak; pressure mirrors it', () => {
    const at = (hour: number) => (i: number) => local(hour) + i * 60_000
    expect(average('water_main', 'flow', at(6))).toBeGreaterThan(average('water_main', 'flow', at(3)) * 2.5)
    expect(average('water_main', 'pressure', at(3))).toBeGreaterThan(average('water_main', 'pressure', at(6)))
  })

  test('tanks fill overnight and drain through the day', () => {
    const at = (hour: number) => (i: number) => local(hour) + i * 60_000
    expect(average('tank', 'level', at(6))).toBeGreaterThan(average('tank', 'level', at(18)) + 1)
  })

  test('a pump obeys the pump command; other water devices reject it', () => {
    const pump = createModel('pump', 'pump-1', 1)
    expect(pump.read(local(10), new Rng(1)).pump_on).toBe(true)
    expect(pump.command('pump', { running: false }).status).toBe('ok')
    expect(pump.read(local(10), new Rng(1))).toMatchObject({ pump_on: false, flow: 0 })
    expect(pump.command('pump', { running: 'yes' }).status).toBe('rejected')
    expect(createModel('water_main', 'main-1', 1).command('pump', { running: true }).status).toBe('rejected')
  })
})

describe('environment and flood', () => {
  test('PM2.5 peaks at rush hour above the small hours; temperature peaks in the afternoon', () => {
    const dry = (hour: number) => (i: number) => local(hour, i)
    expect(average('air_quality', 'pm25', dry(7))).toBeGreaterThan(average('air_quality', 'pm25', dry(3)))
    expect(average('air_quality', 'temperature', dry(14))).toBeGreaterThan(average('air_quality', 'temperature', dry(4)) + 4)
  })

  test('river and street water levels rise with a storm and the rain gauge sees it', () => {
    // Find a stormy day for seed 42 within the first weeks of 2026 (deterministic, so always the same day).
    let stormPeak = 0
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2026, 2, 1) && !stormPeak; t += 1_800_000) {
      if (cityRainfall(t, 42) > 40) stormPeak = t
    }
    expect(stormPeak).toBeGreaterThan(0)
    const before = stormPeak - 8 * 3_600_000
    const after = stormPeak + 1 * 3_600_000
    const river = createModel('river_gauge', 'river-1', 42)
    const street = createModel('street_gauge', 'flood-1', 42)
    const rng = new Rng(1)
    expect(Number(river.read(after, rng).water_level)).toBeGreaterThan(Number(river.read(before, rng).water_level) + 0.3)
    expect(Number(street.read(after, rng).water_level)).toBeGreaterThan(Number(street.read(before, rng).water_level))
    expect(Number(street.read(stormPeak, rng).rainfall)).toBeGreaterThan(40)
  })
})

test('the same seed gives the same readings; another seed does not', () => {
  const series = (seed: number) => {
    const model = createModel('air_quality', 'aq-1', seed)
    const rng = new Rng(seed)
    return Array.from({ length: 5 }, (_, i) => model.read(local(8) + i * 60_000, rng))
  }
  expect(series(3)).toEqual(series(3))
  expect(series(3)).not.toEqual(series(4))
})

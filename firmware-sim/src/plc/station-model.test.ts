import { describe, expect, test } from 'vitest'
import { STATION_DESIGN, StationModel } from './station-model.ts'

// 05:00 in Da Nang: night-time demand, before the morning peak.
const NIGHT = Date.parse('2026-11-28T05:00:00+07:00')

function run(model: StationModel, seconds: number, stepS = 1): void {
  for (let t = 0; t < seconds; t += stepS) model.step(stepS)
}

describe('StationModel', () => {
  test('is deterministic from its seed and start time', () => {
    const a = new StationModel({ seed: 9, startTimeMs: NIGHT })
    const b = new StationModel({ seed: 9, startTimeMs: NIGHT })
    const c = new StationModel({ seed: 10, startTimeMs: NIGHT })
    run(a, 600)
    run(b, 600)
    run(c, 600)
    expect(a.snapshot()).toEqual(b.snapshot())
    expect(a.snapshot()).not.toEqual(c.snapshot())
  })

  test('the tank level integrates inflow minus outflow', () => {
    const model = new StationModel({ seed: 3, startTimeMs: NIGHT })
    for (let pump = 1; pump <= model.pumpCount; pump++) model.commandPump(pump, false)
    const before = model.snapshot()
    run(model, 600)
    const after = model.snapshot()
    expect(after.outflowM3h.value).toBe(0)
    // With the pumps off the tank only fills: about inflow * 10 min / area.
    const expectedRise = (before.inflowM3h.value / 6) / STATION_DESIGN.tankAreaM2
    expect(after.tankLevelM.value - before.tankLevelM.value).toBeGreaterThan(expectedRise * 0.8)
    expect(after.tankLevelM.value - before.tankLevelM.value).toBeLessThan(expectedRise * 1.2)
  })

  test('the controller starts another pump when the level rises above setpoint', () => {
    const model = new StationModel({ seed: 4, startTimeMs: NIGHT })
    model.setLevelSetpoint(1.5)
    const runningBefore = model.snapshot().pumps.filter((p) => p.running.value).length
    run(model, 1800)
    const snapshot = model.snapshot()
    expect(snapshot.pumps.filter((p) => p.running.value).length).toBeGreaterThan(runningBefore)
    expect(snapshot.tankLevelM.value).toBeLessThan(3)
  })

  test('a day runs without alarms and keeps the level near setpoint', () => {
    const model = new StationModel({ seed: 5, startTimeMs: NIGHT })
    let minLevel = Infinity
    let maxLevel = -Infinity
    for (let minute = 0; minute < 24 * 60; minute++) {
      run(model, 60, 5)
      const s = model.snapshot()
      minLevel = Math.min(minLevel, s.tankLevelM.value)
      maxLevel = Math.max(maxLevel, s.tankLevelM.value)
      expect(Object.values(s.alarms).some(Boolean), `alarm at minute ${minute}`).toBe(false)
    }
    expect(minLevel).toBeGreaterThan(2)
    expect(maxLevel).toBeLessThan(4)
  })

  test('pipe_burst lowers discharge pressure, raises outflow and raises the low pressure alarm', () => {
    const model = new StationModel({ seed: 6, startTimeMs: NIGHT })
    run(model, 60)
    const before = model.snapshot()
    model.setFault('pipe_burst')
    const after = model.snapshot()
    expect(after.dischargePressureBar.value).toBeLessThan(before.dischargePressureBar.value - 0.5)
    expect(after.outflowM3h.value).toBeGreaterThan(before.outflowM3h.value + 20)
    expect(after.alarms.lowPressure).toBe(true)
    model.setFault(null)
    expect(model.snapshot().alarms.lowPressure).toBe(false)
  })

  test('pump_trip stops the pump, marks its readings and starts a standby at once', () => {
    const model = new StationModel({ seed: 7, startTimeMs: NIGHT })
    model.setFault('pump_trip', 1)
    model.step(1)
    const s = model.snapshot()
    expect(s.pumps[0]!.running.value).toBe(false)
    expect(s.pumps[0]!.currentA.status).toBe('BadDeviceFailure')
    expect(s.pumps[0]!.speedPct.status).toBe('UncertainLastUsableValue')
    expect(s.pumps[1]!.running.value).toBe(true)
    expect(s.alarms.pumpTrip).toBe(true)
  })

  test('tank_overflow fills the tank until the level reads Uncertain at the rim', () => {
    const model = new StationModel({ seed: 8, startTimeMs: NIGHT })
    model.setFault('tank_overflow')
    let highSeen = false
    for (let minute = 0; minute < 6 * 60 && model.snapshot().tankLevelM.status === 'Good'; minute++) {
      run(model, 60, 5)
      highSeen ||= model.snapshot().alarms.tankHigh
    }
    const s = model.snapshot()
    expect(highSeen).toBe(true)
    expect(s.tankLevelM.status).toBe('UncertainEngineeringUnitsExceeded')
    expect(s.tankLevelM.value).toBeLessThanOrEqual(STATION_DESIGN.tankHeightM)
  })

  test('refuses a setpoint outside the tank and an unknown pump', () => {
    const model = new StationModel()
    expect(() => model.setLevelSetpoint(7)).toThrow(RangeError)
    expect(() => model.commandPump(4, true)).toThrow(/pumpIndex must be from 1 to 3/)
    expect(() => new StationModel({ pumps: 0 })).toThrow(RangeError)
  })
})

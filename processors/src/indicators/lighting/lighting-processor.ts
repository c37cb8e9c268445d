import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type ConfirmedCommand, type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { DAY_MS, MINUTE_MS, localDate, localDayStart } from '../shared/time.ts'
import type { LightingConfig } from './config.ts'
import { sunTimes } from './sun.ts'

/** A night: sunset of one local date to sunrise of the next. */
export interface NightSpan { key: number; date: string; start: number; end: number }

interface LampNight { energyWh: number; burningMs: number }
interface Lamp {
  circuit: string | undefined
  /** Registry metadata `ratedPowerW`: without it there is no underpower check. */
  ratedW: number | undefined
  lastTime: number
  lastPower: number | undefined
  /** Newest event time of any lighting reading (for silence). */
  lastSeen: number
  /**
   * The switch state: the controller's own (`lamp_on`), or what a confirmed
   * `switch` command set (for a controller that reports no lamp_on).
   * Undefined until known, and after a `schedule` command: the night decides.
   */
  switchedOn: boolean | undefined
  /** Event time of the report or command that set `switchedOn`: an older report does not undo a newer state. */
  switchedAt: number
  /** The dim level, %: the controller's `dim_level`, or a confirmed `dim` command's. */
  dimPct: number | undefined
  dimAt: number
  /** The newest command applied, and the state before it: readings stamped before it are judged by that. */
  commanded: { at: number; on: boolean | undefined; dimPct: number | undefined } | undefined
  darkCount: number
  /** Confirmed dark while it should be lit: since (event time), the metric and value that confirmed it. */
  dark: { since: number; cause: string; value: number } | undefined
  /** lamp_failure 1 was emitted. */
  failed: boolean
  /** Silent while it should be lit, since (event time). */
  silentSince: number | undefined
  silentReported: boolean
  /** Part of a raised circuit fault: its own failure or silence is not reported. */
  covered: boolean
  /** When its last trouble (dark or silent) ended. */
  recoveredAt: number
  underCount: number
  underpower: boolean
  burnCount: number
  /** Day burner: since when it burns in daylight and the energy it drew since, Wh; undefined when not. */
  dayBurner: { since: number; wastedWh: number; reported: boolean } | undefined
  nights: Map<number, LampNight>
}

interface Circuit { lamps: Set<string>; fault: boolean }

/** Event time between sweeps for silence and circuit faults: their limits are minutes. */
const SWEEP_MS = 30_000

/**
 * Lamp failure (should be lit but draws no power), underpower (lit below its
 * rated power at its dim level), day burner (draws power in daylight), silence
 * (sends nothing while it should be lit) and circuit fault (most of a circuit's
 * lamps dark or silent at once: one event instead of a failure per lamp); energy
 * per lamp and per circuit per night (trapezoidal integration of `power`),
 * burning hours per lamp per night. Night = sunset to sunrise at the configured
 * place. "Should be lit" follows the switch state: the controller's own
 * (`lamp_on`) when it reports one, else the last confirmed `switch` command
 * (`onCommand`), else (and after a `schedule` command) the night; a lamp dimmed
 * to 0 % should be dark.
 */
export class LightingProcessor implements IndicatorProcessor {
  readonly name = 'lighting'
  readonly metrics = ['power', 'lamp_on', 'lamp_fault', 'dim_level']
  private readonly lamps = new Map<string, Lamp>()
  private readonly circuits = new Map<string, Circuit>()
  private readonly nightCache = new Map<number, NightSpan | null>()
  private readonly openNights = new Map<number, NightSpan>()
  private closedBefore = -Infinity
  private lastSweep = -Infinity
  /** Commands for lamps not seen yet (the last few per lamp), applied at their first reading. */
  private readonly earlyCommands = new Map<string, ConfirmedCommand[]>()

  constructor(private readonly config: LightingConfig, private readonly stats: IndicatorStats) {}

  /** The night holding `time`, or undefined in daylight. */
  nightAt(time: number): NightSpan | undefined {
    const today = localDayStart(time, this.config.utcOffsetMinutes)
    for (const day of [today - DAY_MS, today]) {
      const night = this.night(day)
      if (night !== undefined && time >= night.start && time < night.end) return night
    }
    return undefined
  }

  private night(localDay: number): NightSpan | undefined {
    const cached = this.nightCache.get(localDay)
    if (cached !== undefined) return cached ?? undefined
    // Local noon lies on the local date's own UTC date for any offset within ±12 h.
    const localNoon = localDay + 12 * 3_600_000
    const today = sunTimes(localNoon, this.config.latitude, this.config.longitude)
    const tomorrow = sunTimes(localNoon + DAY_MS, this.config.latitude, this.config.longitude)
    const span = today === undefined || tomorrow === undefined ? undefined
      : { key: localDay, date: localDate(localDay, this.config.utcOffsetMinutes), start: today.sunset, end: tomorrow.sunrise }
    this.nightCache.set(localDay, span ?? null)
    if (this.nightCache.size > 64) this.nightCache.delete(this.nightCache.keys().next().value!)
    return span
  }

  /** The sunrise and sunset of the local day holding `time`. */
  private dayAt(time: number): { sunrise: number; sunset: number } | undefined {
    const today = localDayStart(time, this.config.utcOffsetMinutes)
    const before = this.night(today - DAY_MS)
    const after = this.night(today)
    return before === undefined || after === undefined ? undefined : { sunrise: before.end, sunset: after.start }
  }

  /** The start of the span in which lamps should be lit (night within its margins) holding `time`, or undefined. */
  private litSpanStart(time: number): number | undefined {
    const night = this.nightAt(time)
    if (night === undefined) return undefined
    const margin = this.config.marginMinutes * MINUTE_MS
    return time >= night.start + margin && time < night.end - margin ? night.start + margin : undefined
  }

  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    const m = reading.metric
    if (m !== 'power' && m !== 'lamp_on' && m !== 'lamp_fault' && m !== 'dim_level') return
    const lamp = this.lampOf(reading.deviceId, device)
    const t = reading.time
    if (t > lamp.lastSeen) lamp.lastSeen = t
    if (lamp.silentSince !== undefined) {
      lamp.silentSince = undefined
      lamp.recoveredAt = t
      if (lamp.silentReported) {
        lamp.silentReported = false
        out.push(this.lampEvent('lamp_silent', reading.deviceId, lamp, t, 0, 'ok', {}))
      }
    }
    if (m === 'dim_level') {
      if (t >= lamp.dimAt) { lamp.dimPct = reading.value; lamp.dimAt = t }
      return
    }
    const wasOn = lamp.switchedOn
    if (m === 'lamp_on' && t >= lamp.switchedAt) this.switchTo(lamp, reading.value >= 1, t)
    const prevTime = lamp.lastTime
    const prevPower = lamp.lastPower
    const night = this.nightAt(t)
    if (m === 'power') {
      if (t <= prevTime) { this.stats.late++; return }
      this.integrate(reading, lamp, night)
      this.judgeDaylight(reading, lamp, prevTime, prevPower, out)
      // Lit is not failed, whatever the time of day.
      if (reading.value > this.config.minPowerW) this.clearDark(reading, lamp, out)
    }
    const state = this.stateAt(lamp, t)
    // Dimmed to 0 % is off as well (a controller draws nothing at dim level 0).
    const expectedOn = (state.on ?? this.litSpanStart(t) !== undefined) && state.dimPct !== 0
    if (!expectedOn) return
    let dark: boolean | undefined
    if (m === 'power') dark = reading.value <= this.config.minPowerW
    else if (m === 'lamp_fault') dark = reading.value >= 1 ? true : undefined
    // lamp_on = 1 while it was already on and its latest power reading is ~0: switched on but not lit.
    else if (reading.value >= 1 && wasOn === true && prevPower !== undefined && t - prevTime <= this.config.maxGapMs) dark = prevPower <= this.config.minPowerW ? true : undefined
    if (dark === undefined) return
    if (dark) {
      lamp.darkCount++
      lamp.underCount = 0
      const confirmed = m === 'lamp_fault' || lamp.darkCount >= this.config.failureConfirmReadings
      if (confirmed && lamp.dark === undefined) {
        lamp.dark = { since: t, cause: m, value: reading.value }
        // A lamp on a circuit judged as a whole waits for the sweep (a circuit fault, or alone after the hold).
        if (!this.judgedAsCircuit(lamp)) this.reportFailure(reading.deviceId, lamp, out)
      }
    } else {
      lamp.darkCount = 0
      this.judgeUnderpower(reading, lamp, state.dimPct, out)
    }
  }

  /**
   * A confirmed lighting command: `switch` sets the switch state, `dim` the dim
   * level, `schedule` hands the lamp back to the night (docs/indicators.md#lighting).
   * A lamp's own newer `lamp_on` or `dim_level` report overrides it; readings
   * stamped before the command are still judged by the state before it.
   */
  onCommand(command: ConfirmedCommand): void {
    if (command.domain !== 'lighting') return
    const lamp = this.lamps.get(command.deviceId)
    if (lamp !== undefined) { this.applyCommand(lamp, command); return }
    const early = this.earlyCommands.get(command.deviceId) ?? []
    early.push(command)
    this.earlyCommands.set(command.deviceId, early.slice(-4))
    // Bounded: commands to lamps that never report.
    if (this.earlyCommands.size > 100_000) this.earlyCommands.delete(this.earlyCommands.keys().next().value!)
  }

  private applyCommand(lamp: Lamp, command: ConfirmedCommand): void {
    const t = command.time
    const before = { at: t, on: lamp.switchedOn, dimPct: lamp.dimPct }
    const { action, params } = command
    if (action === 'switch' && typeof params.on === 'boolean') {
      if (t < lamp.switchedAt) return
      this.switchTo(lamp, params.on, t)
    } else if (action === 'dim' && typeof params.level === 'number') {
      if (t < lamp.dimAt) return
      lamp.dimPct = params.level
      lamp.dimAt = t
    } else if (action === 'schedule') {
      if (t < lamp.switchedAt) return
      lamp.switchedOn = undefined
      lamp.switchedAt = t
      lamp.dimPct = undefined
      lamp.dimAt = t
    } else {
      return
    }
    lamp.commanded = before
  }

  private switchTo(lamp: Lamp, on: boolean, time: number): void {
    lamp.switchedOn = on
    lamp.switchedAt = time
    // Switched off (by a command or its schedule): dark is what it was told to be.
    if (!on) { lamp.darkCount = 0; lamp.underCount = 0 }
  }

  /** The switch state and dim level that held at `time`. */
  private stateAt(lamp: Lamp, time: number): { on: boolean | undefined; dimPct: number | undefined } {
    const c = lamp.commanded
    return c !== undefined && time < c.at ? c : { on: lamp.switchedOn, dimPct: lamp.dimPct }
  }

  private lampOf(id: string, device: DeviceInfo | undefined): Lamp {
    let lamp = this.lamps.get(id)
    if (lamp !== undefined) return lamp
    const rated = device?.metadata.ratedPowerW
    lamp = {
      circuit: groupOf(device, 'circuit'), ratedW: typeof rated === 'number' && Number.isFinite(rated) && rated > 0 ? rated : undefined,
      lastTime: -Infinity, lastPower: undefined, lastSeen: -Infinity, switchedOn: undefined, switchedAt: -Infinity, dimPct: undefined, dimAt: -Infinity, commanded: undefined,
      darkCount: 0, dark: undefined, failed: false, silentSince: undefined, silentReported: false, covered: false, recoveredAt: -Infinity,
      underCount: 0, underpower: false, burnCount: 0, dayBurner: undefined, nights: new Map(),
    }
    this.lamps.set(id, lamp)
    if (lamp.circuit !== undefined) {
      let c = this.circuits.get(lamp.circuit)
      if (c === undefined) { c = { lamps: new Set(), fault: false }; this.circuits.set(lamp.circuit, c) }
      c.lamps.add(id)
    }
    const early = this.earlyCommands.get(id)
    if (early !== undefined) {
      this.earlyCommands.delete(id)
      for (const command of early) this.applyCommand(lamp, command)
    }
    return lamp
  }

  private judgedAsCircuit(lamp: Lamp): boolean {
    return lamp.circuit !== undefined && (this.circuits.get(lamp.circuit)?.lamps.size ?? 0) >= this.config.circuitFaultMinLamps
  }

  private reportFailure(id: string, lamp: Lamp, out: IndicatorEvent[]): void {
    const dark = lamp.dark
    if (dark === undefined || lamp.failed) return
    lamp.failed = true
    out.push(this.failureEvent(id, lamp, dark.since, 1, dark.cause, dark.value))
  }

  private clearDark(reading: Reading, lamp: Lamp, out: IndicatorEvent[]): void {
    lamp.darkCount = 0
    if (lamp.dark === undefined) return
    lamp.dark = undefined
    lamp.recoveredAt = reading.time
    if (lamp.failed) {
      lamp.failed = false
      out.push(this.failureEvent(reading.deviceId, lamp, reading.time, 0, reading.metric, reading.value))
    }
  }

  /** Lit below `underpowerPct` of rated power at its dim level (only with `ratedPowerW`). */
  private judgeUnderpower(reading: Reading, lamp: Lamp, dimLevelPct: number | undefined, out: IndicatorEvent[]): void {
    if (reading.metric !== 'power' || lamp.ratedW === undefined) return
    const dimPct = dimLevelPct ?? 100
    const expectedW = (lamp.ratedW * dimPct) / 100
    if (expectedW <= this.config.minPowerW) return
    const low = reading.value < (expectedW * this.config.underpowerPct) / 100
    const details = { powerW: reading.value, expectedW, ratedPowerW: lamp.ratedW, dimLevelPct: dimPct }
    if (low) {
      lamp.underCount++
      if (!lamp.underpower && lamp.underCount >= this.config.failureConfirmReadings) {
        lamp.underpower = true
        out.push(this.lampEvent('lamp_underpower', reading.deviceId, lamp, reading.time, 1, 'underpower', details))
      }
    } else {
      lamp.underCount = 0
      if (lamp.underpower) {
        lamp.underpower = false
        out.push(this.lampEvent('lamp_underpower', reading.deviceId, lamp, reading.time, 0, 'ok', details))
      }
    }
  }

  /** Drawing power from `dayBurnerMarginMinutes` after sunrise to as long before sunset: a day burner, with the energy it wastes. */
  private judgeDaylight(reading: Reading, lamp: Lamp, prevTime: number, prevPower: number | undefined, out: IndicatorEvent[]): void {
    const day = this.dayAt(reading.time)
    const margin = this.config.dayBurnerMarginMinutes * MINUTE_MS
    const daylight = day !== undefined && reading.time >= day.sunrise + margin && reading.time < day.sunset - margin
    const burning = daylight && reading.value > this.config.minPowerW
    const db = lamp.dayBurner
    if (db !== undefined && prevPower !== undefined && reading.time - prevTime <= this.config.maxGapMs) {
      db.wastedWh += (((prevPower + reading.value) / 2) * (reading.time - prevTime)) / 3_600_000
    }
    if (burning) {
      lamp.burnCount++
      if (db === undefined) lamp.dayBurner = { since: reading.time, wastedWh: 0, reported: false }
      const current = lamp.dayBurner!
      if (!current.reported && lamp.burnCount >= this.config.failureConfirmReadings) {
        current.reported = true
        out.push(this.lampEvent('lamp_day_burner', reading.deviceId, lamp, reading.time, 1, 'day_burner', this.dayBurnerDetails(reading, lamp, current)))
      }
      return
    }
    lamp.burnCount = 0
    if (db === undefined) return
    lamp.dayBurner = undefined
    if (db.reported) {
      const details = { ...this.dayBurnerDetails(reading, lamp, db), cause: daylight ? 'dark' : 'night', hours: Math.round(((reading.time - db.since) / 3_600_000) * 100) / 100 }
      out.push(this.lampEvent('lamp_day_burner', reading.deviceId, lamp, reading.time, 0, 'ok', details))
    }
  }

  private dayBurnerDetails(reading: Reading, lamp: Lamp, db: { since: number; wastedWh: number }): Record<string, string | number | boolean> {
    const details: Record<string, string | number | boolean> = { powerW: reading.value, since: new Date(db.since).toISOString(), wastedKwh: round3(db.wastedWh / 1000) }
    if (lamp.switchedOn !== undefined) details.switchedOn = lamp.switchedOn
    return details
  }

  private lampEvent(name: string, id: string, lamp: Lamp, time: number, value: number, level: string, extra: Record<string, string | number | boolean>): IndicatorEvent {
    const details: Record<string, string | number | boolean> = { ...extra }
    if (lamp.circuit !== undefined) details.circuit = lamp.circuit
    return { kind: 'indicator', name, scope: 'device', key: id, time, value, level, details }
  }

  private failureEvent(id: string, lamp: Lamp, time: number, value: number, cause: string, readingValue: number): IndicatorEvent {
    const details: Record<string, string | number | boolean> = { cause, reading: readingValue }
    if (lamp.circuit !== undefined) details.circuit = lamp.circuit
    if (lamp.switchedOn !== undefined) details.switchedOn = lamp.switchedOn
    return { kind: 'indicator', name: 'lamp_failure', scope: 'device', key: id, time, value, level: value === 1 ? 'failed' : 'ok', details }
  }

  private integrate(reading: Reading, lamp: Lamp, night: NightSpan | undefined): void {
    if (reading.time <= lamp.lastTime) { this.stats.late++; return }
    const prevTime = lamp.lastTime
    const prevPower = lamp.lastPower
    lamp.lastTime = reading.time
    lamp.lastPower = reading.value
    if (night === undefined) return
    if (night.end <= this.closedBefore) { this.stats.late++; return }
    this.openNights.set(night.key, night)
    let acc = lamp.nights.get(night.key)
    if (acc === undefined) { acc = { energyWh: 0, burningMs: 0 }; lamp.nights.set(night.key, acc) }
    // Integrate only within the night and across gaps no longer than maxGapMs.
    if (prevPower === undefined || prevTime < night.start) return
    const dt = reading.time - prevTime
    if (dt > this.config.maxGapMs) return
    const mean = (prevPower + reading.value) / 2
    acc.energyWh += (mean * dt) / 3_600_000
    if (mean > this.config.minPowerW) acc.burningMs += dt
  }

  /**
   * Silence, circuit faults and the lamp failures that waited for them. Runs on
   * the watermark (every SWEEP_MS of event time), so every lamp's readings up to
   * it are in: a circuit's lamps, dark or silent within `circuitFaultHoldMs` of
   * each other, make one circuit fault before any of them is reported alone.
   */
  private sweep(watermark: number, out: IndicatorEvent[]): void {
    if (watermark !== Infinity && watermark - this.lastSweep < SWEEP_MS) return
    this.lastSweep = watermark
    // The input ending (Infinity) is not a silence.
    if (watermark !== Infinity) {
      const litFrom = this.litSpanStart(watermark)
      if (litFrom !== undefined) {
        for (const [id, lamp] of this.lamps) {
          if (lamp.silentSince !== undefined) continue
          const since = Math.max(lamp.lastSeen, litFrom) + this.config.silentAfterMs
          if (watermark < since) continue
          lamp.silentSince = since
          if (!this.judgedAsCircuit(lamp)) this.reportSilent(id, lamp, out)
        }
      }
    }
    for (const [name, circuit] of this.circuits) {
      if (circuit.lamps.size < this.config.circuitFaultMinLamps) continue
      const lamps = [...circuit.lamps].map((id) => [id, this.lamps.get(id)!] as const)
      const bad = lamps.filter(([, l]) => troubled(l))
      const share = (bad.length / lamps.length) * 100
      if (!circuit.fault && share >= this.config.circuitFaultSharePct) {
        circuit.fault = true
        for (const [, l] of bad) l.covered = true
        const time = Math.max(...bad.map(([, l]) => Math.max(l.dark?.since ?? -Infinity, l.silentSince ?? -Infinity)))
        out.push({ kind: 'indicator', name: 'circuit_fault', scope: 'circuit', key: name, time, value: 1, level: 'fault', details: this.circuitDetails(bad, lamps.length) })
      } else if (circuit.fault && share < this.config.circuitFaultSharePct / 2) {
        circuit.fault = false
        // When the lamp that brought the share down recovered (or, with lamps newly known on the circuit, its latest reading).
        const recovered = Math.max(...lamps.map(([, l]) => l.recoveredAt))
        const time = Number.isFinite(recovered) ? recovered : Math.max(...lamps.map(([, l]) => l.lastSeen))
        for (const [, l] of lamps) {
          l.covered = false
          // A lamp still dark or silent once the circuit is back is judged alone, from now.
          if (l.dark !== undefined && !l.failed) l.dark.since = Math.max(l.dark.since, time)
          if (l.silentSince !== undefined && !l.silentReported) l.silentSince = Math.max(l.silentSince, time)
        }
        out.push({ kind: 'indicator', name: 'circuit_fault', scope: 'circuit', key: name, time, value: 0, level: 'ok', details: this.circuitDetails(bad, lamps.length) })
      } else if (circuit.fault) {
        for (const [, l] of bad) l.covered = true
      }
      if (circuit.fault) continue
      const due = watermark - this.config.circuitFaultHoldMs
      for (const [id, l] of lamps) {
        if (l.covered) continue
        if (l.dark !== undefined && l.dark.since <= due) this.reportFailure(id, l, out)
        if (l.silentSince !== undefined && l.silentSince <= due) this.reportSilent(id, l, out)
      }
    }
  }

  private reportSilent(id: string, lamp: Lamp, out: IndicatorEvent[]): void {
    if (lamp.silentSince === undefined || lamp.silentReported) return
    lamp.silentReported = true
    out.push(this.lampEvent('lamp_silent', id, lamp, lamp.silentSince, 1, 'silent', { lastReadingAt: new Date(lamp.lastSeen).toISOString(), silentMs: lamp.silentSince - lamp.lastSeen }))
  }

  private circuitDetails(bad: ReadonlyArray<readonly [string, Lamp]>, known: number): Record<string, string | number | boolean> {
    return {
      lamps: bad.map(([id]) => id).join(','),
      dark: bad.filter(([, l]) => l.dark !== undefined).length,
      silent: bad.filter(([, l]) => l.dark === undefined && l.silentSince !== undefined).length,
      lampsKnown: known,
    }
  }

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
    this.sweep(watermark, out)
    for (const [key, night] of [...this.openNights].sort((a, b) => a[0] - b[0])) {
      if (night.end > watermark) break
      this.openNights.delete(key)
      this.closedBefore = Math.max(this.closedBefore, night.end)
      const circuits = new Map<string, { kwh: number; lamps: number }>()
      for (const [id, lamp] of this.lamps) {
        const acc = lamp.nights.get(key)
        if (acc === undefined) continue
        lamp.nights.delete(key)
        const kwh = acc.energyWh / 1000
        const details = { night: night.date, sunset: new Date(night.start).toISOString(), sunrise: new Date(night.end).toISOString() }
        out.push({ kind: 'indicator', name: 'lighting_energy_night', scope: 'device', key: id, time: night.end, value: round3(kwh), details })
        out.push({ kind: 'indicator', name: 'lamp_burning_hours', scope: 'device', key: id, time: night.end, value: Math.round((acc.burningMs / 3_600_000) * 100) / 100, details })
        if (lamp.circuit === undefined) continue
        const c = circuits.get(lamp.circuit) ?? { kwh: 0, lamps: 0 }
        c.kwh += kwh
        c.lamps++
        circuits.set(lamp.circuit, c)
      }
      for (const [circuit, c] of circuits) {
        out.push({ kind: 'indicator', name: 'lighting_energy_night', scope: 'circuit', key: circuit, time: night.end, value: round3(c.kwh), details: { night: night.date, lamps: c.lamps } })
      }
    }
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000
const troubled = (lamp: Lamp): boolean => lamp.dark !== undefined || lamp.silentSince !== undefined


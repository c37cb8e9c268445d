import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { DAY_MS, MINUTE_MS, localDate, localDayStart } from '../shared/time.ts'
import type { LightingConfig } from './config.ts'
import { sunTimes } from './sun.ts'

/** A night: sunset of one local date to sunrise of the next. */
export interface NightSpan { key: number; date: string; start: number; end: number }

interface LampNight { energyWh: number; burningMs: number }
interface Lamp { circuit: string | undefined; lastTime: number; lastPower: number | undefined; darkCount: number; failed: boolean; nights: Map<number, LampNight> }

/**
 * Lamp failure (should be on at night but draws no power), energy per lamp and
 * per circuit per night (trapezoidal integration of `power`), burning hours per
 * lamp per night. Night = sunset to sunrise at the configured place.
 */
export class LightingProcessor implements IndicatorProcessor {
  readonly name = 'lighting'
  readonly metrics = ['power', 'lamp_on', 'lamp_fault']
  private readonly lamps = new Map<string, Lamp>()
  private readonly nightCache = new Map<number, NightSpan | null>()
  private readonly openNights = new Map<number, NightSpan>()
  private closedBefore = -Infinity

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

  onReading(reading: Reading, device: DeviceInfo | undefined, out: IndicatorEvent[]): void {
    const m = reading.metric
    if (m !== 'power' && m !== 'lamp_on' && m !== 'lamp_fault') return
    let lamp = this.lamps.get(reading.deviceId)
    if (lamp === undefined) {
      lamp = { circuit: groupOf(device, 'circuit'), lastTime: -Infinity, lastPower: undefined, darkCount: 0, failed: false, nights: new Map() }
      this.lamps.set(reading.deviceId, lamp)
    }
    const night = this.nightAt(reading.time)
    if (m === 'power') this.integrate(reading, lamp, night)
    if (night === undefined) return
    const margin = this.config.marginMinutes * MINUTE_MS
    const expectedOn = reading.time >= night.start + margin && reading.time < night.end - margin
    if (!expectedOn) return
    let dark: boolean | undefined
    if (m === 'power') dark = reading.value <= this.config.minPowerW
    else if (m === 'lamp_fault') dark = reading.value >= 1 ? true : undefined
    // lamp_on = 1 while the last power reading is ~0: switched on but not lit.
    else if (reading.value >= 1 && lamp.lastPower !== undefined) dark = lamp.lastPower <= this.config.minPowerW
    if (dark === undefined) return
    if (dark) {
      lamp.darkCount++
      const confirmed = m === 'lamp_fault' || lamp.darkCount >= this.config.failureConfirmReadings
      if (confirmed && !lamp.failed) {
        lamp.failed = true
        out.push(this.failureEvent(reading, lamp, 1, m))
      }
    } else {
      lamp.darkCount = 0
      if (lamp.failed) {
        lamp.failed = false
        out.push(this.failureEvent(reading, lamp, 0, m))
      }
    }
  }

  private failureEvent(reading: Reading, lamp: Lamp, value: number, cause: string): IndicatorEvent {
    const details: Record<string, string | number | boolean> = { cause, reading: reading.value }
    if (lamp.circuit !== undefined) details.circuit = lamp.circuit
    return { kind: 'indicator', name: 'lamp_failure', scope: 'device', key: reading.deviceId, time: reading.time, value, level: value === 1 ? 'failed' : 'ok', details }
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

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
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

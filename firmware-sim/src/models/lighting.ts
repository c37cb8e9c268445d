import type { Rng } from '../random.ts'
import { danangHour, round } from './day.ts'
import { type CommandOutcome, type SignalModel, type Values, unknownAction } from './model.ts'

/** Lamps switch on at dusk and off at dawn (Da Nang, local time). */
export const DUSK_HOUR = 17.75
export const DAWN_HOUR = 5.75

/** Late at night (23:00 to 4:30) lamps dim to half output. */
export function scheduledDimLevel(hour: number): number {
  return hour >= 23 || hour < 4.5 ? 50 : 100
}

export function scheduledOn(hour: number): boolean {
  return hour >= DUSK_HOUR || hour < DAWN_HOUR
}

/**
 * A street light controller: switches with the dusk/dawn schedule, dims late at
 * night, draws power only when on (in proportion to its dim level), meters the
 * energy, and obeys `switch`, `dim` and `schedule` commands. A failed lamp
 * reports `lamp_fault` and draws nothing.
 */
export class StreetLight implements SignalModel {
  private switchOverride: boolean | null = null
  private dimOverride: number | null = null
  private failed = false
  private energyKwh: number
  private lastReadMs: number | undefined

  constructor(private readonly ratedW: number, initialEnergyKwh: number) {
    this.energyKwh = initialEnergyKwh
  }

  failLamp(): void {
    this.failed = true
  }

  read(epochMs: number, rng: Rng): Values {
    const h = danangHour(epochMs)
    const on = this.switchOverride ?? scheduledOn(h)
    const dim = on ? (this.dimOverride ?? scheduledDimLevel(h)) : 0
    const power = on && !this.failed && dim > 0 ? Math.max(0.5, round((this.ratedW * dim) / 100 + rng.noise(2))) : 0
    if (this.lastReadMs !== undefined && epochMs > this.lastReadMs) {
      this.energyKwh += (power * (epochMs - this.lastReadMs)) / 3_600_000 / 1000
    }
    this.lastReadMs = epochMs
    return {
      lamp_on: on,
      dim_level: dim,
      power,
      energy: round(this.energyKwh, 3),
      voltage: round(229 + rng.noise(3)),
      lamp_fault: this.failed,
    }
  }

  command(action: string, params: Record<string, unknown>): CommandOutcome {
    switch (action) {
      case 'switch':
        if (typeof params.on !== 'boolean') return { status: 'rejected', detail: 'params.on must be true or false.' }
        this.switchOverride = params.on
        if (params.on && this.failed) return { status: 'failed', detail: 'Switched on, but the lamp has failed and gives no light (lamp_fault).' }
        return { status: 'ok', detail: params.on ? 'Lamp switched on.' : 'Lamp switched off.' }
      case 'dim': {
        const level = params.level
        if (typeof level !== 'number' || !Number.isFinite(level) || level < 0 || level > 100) {
          return { status: 'rejected', detail: 'params.level must be a number from 0 to 100.' }
        }
        this.dimOverride = level
        return { status: 'ok', detail: `Dim level set to ${level} %.` }
      }
      case 'schedule':
        this.switchOverride = null
        this.dimOverride = null
        return { status: 'ok', detail: 'Lamp follows its dusk/dawn and dimming schedule again.' }
      default:
        return unknownAction(action, ['switch', 'dim', 'schedule'])
    }
  }
}

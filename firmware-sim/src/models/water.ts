import type { Rng } from '../random.ts'
import { bump, clamp, danangHour, round } from './day.ts'
import { type CommandOutcome, PassiveModel, type SignalModel, type Values, unknownAction } from './model.ts'

/**
 * Relative water demand 0..1 at a local hour: night minimum around 3:00, a
 * morning peak at 6:30 and a smaller evening peak at 19:00.
 */
export function waterDemand(hour: number): number {
  return 0.25 + 0.75 * Math.max(bump(hour, 6.5, 1.3), 0.8 * bump(hour, 19, 1.8))
}

/** Shared by the devices on a main: a burst lowers pressure and raises flow until it is repaired. */
class BurstState {
  untilMs = 0
  active(epochMs: number): boolean {
    return epochMs < this.untilMs
  }
}

/** A pressure and flow meter on a distribution main, with water quality probes. */
export class WaterMain extends PassiveModel {
  private readonly burst = new BurstState()

  constructor(private readonly capacity: number) {
    super()
  }

  startBurst(untilMs: number): void {
    this.burst.untilMs = untilMs
  }

  read(epochMs: number, rng: Rng): Values {
    const demand = waterDemand(danangHour(epochMs))
    const burst = this.burst.active(epochMs)
    const pressure = (3.8 - 1.2 * demand) * (burst ? 0.4 : 1)
    const flow = this.capacity * demand + (burst ? this.capacity * 1.3 : 0)
    return {
      pressure: round(Math.max(0, pressure + rng.noise(0.04)), 2),
      flow: round(Math.max(0, flow + rng.noise(4))),
      chlorine: round(clamp(0.55 - 0.1 * demand + rng.noise(0.03), 0, 10), 2),
      ph: round(7.3 + rng.noise(0.05), 2),
      turbidity: round(Math.max(0, (burst ? 6 : 0.4) + rng.noise(0.1)), 2),
    }
  }
}

/**
 * A service reservoir: fills overnight while demand is low (highest around
 * 6:00), drains through the day (lowest around 18:00).
 */
export class Tank extends PassiveModel {
  constructor(private readonly meanLevelM: number, private readonly capacity: number) {
    super()
  }

  read(epochMs: number, rng: Rng): Values {
    const h = danangHour(epochMs)
    return {
      level: round(Math.max(0, this.meanLevelM + 0.55 * this.meanLevelM * Math.cos((2 * Math.PI * (h - 6)) / 24) + rng.noise(0.02)), 2),
      flow: round(Math.max(0, this.capacity * waterDemand(h) + rng.noise(3))),
    }
  }
}

/**
 * A booster pump: runs on its schedule (5:00 to 22:00)
 * unless an operator switched it with the `pump` command; discharge pressure and
 * flow follow whether it runs.
 */
export class Pump implements SignalModel {
  private readonly burst = new BurstState()
  private override: boolean | null = null

  constructor(private readonly capacity: number) {}

  startBurst(untilMs: number): void {
    this.burst.untilMs = untilMs
  }

  /** Scheduled to run from 5:00 to 22:00, ahead of the morning peak and through the evening one. */
  running(epochMs: number): boolean {
    const h = danangHour(epochMs)
    return this.override ?? (h >= 5 && h < 22)
  }

  read(epochMs: number, rng: Rng): Values {
    const demand = waterDemand(danangHour(epochMs))
    const on = this.running(epochMs)
    const burst = this.burst.active(epochMs)
    const pressure = (on ? 4.6 - 0.8 * demand : 1.1) * (burst ? 0.4 : 1)
    const flow = (on ? this.capacity * (0.6 + 0.4 * demand) : 0) * (burst ? 1.6 : 1)
    return {
      pump_on: on,
      pressure: round(Math.max(0, pressure + rng.noise(0.04)), 2),
      flow: on ? round(Math.max(0, flow + rng.noise(3))) : 0,
    }
  }

  command(action: string, params: Record<string, unknown>): CommandOutcome {
    switch (action) {
      case 'pump':
        if (typeof params.running !== 'boolean') return { status: 'rejected', detail: 'params.running must be true or false.' }
        this.override = params.running
        return { status: 'ok', detail: params.running ? 'Pump started.' : 'Pump stopped.' }
      case 'schedule':
        this.override = null
        return { status: 'ok', detail: 'Pump follows its schedule again.' }
      default:
        return unknownAction(action, ['pump', 'schedule'])
    }
  }
}

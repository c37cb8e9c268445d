import type { Rng } from '../random.ts'
import { bump, clamp, danangHour, isWeekend, round } from './day.ts'
import { PassiveModel, type Values } from './model.ts'

/**
 * A traffic counter on a road segment: morning (7:30) and evening (17:30) rush
 * hours, a lunchtime shoulder, little traffic at night, softer peaks at the
 * weekend. Speed falls and the queue grows as the load rises.
 */
export class TrafficCounter extends PassiveModel {
  constructor(private readonly capacity: number) {
    super()
  }

  /** Relative load 0..1 at a local hour. */
  static load(hour: number, weekend: boolean): number {
    const rush = weekend ? 0.45 : 0.9
    return 0.08 + rush * Math.max(bump(hour, 7.5, 1.1), bump(hour, 17.5, 1.4)) + 0.3 * bump(hour, 12, 2.5)
  }

  read(epochMs: number, rng: Rng): Values {
    const load = TrafficCounter.load(danangHour(epochMs), isWeekend(epochMs))
    return {
      vehicle_count: Math.max(0, Math.round(this.capacity * load + rng.noise(6))),
      avg_speed: round(clamp(58 - 40 * load + rng.noise(4), 4, 90)),
      occupancy: round(clamp(70 * load + rng.noise(3), 0, 98)),
      queue_length: round(Math.max(0, 320 * (load - 0.55) + rng.noise(8))),
    }
  }
}

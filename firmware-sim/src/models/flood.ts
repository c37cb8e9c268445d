import type { Rng } from '../random.ts'
import { round } from './day.ts'
import { PassiveModel, type Values } from './model.ts'
import { cityRainfall, recentRain } from './weather.ts'

const TIDE_PERIOD_MS = 12.42 * 3_600_000

/**
 * A river gauge (the Han river near its mouth): a tidal swing around a base
 * level, rising with the rain of the last twelve hours and falling back slowly.
 * `water_level` is metres above the gauge datum.
 */
export class RiverGauge extends PassiveModel {
  constructor(private readonly baseM: number, private readonly seed: number) {
    super()
  }

  read(epochMs: number, rng: Rng): Values {
    const tide = 0.35 * Math.sin((2 * Math.PI * epochMs) / TIDE_PERIOD_MS)
    const catchment = recentRain(epochMs, this.seed, 12, 0.85)
    return {
      water_level: round(this.baseM + tide + 0.025 * catchment + rng.noise(0.01), 2),
      rainfall: round(cityRainfall(epochMs, this.seed), 1),
    }
  }
}

/**
 * A street flood gauge in a low spot: dry until the drains are overwhelmed by
 * the last few hours of rain, then water stands on the road. `water_level` is
 * the depth of water above the road surface in metres.
 */
export class StreetGauge extends PassiveModel {
  constructor(private readonly drainCapacityMm: number, private readonly seed: number) {
    super()
  }

  read(epochMs: number, rng: Rng): Values {
    const recent = recentRain(epochMs, this.seed, 3, 0.5)
    const depth = Math.max(0, (recent - this.drainCapacityMm) * 0.012)
    return {
      water_level: depth > 0 ? Math.max(0, round(depth + rng.noise(0.005), 3)) : 0,
      rainfall: round(cityRainfall(epochMs, this.seed), 1),
    }
  }
}

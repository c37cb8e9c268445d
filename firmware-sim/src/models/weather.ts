import { hashUnit } from '../random.ts'
import { danangDay, danangHour } from './day.ts'

const HOUR_MS = 3_600_000

/**
 * City-wide rainfall in mm/h at an instant, shared by every rain gauge and flood
 * sensor of a fleet with the same seed, so flood levels follow the rain that the
 * weather stations report. About a third of the days get an afternoon or evening
 * storm (Da Nang's convective showers); a few of them are heavy. No state: a
 * pure function of the seed and the time.
 */
export function cityRainfall(epochMs: number, seed: number): number {
  const day = danangDay(epochMs)
  const hour = danangHour(epochMs)
  let total = 0
  // A storm centred late on the previous day can still be raining after midnight.
  for (const d of [day - 1, day]) {
    const wetness = hashUnit(seed, d)
    if (wetness < 0.65) continue
    const strength = (wetness - 0.65) / 0.35
    const centre = 13 + hashUnit(seed ^ 0x5bd1e995, d) * 7
    const width = 0.8 + hashUnit(seed ^ 0x27d4eb2f, d) * 1.7
    const peak = 4 + 70 * strength * strength
    // No wrap-around here: a storm belongs to its own day.
    const x = (d === day ? hour : hour + 24) - centre
    total += peak * Math.exp(-(x * x) / (2 * width * width))
  }
  return total < 0.05 ? 0 : total
}

/**
 * Rain over the last `hours` hours, each half hour weighted by `decay` per hour
 * of age: how much water a catchment is still carrying.
 */
export function recentRain(epochMs: number, seed: number, hours: number, decay: number): number {
  let sum = 0
  for (let halfHours = 0; halfHours < hours * 2; halfHours++) {
    sum += cityRainfall(epochMs - halfHours * HOUR_MS / 2, seed) * decay ** (halfHours / 2) * 0.5
  }
  return sum
}

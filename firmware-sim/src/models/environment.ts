import type { Rng } from '../random.ts'
import { bump, clamp, danangHour, round } from './day.ts'
import { PassiveModel, type Values } from './model.ts'
import { cityRainfall } from './weather.ts'

/**
 * An air-quality and weather station: PM2.5/PM10 following traffic (rush-hour
 * peaks, a night floor) and washed out by rain, temperature peaking at 14:00,
 * humidity mirroring it and rising in rain, noise following traffic, and the
 * city's rainfall.
 */
export class AirQualityStation extends PassiveModel {
  constructor(private readonly scale: number, private readonly seed: number) {
    super()
  }

  read(epochMs: number, rng: Rng): Values {
    const h = danangHour(epochMs)
    const traffic = Math.max(bump(h, 7.5, 1.5), bump(h, 18, 2))
    const rain = cityRainfall(epochMs, this.seed)
    const washout = 1 / (1 + rain / 10)
    const pm25 = Math.max(2, (14 + 32 * traffic) * this.scale * washout + rng.noise(3))
    const heat = bump(h, 14, 4)
    return {
      pm25: round(pm25),
      pm10: round(pm25 * 1.6 + Math.abs(rng.noise(4))),
      temperature: round(24 + 7 * heat - Math.min(3, rain / 8) + rng.noise(0.3)),
      humidity: round(clamp(86 - 22 * heat + Math.min(12, rain) + rng.noise(2), 20, 100)),
      noise: round(46 + 24 * traffic + rng.noise(2)),
      rainfall: round(Math.max(0, rain * (0.85 + rng.next() * 0.3)), 1),
    }
  }
}

import { DAY_MS } from '../shared/time.ts'

const RAD = Math.PI / 180
const J2000 = 2451545
const UNIX_EPOCH_JD = 2440587.5

/**
 * Sunrise and sunset (epoch ms) for the solar day whose noon falls on the UTC
 * date of `dateUtcMs`, by the sunrise equation (NOAA / Meeus simplified form,
 * about a minute of error): refraction and the solar disc give the -0.833°
 * horizon. Undefined in polar day or night.
 */
export function sunTimes(dateUtcMs: number, latitude: number, longitude: number): { sunrise: number; sunset: number } | undefined {
  const jd = Math.floor(dateUtcMs / DAY_MS) + UNIX_EPOCH_JD + 0.5
  const n = Math.round(jd - J2000 + 0.0008)
  const jStar = n - longitude / 360
  const m = (357.5291 + 0.98560028 * jStar) % 360
  const c = 1.9148 * Math.sin(m * RAD) + 0.02 * Math.sin(2 * m * RAD) + 0.0003 * Math.sin(3 * m * RAD)
  const lambda = (m + c + 180 + 102.9372) % 360
  const transit = J2000 + jStar + 0.0053 * Math.sin(m * RAD) - 0.0069 * Math.sin(2 * lambda * RAD)
  const sinDelta = Math.sin(lambda * RAD) * Math.sin(23.4397 * RAD)
  const cosDelta = Math.cos(Math.asin(sinDelta))
  const cosOmega = (Math.sin(-0.833 * RAD) - Math.sin(latitude * RAD) * sinDelta) / (Math.cos(latitude * RAD) * cosDelta)
  if (cosOmega < -1 || cosOmega > 1) return undefined
  const omega = Math.acos(cosOmega) / RAD
  const toMs = (j: number): number => (j - UNIX_EPOCH_JD) * DAY_MS
  return { sunrise: toMs(transit - omega / 360), sunset: toMs(transit + omega / 360) }
}

/**
 * A device's place, from its registry metadata: `latitude` (or `lat`) and
 * `longitude` (or `lon`, `lng`), WGS 84 degrees as JSON numbers. The same keys,
 * in the same order, as SensorThings' Locations read (sta/model.ts), so the
 * console's map and /sta/v1.1 put a device at the same point.
 */
export const LATITUDE_KEYS = ['latitude', 'lat'] as const
export const LONGITUDE_KEYS = ['longitude', 'lon', 'lng'] as const

export interface DeviceLocation {
  latitude: number
  longitude: number
}

const first = (metadata: Record<string, unknown>, keys: readonly string[]): number | undefined => {
  for (const key of keys) {
    const v = metadata[key]
    if (typeof v === 'number') return v
  }
  return undefined
}

/** The device's location, or undefined when its metadata has none (or only half of one). */
export function deviceLocation(metadata: Record<string, unknown> | null | undefined): DeviceLocation | undefined {
  if (!metadata) return undefined
  const latitude = first(metadata, LATITUDE_KEYS)
  const longitude = first(metadata, LONGITUDE_KEYS)
  if (latitude === undefined || longitude === undefined) return undefined
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return undefined
  return { latitude, longitude }
}

/**
 * What is wrong with the location keys of `metadata`, or null: each one present
 * must be a number in range (a latitude given as text would be silently left off
 * the map and out of SensorThings).
 */
export function locationProblem(metadata: Record<string, unknown>): string | null {
  for (const [keys, limit] of [[LATITUDE_KEYS, 90], [LONGITUDE_KEYS, 180]] as const) {
    for (const key of keys) {
      if (!(key in metadata) || metadata[key] === null) continue
      const v = metadata[key]
      if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > limit) {
        return `metadata.${key}: a number of degrees from -${limit} to ${limit} (WGS 84), got ${JSON.stringify(v)}`
      }
    }
  }
  return null
}

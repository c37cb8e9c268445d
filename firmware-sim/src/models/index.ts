import { hashString, hashUnit } from '../random.ts'
import { AirQualityStation } from './environment.ts'
import { RiverGauge, StreetGauge } from './flood.ts'
import { StreetLight } from './lighting.ts'
import type { SignalModel } from './model.ts'
import { TrafficCounter } from './traffic.ts'
import { Pump, Tank, WaterMain } from './water.ts'

export * from './day.ts'
export * from './environment.ts'
export * from './flood.ts'
export * from './lighting.ts'
export * from './model.ts'
export * from './traffic.ts'
export * from './water.ts'
export * from './weather.ts'

/** The kinds of simulated device, each with the catalogue domain it publishes in. */
export const DEVICE_KINDS = {
  traffic_counter: { domain: 'traffic', idPart: 'traffic' },
  water_main: { domain: 'water', idPart: 'main' },
  tank: { domain: 'water', idPart: 'tank' },
  pump: { domain: 'water', idPart: 'pump' },
  street_light: { domain: 'lighting', idPart: 'lamp' },
  air_quality: { domain: 'environment', idPart: 'aq' },
  river_gauge: { domain: 'environment', idPart: 'river' },
  street_gauge: { domain: 'environment', idPart: 'flood' },
} as const

export type DeviceKind = keyof typeof DEVICE_KINDS

/** The kind a device of a domain gets when nothing else says (the demo's fleet names only domains). */
export function defaultKind(domain: string): DeviceKind {
  switch (domain) {
    case 'traffic': return 'traffic_counter'
    case 'water': return 'water_main'
    case 'lighting': return 'street_light'
    default: return 'air_quality'
  }
}

/** A street light's rated power (W), 100-180 from its id and the seed: what its model draws at full output, and its `ratedPowerW` metadata. */
export function streetLightRatedW(deviceId: string, seed: number): number {
  return Math.round(100 + 80 * hashUnit(hashString(deviceId), seed))
}

/**
 * Builds a device's model. Its size (capacity, rated power, base level) comes
 * from its id and the seed, so a fleet is the same on every run with the same seed.
 */
export function createModel(kind: DeviceKind, deviceId: string, seed: number): SignalModel {
  const u = hashUnit(hashString(deviceId), seed)
  const scale = 0.8 + 0.4 * u
  switch (kind) {
    case 'traffic_counter': return new TrafficCounter(Math.round(120 * scale))
    case 'water_main': return new WaterMain(180 * scale)
    case 'tank': return new Tank(3 + 3 * u, 120 * scale)
    case 'pump': return new Pump(150 * scale)
    case 'street_light': return new StreetLight(streetLightRatedW(deviceId, seed), Math.round(500 + 4000 * u))
    case 'air_quality': return new AirQualityStation(scale, seed)
    case 'river_gauge': return new RiverGauge(0.8 + 0.8 * u, seed)
    case 'street_gauge': return new StreetGauge(25 + 20 * u, seed)
  }
}

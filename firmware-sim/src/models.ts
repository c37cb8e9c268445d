import { hashString, seededRandom } from './random.ts'

/** Hours since local midnight in Da Nang (UTC+7, no daylight saving). */
export function danangHour(epochMs: number): number {
  return (((epochMs / 3_600_000 + 7) % 24) + 24) % 24
}

/** A bump centred on `centre` hours with `width` hours, wrapping around midnight. */
function bump(hour: number, centre: number, width: number): number {
  const d = Math.min(Math.abs(hour - centre), 24 - Math.abs(hour - centre))
  return Math.exp(-(d * d) / (2 * width * width))
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits

/** Produces one reading's values for a device at an instant; deterministic from the device id and seed. */
export type DeviceModel = (epochMs: number) => Record<string, number | boolean>

export function modelFor(domain: string, deviceId: string, seed = 1): DeviceModel {
  const random = seededRandom(hashString(deviceId) ^ seed)
  const scale = 0.8 + random() * 0.4
  const noise = (amplitude: number) => (random() - 0.5) * 2 * amplitude
  switch (domain) {
    case 'traffic':
      return (t) => {
        const h = danangHour(t)
        // Morning and evening rush hours; little traffic at night.
        const load = 0.1 + 0.9 * Math.max(bump(h, 7.5, 1.2), bump(h, 17.5, 1.5)) + 0.3 * bump(h, 12.5, 3)
        const occupancy = Math.min(95, Math.max(0, 60 * load * scale + noise(3)))
        return {
          vehicle_count: Math.max(0, Math.round(120 * load * scale + noise(8))),
          avg_speed: round(Math.max(5, 55 - 35 * load + noise(4))),
          occupancy: round(occupancy),
          queue_length: round(Math.max(0, 300 * (load - 0.5) + noise(10))),
        }
      }
    case 'water':
      return (t) => {
        const h = danangHour(t)
        // Demand: night minimum around 3 h, morning peak around 6:30, evening peak around 19 h.
        const demand = 0.25 + 0.75 * Math.max(bump(h, 6.5, 1.3), 0.8 * bump(h, 19, 1.8))
        return {
          flow: round(Math.max(0, 180 * demand * scale + noise(5))),
          pressure: round(3.6 - 1.1 * demand + noise(0.05), 2),
          level: round(4 + 2.5 * Math.sin(((h - 4) / 24) * 2 * Math.PI) + noise(0.05), 2),
          chlorine: round(0.5 + noise(0.05), 2),
        }
      }
    case 'lighting':
      return (t) => {
        const h = danangHour(t)
        const on = h >= 17.75 || h < 5.75
        // Dimmed to 50 % in the quiet hours after midnight.
        const dim = on ? (h >= 0 && h < 5 ? 50 : 100) : 0
        const power = on ? round((120 * dim) / 100 + noise(3)) : 0
        return { lamp_on: on, dim_level: dim, power, voltage: round(228 + noise(4)) }
      }
    default:
      return (t) => {
        const h = danangHour(t)
        const traffic = Math.max(bump(h, 7.5, 1.5), bump(h, 18, 2))
        const pm25 = Math.max(2, (18 + 30 * traffic) * scale + noise(4))
        return {
          pm25: round(pm25),
          pm10: round(pm25 * 1.6 + noise(3)),
          temperature: round(24 + 6 * bump(h, 14, 4) + noise(0.3)),
          humidity: round(Math.min(100, 85 - 20 * bump(h, 14, 4) + noise(2))),
          noise: round(48 + 22 * traffic + noise(2)),
        }
      }
  }
}

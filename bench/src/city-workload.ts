import type { Principal } from '@gridline/processors'
import { deviceTopic } from '@gridline/schemas'

/**
 * `pipeline-city`'s workload: a city's fleet reporting every 5 minutes over
 * a stretch of event time long enough for the indicators' windows to close
 * (hours and a night, not the under-a-second span of the copy-limit
 * workload), so the indicators emit and the history writes what a city's
 * day gives. Per 100 devices: 60 air-quality sensors in Da Nang's 8
 * districts (pm25, pm10, temperature, humidity), 30 traffic detectors two
 * to a road segment (avg_speed, vehicle_count, occupancy) and 10 water
 * meters in 5 metered areas (flow), each message one device's reading of
 * all its metrics at one time, devices interleaved per interval as they
 * would arrive.
 */

const DISTRICTS = ['Hải Châu', 'Thanh Khê', 'Sơn Trà', 'Ngũ Hành Sơn', 'Liên Chiểu', 'Cẩm Lệ', 'Hòa Vang', 'Hoàng Sa']
export const CITY_INTERVAL_MS = 5 * 60_000
/** A day and one interval: the last interval closes the day's windows. */
const MAX_INTERVALS = 24 * 12 + 1
/** Rows (metric values) per device and interval on average (0.6 x 4 + 0.3 x 3 + 0.1 x 1). */
const ROWS_PER_DEVICE = 3.4

export interface CityDevice {
  id: string
  domain: 'environment' | 'traffic' | 'water'
  metadata: Record<string, unknown>
}

export interface CityMessage {
  topic: string
  principal: Principal
  payload: Buffer
}

export interface CityWorkload {
  devices: CityDevice[]
  messages: CityMessage[]
  /** One per metric value. */
  rows: number
  /** Event time of the first and after the last interval (epoch ms). */
  fromMs: number
  toMs: number
}

/** The fleet: `n` devices in the shares above (rounded, at least one of each kind). */
export function cityDevices(n: number): CityDevice[] {
  const aq = Math.max(1, Math.round(n * 0.6))
  const traffic = Math.max(2, Math.round(n * 0.3))
  const water = Math.max(2, n - aq - traffic)
  const out: CityDevice[] = []
  for (let i = 0; i < aq; i++) {
    out.push({ id: `city-aq-${i}`, domain: 'environment', metadata: { district: DISTRICTS[i % DISTRICTS.length]!, reportingIntervalS: CITY_INTERVAL_MS / 1000 } })
  }
  for (let i = 0; i < traffic; i++) {
    out.push({ id: `city-tr-${i}`, domain: 'traffic', metadata: { roadSegment: `segment-${Math.floor(i / 2)}`, freeFlowSpeedKmh: 50, district: DISTRICTS[i % DISTRICTS.length]! } })
  }
  for (let i = 0; i < water; i++) {
    out.push({ id: `city-wm-${i}`, domain: 'water', metadata: { meteredArea: `dma-${Math.floor(i / 2)}` } })
  }
  return out
}

function values(device: CityDevice, k: number, i: number): Record<string, number> {
  // Deterministic, inside every plausible range, varying by device and time.
  const wave = (period: number) => ((k * 7 + i) % period) / period
  if (device.domain === 'environment') {
    const pm25 = 15 + 40 * wave(48)
    return { pm25: round1(pm25), pm10: round1(pm25 * 1.6), temperature: round1(26 + 6 * wave(288)), humidity: round1(60 + 30 * wave(144)) }
  }
  if (device.domain === 'traffic') {
    const count = 20 + Math.round(60 * wave(96))
    return { avg_speed: round1(18 + 30 * wave(36)), vehicle_count: count, occupancy: round1(5 + 40 * wave(60)) }
  }
  return { flow: round1(40 + 30 * wave(288)) }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

/**
 * About `wantedRows` rows: devices = rows / 1,000 (at least 16), then as many
 * 5-minute intervals as give them, at most a day and one interval,
 * ending an hour before `nowMs` (inside the partitions the service keeps).
 */
export function cityWorkload(wantedRows: number, nowMs: number): CityWorkload {
  const devices = cityDevices(Math.max(16, Math.round(wantedRows / 1_000)))
  const intervals = Math.max(2, Math.min(MAX_INTERVALS, Math.ceil(wantedRows / (devices.length * ROWS_PER_DEVICE))))
  const end = Math.floor((nowMs - 3_600_000) / CITY_INTERVAL_MS) * CITY_INTERVAL_MS
  const fromMs = end - (intervals - 1) * CITY_INTERVAL_MS
  const messages: CityMessage[] = []
  let rows = 0
  for (let i = 0; i < intervals; i++) {
    const ts = fromMs + i * CITY_INTERVAL_MS
    for (let k = 0; k < devices.length; k++) {
      const device = devices[k]!
      const v = values(device, k, i)
      rows += Object.keys(v).length
      messages.push({
        topic: deviceTopic(device.domain, device.id),
        principal: { kind: 'device', id: device.id, domain: device.domain },
        payload: Buffer.from(JSON.stringify({ ts, seq: i, values: v })),
      })
    }
  }
  return { devices, messages, rows, fromMs, toMs: end + CITY_INTERVAL_MS }
}

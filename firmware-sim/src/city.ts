import { type DeviceKind, streetLightRatedW } from './models/index.ts'
import type { DeviceSpec } from './simulator.ts'

/**
 * Where a simulated device stands in Da Nang: the registry metadata the
 * indicators and the operator overview group by (docs/indicators.md#device-metadata).
 * Assigned round-robin from the device's position, so the same fleet plan
 * always gets the same places.
 */
export const DA_NANG_DISTRICTS = ['Hải Châu', 'Thanh Khê', 'Sơn Trà', 'Ngũ Hành Sơn', 'Liên Chiểu', 'Cẩm Lệ', 'Hòa Vang'] as const

export type DaNangDistrict = (typeof DA_NANG_DISTRICTS)[number]

/**
 * Where each district's simulated devices stand: a box on land inside the district
 * (WGS 84 degrees), drawn by hand from the city's map, kept clear of the sea, the
 * Hàn river's mouth and the Sơn Trà forest. Hòa Vang is the rural ring west and
 * south of the city; its box covers the villages along QL14B, not the mountains.
 */
export const DA_NANG_DISTRICT_AREAS: Record<DaNangDistrict, { south: number; north: number; west: number; east: number }> = {
  'Hải Châu': { south: 16.030, north: 16.072, west: 108.205, east: 108.223 },
  'Thanh Khê': { south: 16.055, north: 16.072, west: 108.170, east: 108.203 },
  'Sơn Trà': { south: 16.055, north: 16.100, west: 108.232, east: 108.246 },
  'Ngũ Hành Sơn': { south: 15.975, north: 16.038, west: 108.232, east: 108.250 },
  'Liên Chiểu': { south: 16.050, north: 16.080, west: 108.120, east: 108.160 },
  'Cẩm Lệ': { south: 15.995, north: 16.028, west: 108.180, east: 108.212 },
  'Hòa Vang': { south: 15.960, north: 16.040, west: 108.050, east: 108.150 },
}

/**
 * A device's place in its district: the same id always stands at the same point
 * (a hash of the id, not the fleet's random stream, so adding a device moves no
 * other), rounded to 6 decimals (about 0.1 m).
 */
export function placeInDistrict(district: DaNangDistrict, id: string): { latitude: number; longitude: number } {
  const area = DA_NANG_DISTRICT_AREAS[district]
  const u = hashUnit(`${id}\u0000lat`)
  const v = hashUnit(`${id}\u0000lon`)
  const round6 = (x: number) => Math.round(x * 1e6) / 1e6
  return { latitude: round6(area.south + u * (area.north - area.south)), longitude: round6(area.west + v * (area.east - area.west)) }
}

/**
 * FNV-1a of the text, then MurmurHash3's finaliser, as a number in [0, 1). FNV alone
 * put ids that differ in their last digits on a few straight lines across a district;
 * the finaliser spreads every input bit over the whole result.
 */
function hashUnit(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return (hash >>> 0) / 2 ** 32
}

/** Main roads, with the free-flow speed the level of service is measured against (km/h). */
export const DA_NANG_ROADS = [
  { name: 'Nguyễn Văn Linh', district: 'Hải Châu', freeFlowSpeedKmh: 50 },
  { name: 'Điện Biên Phủ', district: 'Thanh Khê', freeFlowSpeedKmh: 50 },
  { name: 'Võ Nguyên Giáp', district: 'Sơn Trà', freeFlowSpeedKmh: 60 },
  { name: 'Bạch Đằng', district: 'Hải Châu', freeFlowSpeedKmh: 40 },
  { name: 'Trường Sa', district: 'Ngũ Hành Sơn', freeFlowSpeedKmh: 60 },
  { name: 'Tôn Đức Thắng', district: 'Liên Chiểu', freeFlowSpeedKmh: 50 },
  { name: 'Cách Mạng Tháng Tám', district: 'Cẩm Lệ', freeFlowSpeedKmh: 50 },
] as const

/** Simulation values for river gauges' alert levels I, II, III (m above the gauge datum). */
const RIVER_ALERT_LEVELS_M = [2.0, 2.8, 3.6]

export function cityMetadata(kind: DeviceKind, index: number): Record<string, unknown> {
  const district = DA_NANG_DISTRICTS[index % DA_NANG_DISTRICTS.length]!
  const road = DA_NANG_ROADS[index % DA_NANG_ROADS.length]!
  const meteredArea = `DMA ${district}`
  switch (kind) {
    case 'air_quality': return { district }
    case 'traffic_counter': return { district: road.district, roadSegment: road.name, freeFlowSpeedKmh: road.freeFlowSpeedKmh }
    // A lamp is on its road's circuit, so a flow can dim a road's lights where its traffic is light.
    case 'street_light': return { district: road.district, roadSegment: road.name, circuit: road.name }
    case 'water_main': return { district, meteredArea }
    case 'pump': return { district, meteredArea }
    case 'tank': return { district, meteredArea, tankMinLevelM: 0, tankMaxLevelM: 10 }
    case 'river_gauge': return { district, gauge: 'river', alertLevelsM: RIVER_ALERT_LEVELS_M }
    case 'street_gauge': return { district, gauge: 'street' }
  }
}

/** The fleet plan's devices with their city metadata (index within their kind, so every kind spreads over the city). */
export function withCityMetadata<T extends DeviceSpec>(specs: T[], seed = 1): (T & { metadata: Record<string, unknown> })[] {
  const perKind = new Map<string, number>()
  return specs.map((spec) => {
    const kind = spec.kind!
    const i = perKind.get(kind) ?? 0
    perKind.set(kind, i + 1)
    const metadata = cityMetadata(kind, i)
    // Where it stands, for the console's map and SensorThings' Locations (latitude/longitude, docs/indicators.md#device-metadata).
    Object.assign(metadata, placeInDistrict(metadata.district as DaNangDistrict, spec.id))
    // The lamp's rated power as its model draws it, so the lighting indicators can tell an underpowered lamp.
    if (kind === 'street_light') metadata.ratedPowerW = streetLightRatedW(spec.id, seed)
    return { ...spec, metadata }
  })
}

import { type DeviceKind, streetLightRatedW } from './models/index.ts'
import type { DeviceSpec } from './simulator.ts'

/**
 * Where a simulated device stands in Da Nang: the registry metadata the
 * indicators and the operator overview group by (docs/indicators.md#device-metadata).
 * Assigned round-robin from the device's position, so the same fleet plan
 * always gets the same places.
 */
export const DA_NANG_DISTRICTS = ['Hải Châu', 'Thanh Khê', 'Sơn Trà', 'Ngũ Hành Sơn', 'Liên Chiểu', 'Cẩm Lệ'] as const

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
    // The lamp's rated power as its model draws it, so the lighting indicators can tell an underpowered lamp.
    if (kind === 'street_light') metadata.ratedPowerW = streetLightRatedW(spec.id, seed)
    return { ...spec, metadata }
  })
}

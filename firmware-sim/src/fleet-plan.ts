import { DEVICE_KINDS, type DeviceKind } from './models/index.ts'
import type { DeviceSpec } from './simulator.ts'

/** The groups `gridline sim run` counts devices in, and the kinds each group cycles through. */
export const FLEET_GROUPS = {
  traffic: ['traffic_counter'],
  water: ['water_main', 'tank', 'pump'],
  lighting: ['street_light'],
  environment: ['air_quality'],
  flood: ['river_gauge', 'street_gauge'],
} as const satisfies Record<string, readonly DeviceKind[]>

export type FleetGroup = keyof typeof FLEET_GROUPS
export type FleetCounts = Partial<Record<FleetGroup, number>>

/** How a city's devices are shared out over its networks (the demo's fleet, the map and console benchmarks). */
export const CITY_FLEET_SHARES: Readonly<Record<FleetGroup, number>> = { traffic: 0.2, water: 0.2, lighting: 0.3, environment: 0.2, flood: 0.1 }

/**
 * Device specs for the counts per group, with stable ids such as
 * `sim-lamp-00042`: the same counts and prefix give the same fleet, so
 * credentials registered once stay valid for later runs.
 */
export function planFleet(counts: FleetCounts, prefix = 'sim'): DeviceSpec[] {
  const specs: DeviceSpec[] = []
  for (const group of Object.keys(FLEET_GROUPS) as FleetGroup[]) {
    const kinds: readonly DeviceKind[] = FLEET_GROUPS[group]
    const perKind = new Map<DeviceKind, number>()
    for (let i = 0; i < (counts[group] ?? 0); i++) {
      const kind = kinds[i % kinds.length]!
      const n = (perKind.get(kind) ?? 0) + 1
      perKind.set(kind, n)
      specs.push({ id: `${prefix}-${DEVICE_KINDS[kind].idPart}-${String(n).padStart(5, '0')}`, kind, domain: DEVICE_KINDS[kind].domain })
    }
  }
  return specs
}

import { describe, expect, test } from 'vitest'
import { DA_NANG_DISTRICT_AREAS, DA_NANG_DISTRICTS, placeInDistrict, withCityMetadata } from './city.ts'
import { DEVICE_KINDS } from './models/index.ts'
import { streetLightRatedW } from './models/index.ts'

describe('the Da Nang fleet\'s registry metadata', () => {
  test('street lights carry the rated power their model draws at full output; other kinds do not', () => {
    const specs = withCityMetadata([
      { id: 'sim-lamp-0', kind: 'street_light' as const },
      { id: 'sim-lamp-1', kind: 'street_light' as const },
      { id: 'sim-aq-0', kind: 'air_quality' as const },
    ], 7)
    const [a, b, aq] = specs
    expect(a!.metadata.ratedPowerW).toBe(streetLightRatedW('sim-lamp-0', 7))
    expect(b!.metadata.ratedPowerW).toBe(streetLightRatedW('sim-lamp-1', 7))
    for (const lamp of [a!, b!]) expect(lamp.metadata.ratedPowerW).toSatisfy((w: number) => Number.isInteger(w) && w >= 100 && w <= 180)
    expect(a!.metadata).toMatchObject({ circuit: expect.any(String), district: expect.any(String) })
    expect(aq!.metadata).not.toHaveProperty('ratedPowerW')
    // Another seed, another fleet: the same as its models would draw.
    expect(withCityMetadata([{ id: 'sim-lamp-0', kind: 'street_light' as const }], 8)[0]!.metadata.ratedPowerW).toBe(streetLightRatedW('sim-lamp-0', 8))
  })
})

describe('where the Da Nang fleet stands', () => {
  const kinds = Object.keys(DEVICE_KINDS) as (keyof typeof DEVICE_KINDS)[]
  const specs = withCityMetadata(kinds.flatMap((kind) => Array.from({ length: 14 }, (_, i) => ({ id: `sim-${kind}-${i}`, kind }))))

  test('every device has a latitude and longitude inside its district\'s box, within the city', () => {
    for (const { metadata } of specs) {
      const area = DA_NANG_DISTRICT_AREAS[metadata.district as keyof typeof DA_NANG_DISTRICT_AREAS]
      expect(area, String(metadata.district)).toBeDefined()
      expect(metadata.latitude).toBeGreaterThanOrEqual(area.south)
      expect(metadata.latitude).toBeLessThanOrEqual(area.north)
      expect(metadata.longitude).toBeGreaterThanOrEqual(area.west)
      expect(metadata.longitude).toBeLessThanOrEqual(area.east)
      // Da Nang: 15.9-16.2 N, 107.8-108.35 E.
      expect(metadata.latitude).toSatisfy((lat: number) => lat > 15.9 && lat < 16.2)
      expect(metadata.longitude).toSatisfy((lon: number) => lon > 107.8 && lon < 108.35)
    }
  })

  test('the seven districts are all used, and a device stands where it stood (its id decides, not its neighbours)', () => {
    expect(new Set(specs.map((s) => s.metadata.district))).toEqual(new Set(DA_NANG_DISTRICTS))
    expect(DA_NANG_DISTRICTS).toHaveLength(7)
    expect(placeInDistrict('Sơn Trà', 'aq-1')).toEqual(placeInDistrict('Sơn Trà', 'aq-1'))
    expect(placeInDistrict('Sơn Trà', 'aq-1')).not.toEqual(placeInDistrict('Sơn Trà', 'aq-2'))
    const alone = withCityMetadata([{ id: 'sim-air_quality-0', kind: 'air_quality' as const }])[0]!.metadata
    const inFleet = specs.find((s) => s.id === 'sim-air_quality-0')!.metadata
    expect(alone).toMatchObject({ latitude: inFleet.latitude, longitude: inFleet.longitude })
  })

  test('a district\'s devices spread over its box, not along a line (ids that differ in their last digits land far apart)', () => {
    const points = Array.from({ length: 2_000 }, (_, i) => placeInDistrict('Hải Châu', `big-aq-${String(i).padStart(5, '0')}`))
    const area = DA_NANG_DISTRICT_AREAS['Hải Châu']
    // A 10 x 10 grid over the box: every cell has some (about 20 each), none has most.
    const cells = new Map<number, number>()
    for (const p of points) {
      const row = Math.min(9, Math.floor(((p.latitude - area.south) / (area.north - area.south)) * 10))
      const column = Math.min(9, Math.floor(((p.longitude - area.west) / (area.east - area.west)) * 10))
      cells.set(row * 10 + column, (cells.get(row * 10 + column) ?? 0) + 1)
    }
    expect(cells.size).toBe(100)
    expect(Math.max(...cells.values())).toBeLessThan(50)
  })

  test('the boxes do not overlap (a marker\'s district is where it stands)', () => {
    const boxes = Object.entries(DA_NANG_DISTRICT_AREAS)
    for (const [i, [a, p]] of boxes.entries()) {
      for (const [b, q] of boxes.slice(i + 1)) {
        const overlap = p.south < q.north && q.south < p.north && p.west < q.east && q.west < p.east
        expect(overlap, `${a} and ${b}`).toBe(false)
      }
    }
  })
})

import { describe, expect, test } from 'vitest'
import { withCityMetadata } from './city.ts'
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

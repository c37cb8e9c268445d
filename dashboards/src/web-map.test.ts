import { describe, expect, test } from 'vitest'
import {
  CLUSTER_COLOR, COLOR_KEYS, MARKER_COLORS, type MapDelta, MapDevices, type MapSnapshot, NO_ALARM, NO_FILTER,
  clusterColorKey, colorKey, districtLabels, filterFromQuery, graticule, shapeOf,
} from '../web/src/map-model.ts'

// The map page's model: a snapshot of GET /api/map, live deltas in version order,
// the filters, the marker and cluster colours, the base map's graticule.

const snapshot = (over: Partial<MapSnapshot> = {}): MapSnapshot => ({
  version: 5, generatedAt: 1_000,
  states: ['online', 'stale', 'offline'], severities: ['critical', 'major', 'minor', 'warning', 'info'],
  domains: ['environment', 'traffic'], districts: ['Hải Châu', 'Sơn Trà'],
  ids: ['aq-1', 'aq-2', 'tc-1'], lon: [108.21, 108.22, 108.24], lat: [16.05, 16.06, 16.08],
  domain: [0, 0, 1], district: [0, 0, 1], state: [0, 2, 1], alarm: [-1, 1, -1], unacked: [0, 1, 0],
  unplaced: 2, base: { kind: 'offline', center: [108.2, 16.05], zoom: 11.5, attribution: '' },
  ...over,
})

describe('MapDevices', () => {
  test('a snapshot\'s columns become devices with names, states and alarms', () => {
    const m = new MapDevices()
    m.load(snapshot())
    expect(m.byId.get('aq-2')).toEqual({ id: 'aq-2', lon: 108.22, lat: 16.06, domain: 'environment', district: 'Hải Châu', state: 'offline', alarm: 'major', unacked: true })
    expect(m.byId.get('tc-1')).toMatchObject({ domain: 'traffic', district: 'Sơn Trà', state: 'stale', alarm: null, unacked: false })
    expect(m.version).toBe(5)
    expect(m.unplaced).toBe(2)
    expect(m.choices()).toEqual({ domains: ['environment', 'traffic'], districts: ['Hải Châu', 'Sơn Trà'] })
    expect(m.bounds()).toEqual([108.21, 16.05, 108.24, 16.08])
  })

  test('deltas apply in version order; an old one is skipped, a missed one asks for the snapshot again', () => {
    const m = new MapDevices()
    m.load(snapshot())
    const delta = (from: number, rows: MapDelta['rows'], removed: string[] = []): MapDelta => ({ kind: 'map', from, version: from + 1, generatedAt: 2_000, rows, removed, unplaced: 1 })
    expect(m.apply(delta(4, [['aq-1', 1, 1, 'environment', '', 2, -1, 0]]))).toBe('stale')
    expect(m.byId.get('aq-1')!.state).toBe('online')
    expect(m.apply(delta(5, [['aq-1', 108.21, 16.05, 'environment', 'Hải Châu', 0, 0, 1], ['wm-1', 108.2, 16.01, 'water', '', 1, -1, 0]], ['tc-1']))).toBe('applied')
    expect(m.byId.get('aq-1')).toMatchObject({ alarm: 'critical', unacked: true })
    expect(m.byId.get('wm-1')).toMatchObject({ domain: 'water', district: '', state: 'stale' })
    expect(m.byId.has('tc-1')).toBe(false)
    expect(m.version).toBe(6)
    expect(m.unplaced).toBe(1)
    expect(m.apply(delta(8, []))).toBe('gap')
    expect(m.version).toBe(6)
  })

  test('filters by domain, district and state (alarm: any active alarm), and counts what they keep', () => {
    const m = new MapDevices()
    m.load(snapshot())
    expect(m.counts(NO_FILTER)).toEqual({ shown: 3, online: 1, stale: 1, offline: 1, alarms: 1, unacked: 1 })
    expect(m.counts({ ...NO_FILTER, domain: 'traffic' }).shown).toBe(1)
    expect(m.counts({ ...NO_FILTER, district: 'Hải Châu' }).shown).toBe(2)
    expect(m.counts({ ...NO_FILTER, state: 'alarm' })).toMatchObject({ shown: 1, alarms: 1 })
    expect(m.counts({ domain: 'environment', district: 'Hải Châu', state: 'online' }).shown).toBe(1)
    expect(m.features({ ...NO_FILTER, state: 'offline' }).features.map((f) => f.properties)).toEqual([{ id: 'aq-2', icon: 'circle-major', rank: 1, state: 'offline', alarm: 1 }])
    expect(m.features({ ...NO_FILTER, domain: 'traffic' }).features[0]!.properties).toEqual({ id: 'tc-1', icon: 'triangle-stale', rank: COLOR_KEYS.indexOf('stale'), state: 'stale', alarm: NO_ALARM })
    expect(m.pulsing(NO_FILTER).features.map((f) => f.properties)).toEqual([{ id: 'aq-2', severity: 'major' }])
    expect(m.pulsing({ ...NO_FILTER, domain: 'traffic' }).features).toEqual([])
  })

  test('the hash\'s filter: unknown states are dropped', () => {
    expect(filterFromQuery({ domain: 'water', state: 'alarm' })).toEqual({ domain: 'water', district: '', state: 'alarm' })
    expect(filterFromQuery({ state: 'burning' })).toEqual(NO_FILTER)
  })
})

describe('colours and shapes', () => {
  test('a marker takes its alarm\'s colour over its state\'s; its domain gives the shape', () => {
    expect(colorKey({ state: 'online', alarm: null })).toBe('online')
    expect(colorKey({ state: 'online', alarm: 'critical' })).toBe('critical')
    expect([shapeOf('environment'), shapeOf('traffic'), shapeOf('water'), shapeOf('lighting'), shapeOf('energy'), shapeOf('sewage')]).toEqual(['circle', 'triangle', 'diamond', 'star', 'square', 'circle'])
    // Offline is not the alarm red.
    expect(MARKER_COLORS.offline).not.toBe(MARKER_COLORS.critical)
  })

  test.each([
    [{ alarm: 0, online: 50, stale: 0, offline: 0 }, 'critical'],
    [{ alarm: 3, online: 50, stale: 0, offline: 0 }, 'warning'],
    [{ alarm: NO_ALARM, online: 9, stale: 0, offline: 1 }, 'online'],
    [{ alarm: NO_ALARM, online: 2, stale: 5, offline: 3 }, 'stale'],
    [{ alarm: NO_ALARM, online: 2, stale: 3, offline: 3 }, 'stale'],
    [{ alarm: NO_ALARM, online: 1, stale: 0, offline: 7 }, 'offline'],
  ] as const)('a cluster of %o is %s, as its MapLibre expression says', (c, key) => {
    expect(clusterColorKey(c)).toBe(key)
    expect(evaluate(CLUSTER_COLOR, c)).toBe(MARKER_COLORS[key])
  })

  test('district labels stand in the middle of their devices', () => {
    const m = new MapDevices()
    m.load(snapshot())
    expect(districtLabels(m.byId.values())).toEqual([
      { district: 'Hải Châu', lon: 108.215, lat: 16.055, devices: 2 },
      { district: 'Sơn Trà', lon: 108.24, lat: 16.08, devices: 1 },
    ])
  })

  test('the graticule has a meridian and a parallel every step across the bounds', () => {
    const g = graticule([107.95, 15.9, 108.3, 16.2], 0.1)
    expect(g.features.filter((f) => f.properties!['kind'] === 'meridian').map((f) => f.properties!['value'])).toEqual([108, 108.1, 108.2, 108.3])
    expect(g.features.filter((f) => f.properties!['kind'] === 'parallel').map((f) => f.properties!['value'])).toEqual([15.9, 16, 16.1, 16.2])
    expect(g.features[0]!.geometry.coordinates).toEqual([[108, 15.9], [108, 16.2]])
  })
})

/** Just enough of MapLibre's expression language for CLUSTER_COLOR: case, match, all, get, <, >=. */
function evaluate(e: unknown, props: Record<string, number>): unknown {
  if (!Array.isArray(e)) return e
  const [op, ...args] = e as [string, ...unknown[]]
  switch (op) {
    case 'get': return props[args[0] as string]
    case '<': return (evaluate(args[0], props) as number) < (evaluate(args[1], props) as number)
    case '>=': return (evaluate(args[0], props) as number) >= (evaluate(args[1], props) as number)
    case 'all': return args.every((a) => evaluate(a, props) === true)
    case 'case': {
      for (let i = 0; i + 1 < args.length; i += 2) if (evaluate(args[i], props) === true) return evaluate(args[i + 1], props)
      return evaluate(args.at(-1), props)
    }
    case 'match': {
      const v = evaluate(args[0], props)
      for (let i = 1; i + 1 < args.length; i += 2) if (args[i] === v) return args[i + 1]
      return args.at(-1)
    }
    default: throw new Error(`evaluate: no ${op}`)
  }
}

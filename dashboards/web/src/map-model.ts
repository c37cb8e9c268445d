/**
 * The map page's devices, kept from GET /api/map and the live stream's `map`
 * events (docs/console-api.md#map), with the filters and the colours. Pure module
 * (no DOM, no MapLibre): unit-tested from dashboards/src/web-map.test.ts.
 */
import type { Feature, FeatureCollection, LineString, Point } from 'geojson'
import { SEVERITIES, SEVERITY_COLORS, STATUS_COLORS, type Severity } from './format.ts'

export const MAP_STATES = ['online', 'stale', 'offline'] as const
export type MapDeviceState = (typeof MAP_STATES)[number]

export type MapBase =
  & { center: [number, number]; zoom: number; attribution: string }
  & ({ kind: 'style'; url: string } | { kind: 'raster'; tiles: string[]; tileSizePx: number } | { kind: 'offline' })

export interface MapSnapshot {
  version: number
  generatedAt: number
  states: string[]
  severities: string[]
  domains: string[]
  districts: string[]
  ids: string[]
  lon: number[]
  lat: number[]
  domain: number[]
  district: number[]
  state: number[]
  alarm: number[]
  unacked: number[]
  unplaced: number
  base: MapBase
}

export type MapRow = [id: string, lon: number, lat: number, domain: string, district: string, state: number, alarm: number, unacked: number]

export interface MapDelta {
  kind: 'map'
  from: number
  version: number
  generatedAt: number
  rows: MapRow[]
  removed: string[]
  unplaced: number
}

/** What the filters keep; '' is everything. `state` 'alarm' keeps devices with an active alarm. */
export interface MapFilter {
  domain: string
  district: string
  state: '' | MapDeviceState | 'alarm'
}

export const NO_FILTER: MapFilter = { domain: '', district: '', state: '' }

export interface MapDevice {
  id: string
  lon: number
  lat: number
  domain: string
  district: string
  state: MapDeviceState
  alarm: Severity | null
  unacked: boolean
}

/** Marker colour keys, worst first: an alarm's severity, then offline, stale, online. */
export const COLOR_KEYS = [...SEVERITIES, 'offline', 'stale', 'online'] as const
export type ColorKey = (typeof COLOR_KEYS)[number]

export const MARKER_COLORS: Record<ColorKey, string> = {
  ...SEVERITY_COLORS,
  offline: '#78909c',
  stale: STATUS_COLORS['stale'] ?? '#ffd600',
  online: STATUS_COLORS['online'] ?? '#00c853',
}
// Offline is grey on the map, not the list's red: red is for alarms there, and a dark city
// at night must not look like a city on fire.

/** Marker shapes by domain; a domain not listed is a circle. */
export const DOMAIN_SHAPES: Record<string, 'circle' | 'triangle' | 'diamond' | 'square' | 'star'> = {
  environment: 'circle',
  traffic: 'triangle',
  water: 'diamond',
  lighting: 'star',
  energy: 'square',
}
export const SHAPES = ['circle', 'triangle', 'diamond', 'square', 'star'] as const
export const shapeOf = (domain: string) => DOMAIN_SHAPES[domain] ?? 'circle'

/** The colour key of a device: its worst active alarm, else its state. */
export function colorKey(d: Pick<MapDevice, 'state' | 'alarm'>): ColorKey {
  return d.alarm ?? d.state
}

export function matches(d: MapDevice, f: MapFilter): boolean {
  if (f.domain && d.domain !== f.domain) return false
  if (f.district && d.district !== f.district) return false
  if (f.state === 'alarm') return d.alarm !== null
  if (f.state && d.state !== f.state) return false
  return true
}

export interface MapCounts {
  shown: number
  online: number
  stale: number
  offline: number
  alarms: number
  unacked: number
}

/**
 * Every device on the map by id. `load` takes a snapshot; `apply` a live delta,
 * in version order (see MapDelta): 'applied', 'stale' (older than what is held;
 * ignored) or 'gap' (one was missed: fetch the snapshot again).
 */
export class MapDevices {
  readonly byId = new Map<string, MapDevice>()
  version = -1
  unplaced = 0
  generatedAt = 0

  load(s: MapSnapshot): void {
    this.byId.clear()
    for (let i = 0; i < s.ids.length; i++) {
      const alarm = s.alarm[i]!
      this.byId.set(s.ids[i]!, {
        id: s.ids[i]!,
        lon: s.lon[i]!,
        lat: s.lat[i]!,
        domain: s.domains[s.domain[i]!] ?? '',
        district: s.district[i]! < 0 ? '' : s.districts[s.district[i]!] ?? '',
        state: (s.states[s.state[i]!] ?? 'offline') as MapDeviceState,
        alarm: alarm < 0 ? null : (s.severities[alarm] ?? 'info') as Severity,
        unacked: s.unacked[i] === 1,
      })
    }
    this.version = s.version
    this.unplaced = s.unplaced
    this.generatedAt = s.generatedAt
  }

  apply(d: MapDelta): 'applied' | 'stale' | 'gap' {
    if (d.version <= this.version) return 'stale'
    if (d.from !== this.version) return 'gap'
    for (const [id, lon, lat, domain, district, state, alarm, unacked] of d.rows) {
      this.byId.set(id, {
        id, lon, lat, domain, district,
        state: MAP_STATES[state] ?? 'offline',
        alarm: alarm < 0 ? null : SEVERITIES[alarm] ?? 'info',
        unacked: unacked === 1,
      })
    }
    for (const id of d.removed) this.byId.delete(id)
    this.version = d.version
    this.unplaced = d.unplaced
    this.generatedAt = d.generatedAt
    return 'applied'
  }

  /** The domains and districts present, sorted, for the filters' choices. */
  choices(): { domains: string[]; districts: string[] } {
    const domains = new Set<string>()
    const districts = new Set<string>()
    for (const d of this.byId.values()) {
      domains.add(d.domain)
      if (d.district) districts.add(d.district)
    }
    return { domains: [...domains].sort(), districts: [...districts].sort((a, b) => a.localeCompare(b, 'vi')) }
  }

  counts(f: MapFilter): MapCounts {
    const c: MapCounts = { shown: 0, online: 0, stale: 0, offline: 0, alarms: 0, unacked: 0 }
    for (const d of this.byId.values()) {
      if (!matches(d, f)) continue
      c.shown++
      c[d.state]++
      if (d.alarm) c.alarms++
      if (d.unacked) c.unacked++
    }
    return c
  }

  /**
   * The devices the filter keeps, as GeoJSON points for a clustered source:
   * `id`, `icon` (shape-colour, an image the page draws), `rank` (the colour key's
   * index, worst first: drawn on top), `state`, and `alarm` (the severity's index,
   * NO_ALARM for none), which a cluster sums up (CLUSTER_PROPERTIES).
   */
  features(f: MapFilter): FeatureCollection<Point> {
    const features: Feature<Point>[] = []
    for (const d of this.byId.values()) {
      if (!matches(d, f)) continue
      const key = colorKey(d)
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [d.lon, d.lat] },
        properties: { id: d.id, icon: `${shapeOf(d.domain)}-${key}`, rank: COLOR_KEYS.indexOf(key), state: d.state, alarm: d.alarm ? SEVERITIES.indexOf(d.alarm) : NO_ALARM },
      })
    }
    return { type: 'FeatureCollection', features }
  }

  /** Devices with an alarm nobody acknowledged yet, that the filter keeps: they pulse. */
  pulsing(f: MapFilter): FeatureCollection<Point> {
    const features: Feature<Point>[] = []
    for (const d of this.byId.values()) {
      if (!d.unacked || !d.alarm || !matches(d, f)) continue
      features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [d.lon, d.lat] }, properties: { id: d.id, severity: d.alarm } })
    }
    return { type: 'FeatureCollection', features }
  }

  /** [west, south, east, north] of the devices, or undefined when there are none. */
  bounds(): [number, number, number, number] | undefined {
    let w = Infinity
    let s = Infinity
    let e = -Infinity
    let n = -Infinity
    for (const d of this.byId.values()) {
      if (d.lon < w) w = d.lon
      if (d.lon > e) e = d.lon
      if (d.lat < s) s = d.lat
      if (d.lat > n) n = d.lat
    }
    return Number.isFinite(w) ? [w, s, e, n] : undefined
  }
}

/** `alarm` of a feature without one. */
export const NO_ALARM = 99

/**
 * What a cluster knows of its devices (MapLibre's clusterProperties): its worst
 * alarm, and how many are online, stale and offline.
 */
export const CLUSTER_PROPERTIES = {
  alarm: ['min', ['get', 'alarm']],
  online: ['+', ['case', ['==', ['get', 'state'], 'online'], 1, 0]],
  stale: ['+', ['case', ['==', ['get', 'state'], 'stale'], 1, 0]],
  offline: ['+', ['case', ['==', ['get', 'state'], 'offline'], 1, 0]],
} as const

/**
 * A cluster's colour: its worst alarm's when one of its devices has an alarm, else
 * the state most of its devices are in (ties to the better one). Not the worst
 * state: one silent sensor in every block would grey the whole city.
 * CLUSTER_COLOR is the same rule as a MapLibre expression.
 */
export function clusterColorKey(c: { alarm: number; online: number; stale: number; offline: number }): ColorKey {
  if (c.alarm < SEVERITIES.length) return SEVERITIES[c.alarm]!
  if (c.online >= c.stale && c.online >= c.offline) return 'online'
  return c.stale >= c.offline ? 'stale' : 'offline'
}

export const CLUSTER_COLOR = [
  'case',
  ['<', ['get', 'alarm'], SEVERITIES.length], ['match', ['get', 'alarm'], ...SEVERITIES.flatMap((s, i) => [i, MARKER_COLORS[s]]), MARKER_COLORS.info],
  ['all', ['>=', ['get', 'online'], ['get', 'stale']], ['>=', ['get', 'online'], ['get', 'offline']]], MARKER_COLORS.online,
  ['>=', ['get', 'stale'], ['get', 'offline']], MARKER_COLORS.stale,
  MARKER_COLORS.offline,
] as const

/** Where to write each district's name on the offline base: the middle of its devices. */
export function districtLabels(devices: Iterable<MapDevice>): { district: string; lon: number; lat: number; devices: number }[] {
  const sums = new Map<string, { lon: number; lat: number; n: number }>()
  for (const d of devices) {
    if (!d.district) continue
    const s = sums.get(d.district) ?? { lon: 0, lat: 0, n: 0 }
    s.lon += d.lon
    s.lat += d.lat
    s.n++
    sums.set(d.district, s)
  }
  return [...sums].map(([district, s]) => ({ district, lon: s.lon / s.n, lat: s.lat / s.n, devices: s.n })).sort((a, b) => a.district.localeCompare(b.district, 'vi'))
}

/** The filter in the hash (`#/map?domain=traffic&district=Sơn%20Trà&state=alarm`); unknown states are dropped. */
export function filterFromQuery(q: Record<string, string>): MapFilter {
  const state = q['state'] ?? ''
  return {
    domain: q['domain'] ?? '',
    district: q['district'] ?? '',
    state: state === 'alarm' || (MAP_STATES as readonly string[]).includes(state) ? state as MapFilter['state'] : '',
  }
}

/** Lines of longitude and latitude every `step` degrees across `bounds`, for the offline base. */
export function graticule([west, south, east, north]: readonly number[], step: number): FeatureCollection<LineString> {
  const features: Feature<LineString>[] = []
  const first = (v: number) => Math.ceil(v / step - 1e-9) * step
  for (let x = first(west!); x <= east! + 1e-9; x += step) {
    features.push({ type: 'Feature', properties: { kind: 'meridian', value: Math.round(x * 1e6) / 1e6 }, geometry: { type: 'LineString', coordinates: [[x, south!], [x, north!]] } })
  }
  for (let y = first(south!); y <= north! + 1e-9; y += step) {
    features.push({ type: 'Feature', properties: { kind: 'parallel', value: Math.round(y * 1e6) / 1e6 }, geometry: { type: 'LineString', coordinates: [[west!, y], [east!, y]] } })
  }
  return { type: 'FeatureCollection', features }
}

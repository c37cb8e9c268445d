import { describe, expect, test } from 'vitest'
import type { DeviceRecord } from '../devices/device-store.ts'
import { deviceLocation, locationProblem } from '../devices/location.ts'
import type { DeviceStatus } from './city-state.ts'
import { type MapDelta, type MapRow, MapState, type MapStateDeps } from './map-state.ts'

// The console map's rows (GET /api/map and the live `map` events) from a registry,
// device states and active alarms held in memory.

const device = (id: string, domain: string | null, metadata: Record<string, unknown>, kind: DeviceRecord['kind'] = 'device'): DeviceRecord =>
  ({ id, kind, auth: 'password', domain, gateway: null, credentialsHash: null, metadata, createdAt: new Date(0) })

type Alarm = ReturnType<MapStateDeps['alarms']>[number]

function fixture() {
  const devices = new Map<string, DeviceRecord>()
  const status = new Map<string, DeviceStatus>()
  let alarms: Alarm[] = []
  const add = (d: DeviceRecord) => devices.set(d.id, d)
  add(device('aq-1', 'environment', { district: 'Hải Châu', latitude: 16.0544123, longitude: 108.2022456 }))
  add(device('tc-1', 'traffic', { district: 'Sơn Trà', lat: 16.08, lng: 108.24 }))
  add(device('lamp-1', 'lighting', { lat: 16.07, lon: 108.22 }))
  add(device('aq-nowhere', 'environment', { district: 'Cẩm Lệ' }))
  add(device('gw-1', null, { latitude: 16, longitude: 108 }, 'gateway'))
  const map = new MapState({
    devices: { all: () => devices.values(), get: (id) => devices.get(id) },
    status: (id) => ({ status: status.get(id) ?? 'offline' }),
    alarms: () => alarms,
  })
  const deltas: MapDelta[] = []
  map.onDelta((d) => deltas.push(d))
  return { map, devices, status, add, deltas, setAlarms: (a: Alarm[]) => { alarms = a } }
}

describe('MapState', () => {
  test('the snapshot: one entry per placed device in every column, dictionaries for domain and district, coordinates to 5 decimals', () => {
    const { map, status } = fixture()
    status.set('aq-1', 'online')
    status.set('tc-1', 'stale')
    const s = map.snapshot(1_000)
    expect(s.ids).toEqual(['aq-1', 'tc-1', 'lamp-1'])
    expect(s.lon).toEqual([108.20225, 108.24, 108.22])
    expect(s.lat).toEqual([16.05441, 16.08, 16.07])
    expect(s.domains).toEqual(['environment', 'traffic', 'lighting'])
    expect(s.domain).toEqual([0, 1, 2])
    expect(s.districts).toEqual(['Hải Châu', 'Sơn Trà'])
    expect(s.district).toEqual([0, 1, -1])
    expect(s.states).toEqual(['online', 'stale', 'offline'])
    expect(s.state).toEqual([0, 1, 2])
    expect(s.alarm).toEqual([-1, -1, -1])
    expect(s.unacked).toEqual([0, 0, 0])
    // The gateway is no field device; the sensor without a place is counted, not drawn.
    expect(s.unplaced).toBe(1)
    expect(s.version).toBe(1)
    for (const column of [s.lon, s.lat, s.domain, s.district, s.state, s.alarm, s.unacked]) expect(column).toHaveLength(s.ids.length)
  })

  test('an alarm marks its device with the worst active severity, unacknowledged while any of them is', () => {
    const { map, setAlarms } = fixture()
    setAlarms([
      { deviceId: 'aq-1', subject: 'aq-1', severity: 'minor', acknowledgedAt: 5 },
      { deviceId: 'aq-1', subject: 'aq-1', severity: 'critical' },
      // A custom alarm names the device as its subject only.
      { subject: 'tc-1', severity: 'warning', acknowledgedAt: 9 },
      // An alarm of a district, no device's.
      { subject: 'Hải Châu', severity: 'major' },
    ])
    const s = map.snapshot(1_000)
    expect(s.severities[s.alarm[0]!]).toBe('critical')
    expect(s.unacked[0]).toBe(1)
    expect(s.severities[s.alarm[1]!]).toBe('warning')
    expect(s.unacked[1]).toBe(0)
    expect(s.alarm[2]).toBe(-1)
  })

  test('refresh reports only what changed, with versions that chain; nothing changed, nothing reported', () => {
    const { map, status, devices, add, deltas, setAlarms } = fixture()
    const first = map.snapshot(0)
    expect(deltas).toHaveLength(1)
    expect(map.refresh(1_000)).toBeUndefined()
    status.set('tc-1', 'online')
    setAlarms([{ deviceId: 'lamp-1', subject: 'lamp-1', severity: 'major' }])
    const d = map.refresh(2_000)!
    expect(d).toMatchObject({ kind: 'map', from: first.version, version: first.version + 1, removed: [], unplaced: 1 })
    expect(d.rows).toEqual<MapRow[]>([
      ['tc-1', 108.24, 16.08, 'traffic', 'Sơn Trà', 0, -1, 0],
      ['lamp-1', 108.22, 16.07, 'lighting', '', 2, 1, 1],
    ])
    // Moved, placed at last, and removed.
    add(device('aq-nowhere', 'environment', { district: 'Cẩm Lệ', latitude: 16.01, longitude: 108.2 }))
    devices.delete('lamp-1')
    const e = map.refresh(3_000)!
    expect(e.from).toBe(d.version)
    expect(e.rows.map((r) => r[0])).toEqual(['aq-nowhere'])
    expect(e.removed).toEqual(['lamp-1'])
    expect(e.unplaced).toBe(0)
    expect(deltas.map((x) => x.version)).toEqual([1, 2, 3])
    expect(map.snapshot(4_000)).toMatchObject({ version: 3, ids: ['aq-1', 'tc-1', 'aq-nowhere'] })
  })

  test('a registry change is read again: another metadata key changed is no change, a move is one, a location removed takes the device off the map', () => {
    const { map, add } = fixture()
    const first = map.snapshot(0)
    add(device('aq-1', 'environment', { district: 'Hải Châu', latitude: 16.0544123, longitude: 108.2022456, model: 'SDS011' }))
    expect(map.refresh(1_000)).toBeUndefined()
    add(device('aq-1', 'environment', { district: 'Hải Châu', latitude: 16.06, longitude: 108.21 }))
    add(device('tc-1', 'traffic', { district: 'Sơn Trà' }))
    const d = map.refresh(2_000)!
    expect(d).toMatchObject({ from: first.version, removed: ['tc-1'], unplaced: 2 })
    expect(d.rows).toEqual<MapRow[]>([['aq-1', 108.21, 16.06, 'environment', 'Hải Châu', 2, -1, 0]])
    add(device('tc-1', 'traffic', { district: 'Sơn Trà', lat: 16.08, lng: 108.24 }))
    expect(map.refresh(3_000)!.rows.map((r) => r[0])).toEqual(['tc-1'])
    expect(map.snapshot(4_000).ids.sort()).toEqual(['aq-1', 'lamp-1', 'tc-1'])
  })

  test('refreshes at most every 250 ms, however many pages ask', () => {
    const { map, status } = fixture()
    map.refresh(1_000)
    status.set('aq-1', 'online')
    expect(map.refresh(1_100)).toBeUndefined()
    expect(map.snapshot(1_200).state[0]).toBe(2)
    expect(map.refresh(1_300)?.rows.map((r) => r[0])).toEqual(['aq-1'])
  })

  test('50,000 devices: a snapshot in columns is compact (about 30 bytes a device); a refresh reads no device\'s metadata again until its record changes', () => {
    const devices = new Map<string, DeviceRecord>()
    let metadataReads = 0
    const counted = (d: DeviceRecord): DeviceRecord => {
      const { metadata, ...rest } = d
      return Object.defineProperty(rest, 'metadata', { get: () => (metadataReads++, metadata), enumerable: true }) as DeviceRecord
    }
    for (let i = 0; i < 50_000; i++) devices.set(`dev-${i}`, counted(device(`dev-${i}`, 'environment', { district: `D${i % 7}`, latitude: 16 + (i % 1000) / 10_000, longitude: 108 + Math.floor(i / 1000) / 10_000 })))
    let online = true
    const map = new MapState({ devices: { all: () => devices.values(), get: (id) => devices.get(id) }, status: () => ({ status: online ? 'online' : 'stale' }), alarms: () => [] })
    const json = JSON.stringify(map.snapshot(0))
    expect(json.length / 50_000).toBeLessThan(40)
    const reads = metadataReads
    expect(map.refresh(1_000)).toBeUndefined()
    online = false
    expect(map.refresh(2_000)!.rows).toHaveLength(50_000)
    expect(metadataReads).toBe(reads)
    devices.set('dev-7', counted(device('dev-7', 'environment', { district: 'D0', latitude: 16.5, longitude: 108.5 })))
    expect(map.refresh(3_000)!.rows).toEqual([['dev-7', 108.5, 16.5, 'environment', 'D0', 1, -1, 0]])
    expect(metadataReads - reads).toBeGreaterThan(0)
    expect(metadataReads - reads).toBeLessThan(10)
  })
})

describe('device locations', () => {
  test.each([
    [{ latitude: 16.05, longitude: 108.2 }, { latitude: 16.05, longitude: 108.2 }],
    [{ lat: 16.05, lon: 108.2 }, { latitude: 16.05, longitude: 108.2 }],
    [{ lat: 16.05, lng: 108.2 }, { latitude: 16.05, longitude: 108.2 }],
    [{ latitude: 16.05, lat: 1, longitude: 108.2 }, { latitude: 16.05, longitude: 108.2 }],
    [{ latitude: '16.05', longitude: 108.2 }, undefined],
    [{ latitude: 16.05 }, undefined],
    [{ latitude: 91, longitude: 108.2 }, undefined],
    [{}, undefined],
  ])('deviceLocation(%j) is %j', (metadata, expected) => {
    expect(deviceLocation(metadata)).toEqual(expected)
  })

  test.each([
    [{ latitude: 16.05, longitude: 108.2, district: 'x' }, null],
    [{ latitude: null }, null],
    [{ latitude: '16.05' }, /metadata\.latitude: a number of degrees from -90 to 90/],
    [{ lng: 200 }, /metadata\.lng: a number of degrees from -180 to 180/],
    [{ lat: Number.NaN }, /metadata\.lat/],
  ])('locationProblem(%j)', (metadata, expected) => {
    const problem = locationProblem(metadata as Record<string, unknown>)
    if (expected === null) expect(problem).toBeNull()
    else expect(problem).toMatch(expected)
  })
})

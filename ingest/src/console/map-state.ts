import type { AlarmRecord, AlarmSeverity } from '@gridline/processors'
import type { DeviceRecord } from '../devices/device-store.ts'
import { deviceLocation } from '../devices/location.ts'
import type { DeviceStatus } from './city-state.ts'

/** The codes of `MapSnapshot.state`, in order. */
export const MAP_STATES: readonly DeviceStatus[] = ['online', 'stale', 'offline']
/** The codes of `MapSnapshot.alarm` (worst first); -1 is no active alarm. */
export const MAP_SEVERITIES: readonly AlarmSeverity[] = ['critical', 'major', 'minor', 'warning', 'info']

/** Digits kept of a coordinate: 5 decimals are about 1 m, as far as a map marker needs. */
const COORD_SCALE = 1e5

/**
 * Every placed device's position and state, as columns (GET /api/map,
 * docs/console-api.md#map): the i-th entry of each array is one device. A
 * device costs its id and about 30 bytes more, so 50,000 devices with 15-character
 * ids are some 2.5 MB of JSON (less than half of it gzipped), where objects with
 * named keys would be three times that.
 */
export interface MapSnapshot {
  /** Bumped whenever a device's row changes; the live stream's `map` events carry it (`from` → `version`). */
  version: number
  generatedAt: number
  states: readonly DeviceStatus[]
  severities: readonly AlarmSeverity[]
  /** Dictionaries that `domain` and `district` index into. */
  domains: string[]
  districts: string[]
  ids: string[]
  lon: number[]
  lat: number[]
  domain: number[]
  /** -1: the device has no district in its metadata. */
  district: number[]
  state: number[]
  /** The worst active alarm's index in `severities`, -1 for none. */
  alarm: number[]
  /** 1 while one of its active alarms is not acknowledged. */
  unacked: number[]
  /** Registered devices without a location in their metadata (not on the map). */
  unplaced: number
}

/** One device on the map: id, lon, lat, domain, district ('' for none), state code, alarm code, unacked (0/1). */
export type MapRow = [id: string, lon: number, lat: number, domain: string, district: string, state: number, alarm: number, unacked: number]

/** What changed since `from`: rows added or changed, ids that left the map. A live `map` event. */
export interface MapDelta {
  kind: 'map'
  from: number
  version: number
  generatedAt: number
  rows: MapRow[]
  removed: string[]
  unplaced: number
}

export interface MapStateDeps {
  devices: { all(): Iterable<DeviceRecord>; get(id: string): DeviceRecord | undefined }
  status(deviceId: string, now: number): { status: DeviceStatus }
  alarms(): readonly Pick<AlarmRecord, 'deviceId' | 'subject' | 'severity' | 'acknowledgedAt'>[]
}

/**
 * The console map's device rows, kept as of the last `refresh`, with a version
 * that changes with them. `refresh` compares each placed device's row with the
 * one kept and reports the difference to the listeners once, so the snapshot
 * and the live stream's deltas are one sequence of versions: a browser applies
 * a delta whose `from` is its version, and fetches the snapshot again when it
 * sees a gap.
 */
export class MapState {
  private rows = new Map<string, MapRow>()
  private version = 0
  private unplaced = 0
  private refreshedAt = 0
  private readonly listeners = new Set<(delta: MapDelta) => void>()

  constructor(private readonly deps: MapStateDeps) {}

  /** Called with every change, synchronously inside `refresh`; never with an empty one. */
  onDelta(listener: (delta: MapDelta) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Recomputes every row (one pass over the registry and the active alarms) and
   * tells the listeners what changed. At most once per 250 ms: calls in between
   * return the last result.
   */
  refresh(now = Date.now()): MapDelta | undefined {
    if (now - this.refreshedAt < 250 && this.refreshedAt !== 0) return undefined
    this.refreshedAt = now
    const alarms = this.alarmsByDevice()
    const next = new Map<string, MapRow>()
    const changed: MapRow[] = []
    let unplaced = 0
    for (const device of this.deps.devices.all()) {
      if (device.kind !== 'device' || !device.domain) continue
      const place = deviceLocation(device.metadata)
      if (!place) {
        unplaced++
        continue
      }
      const alarm = alarms.get(device.id)
      const district = typeof device.metadata.district === 'string' ? device.metadata.district : ''
      const row: MapRow = [
        device.id,
        Math.round(place.longitude * COORD_SCALE) / COORD_SCALE,
        Math.round(place.latitude * COORD_SCALE) / COORD_SCALE,
        device.domain,
        district,
        MAP_STATES.indexOf(this.deps.status(device.id, now).status),
        alarm?.severity ?? -1,
        alarm?.unacked ? 1 : 0,
      ]
      next.set(device.id, row)
      const before = this.rows.get(device.id)
      if (!before || !sameRow(before, row)) changed.push(row)
    }
    const removed: string[] = []
    for (const id of this.rows.keys()) if (!next.has(id)) removed.push(id)
    this.rows = next
    if (changed.length === 0 && removed.length === 0 && unplaced === this.unplaced) return undefined
    this.unplaced = unplaced
    const delta: MapDelta = { kind: 'map', from: this.version, version: ++this.version, generatedAt: now, rows: changed, removed, unplaced }
    for (const listener of this.listeners) listener(delta)
    return delta
  }

  /** Every placed device, refreshed first (whoever follows the deltas hears of the refresh). */
  snapshot(now = Date.now()): MapSnapshot {
    this.refresh(now)
    const domains = new Map<string, number>()
    const districts = new Map<string, number>()
    const index = (dict: Map<string, number>, key: string) => {
      let i = dict.get(key)
      if (i === undefined) dict.set(key, (i = dict.size))
      return i
    }
    const n = this.rows.size
    const snapshot: MapSnapshot = {
      version: this.version, generatedAt: now, states: MAP_STATES, severities: MAP_SEVERITIES,
      domains: [], districts: [],
      ids: new Array(n), lon: new Array(n), lat: new Array(n), domain: new Array(n), district: new Array(n),
      state: new Array(n), alarm: new Array(n), unacked: new Array(n),
      unplaced: this.unplaced,
    }
    let i = 0
    for (const [id, lon, lat, domain, district, state, alarm, unacked] of this.rows.values()) {
      snapshot.ids[i] = id
      snapshot.lon[i] = lon
      snapshot.lat[i] = lat
      snapshot.domain[i] = index(domains, domain)
      snapshot.district[i] = district === '' ? -1 : index(districts, district)
      snapshot.state[i] = state
      snapshot.alarm[i] = alarm
      snapshot.unacked[i] = unacked
      i++
    }
    snapshot.domains = [...domains.keys()]
    snapshot.districts = [...districts.keys()]
    return snapshot
  }

  /** Each device's worst active alarm and whether any of them waits for acknowledgement. */
  private alarmsByDevice(): Map<string, { severity: number; unacked: boolean }> {
    const byDevice = new Map<string, { severity: number; unacked: boolean }>()
    for (const alarm of this.deps.alarms()) {
      // A rule on a device names it; a custom alarm may name it as its subject only.
      const id = alarm.deviceId ?? (this.deps.devices.get(alarm.subject) ? alarm.subject : undefined)
      if (id === undefined) continue
      const severity = MAP_SEVERITIES.indexOf(alarm.severity)
      const unacked = alarm.acknowledgedAt === undefined
      const seen = byDevice.get(id)
      if (!seen) byDevice.set(id, { severity, unacked })
      else {
        seen.severity = Math.min(seen.severity, severity)
        seen.unacked ||= unacked
      }
    }
    return byDevice
  }
}

function sameRow(a: MapRow, b: MapRow): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

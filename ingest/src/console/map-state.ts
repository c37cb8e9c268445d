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
  /**
   * Per registered device: the registry record its place was read from (the
   * directory replaces a record when it changes), the row as last reported
   * (null: not placed), and the refresh that last saw it. A refresh reads a
   * device's metadata again only when its record changed, and makes a new row
   * only for a device whose row changed: over 50,000 devices most refreshes
   * allocate next to nothing.
   */
  private readonly entries = new Map<string, { record: DeviceRecord; row: MapRow | null; seen: number }>()
  private generation = 0
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
    const generation = ++this.generation
    const changed: MapRow[] = []
    const removed: string[] = []
    let unplaced = 0
    for (const device of this.deps.devices.all()) {
      if (device.kind !== 'device' || !device.domain) continue
      let entry = this.entries.get(device.id)
      if (entry === undefined || entry.record !== device) {
        const before = entry?.row ?? null
        let row = placedRow(device)
        // A device that left the map (its location removed) is reported removed.
        if (row === null && before !== null) removed.push(device.id)
        // Its place unchanged (another metadata key changed): the row as it was.
        else if (row !== null && before !== null && samePlace(row, before)) row = before
        // New on the map or moved: reported below whatever its state (-2 is no state).
        else if (row !== null) row[5] = -2
        entry = { record: device, row, seen: generation }
        this.entries.set(device.id, entry)
      }
      entry.seen = generation
      const row = entry.row
      if (row === null) {
        unplaced++
        continue
      }
      const alarm = alarms.get(device.id)
      const state = MAP_STATES.indexOf(this.deps.status(device.id, now).status)
      const severity = alarm?.severity ?? -1
      const unacked = alarm?.unacked ? 1 : 0
      if (row[5] === state && row[6] === severity && row[7] === unacked) continue
      // A new row, not the old one changed: the old one may still be on its way to a page.
      const next: MapRow = [row[0], row[1], row[2], row[3], row[4], state, severity, unacked]
      entry.row = next
      changed.push(next)
    }
    for (const [id, entry] of this.entries) {
      if (entry.seen === generation) continue
      this.entries.delete(id)
      if (entry.row !== null) removed.push(id)
    }
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
    const rows: MapRow[] = []
    for (const entry of this.entries.values()) if (entry.row !== null) rows.push(entry.row)
    const n = rows.length
    const snapshot: MapSnapshot = {
      version: this.version, generatedAt: now, states: MAP_STATES, severities: MAP_SEVERITIES,
      domains: [], districts: [],
      ids: new Array(n), lon: new Array(n), lat: new Array(n), domain: new Array(n), district: new Array(n),
      state: new Array(n), alarm: new Array(n), unacked: new Array(n),
      unplaced: this.unplaced,
    }
    let i = 0
    for (const [id, lon, lat, domain, district, state, alarm, unacked] of rows) {
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

function samePlace(a: MapRow, b: MapRow): boolean {
  return a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4]
}

/** A device's row from its registry record, state and alarm to be filled in; null when its metadata gives no location. */
function placedRow(device: DeviceRecord): MapRow | null {
  const place = deviceLocation(device.metadata)
  if (!place) return null
  const district = typeof device.metadata.district === 'string' ? device.metadata.district : ''
  return [
    device.id,
    Math.round(place.longitude * COORD_SCALE) / COORD_SCALE,
    Math.round(place.latitude * COORD_SCALE) / COORD_SCALE,
    device.domain!,
    district,
    -1,
    -1,
    0,
  ]
}

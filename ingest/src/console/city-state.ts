import type { Logger } from '@gridline/core'
import {
  type AlarmEngine,
  type AlarmSeverity,
  type HubSubscription,
  type IndicatorEvent,
  type StreamEvent,
  type StreamHub,
  alertLevelsFromMetadata,
  floodLevelName,
  levelOfService,
  vnAqiBand,
  vnSubIndex,
} from '@gridline/processors'
import { Quality } from '@gridline/schemas'
import type { DeviceRecord } from '../devices/device-store.ts'
import type { SqlClient } from '../storage/sql-client.ts'

export type DeviceStatus = 'online' | 'stale' | 'offline'

export interface LatestValue {
  value: number
  time: number
  quality: number
}

interface DeviceState {
  /** When the service last received anything from the device (reading or status report). */
  heardAt: number
  /** The last status report, if any. */
  reported?: { state: 'online' | 'offline'; since: number }
  /** The last device-status answer's battery and margin (a ChirpStack status event), if any. */
  power?: DevicePowerView
  latest: Map<string, LatestValue>
}

/** A device's battery (%, null on external power or unmeasured), external power and link margin (dB), and when it said so (epoch ms). */
export interface DevicePowerView {
  batteryPercent: number | null
  externalPower: boolean
  marginDb: number
  time: number
}

export interface CityStateOptions {
  /** An online device silent this long is stale. */
  staleAfterMs: number
  /** How often device status reports are reloaded from the database. */
  statusRefreshMs: number
  /** Traffic LOS thresholds (speed % of free flow) for the live estimate before the first indicator. */
  losThresholdsPct: readonly number[]
  occupancyJamPct: number
}

export interface CityStateDeps {
  hub: StreamHub
  db: SqlClient
  devices: { all(): Iterable<DeviceRecord>; get(id: string): DeviceRecord | undefined; readonly size: number }
  alarms: () => AlarmEngine | undefined
  logger: Logger
}

const SEVERITIES: readonly AlarmSeverity[] = ['critical', 'major', 'minor', 'warning', 'info']
const DANANG_OFFSET_MS = 7 * 3_600_000
/** Readings older than this do not count towards "now" figures (a mean of stale sensors misleads). */
const FRESH_MS = 15 * 60_000
const HOUR_MS = 3_600_000

/**
 * A traffic counter's vehicles per hour: `vehicle_count` is the vehicles counted in the
 * device's reporting interval (schemas/catalogue/traffic.json), so its latest count is scaled
 * by that interval, which is the time since its previous count (a gap over an hour is the
 * device having been silent, not one long count: the interval seen before stays).
 */
interface CountState {
  time: number
  value: number
  /** The reporting interval last seen, ms; undefined until two counts have arrived. */
  intervalMs: number | undefined
}

/** Vehicles per hour from a count over `intervalMs`; undefined while the interval is unknown. */
export function vehiclesPerHour(count: number, intervalMs: number | undefined): number | undefined {
  if (intervalMs === undefined || !(intervalMs > 0)) return undefined
  return (count * HOUR_MS) / intervalMs
}

/**
 * What the operation centre's overview shows, kept in memory from the live
 * stream: the latest value per device and metric, the latest indicator per
 * key, and when each device was last heard from. The overview is then a pass
 * over the registered devices, with no database query per request.
 *
 * It follows the stream with a rate limit, so after a burst it keeps only the
 * latest value per device and metric: it never holds ingest back.
 */
export class CityState {
  private readonly devices = new Map<string, DeviceState>()
  private readonly indicators = new Map<string, IndicatorEvent>()
  /** Each lamp's energy meter at the start of tonight. */
  private readonly energyAtNightStart = new Map<string, { night: number; kwh: number }>()
  /** Each traffic counter's latest count and reporting interval, for the segments' hourly flow. */
  private readonly counts = new Map<string, CountState>()
  private subscription: HubSubscription | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private cached: { at: number; overview: Overview } | undefined

  constructor(private readonly deps: CityStateDeps, private readonly options: CityStateOptions) {}

  async start(): Promise<void> {
    await this.loadLatest()
    await this.refreshStatus()
    this.statusTimer = setInterval(() => {
      this.refreshStatus().catch((err) => this.deps.logger.warn({ err }, 'Reloading device status reports failed; the overview uses the last ones.'))
    }, this.options.statusRefreshMs)
    this.statusTimer.unref()
    this.follow()
  }

  stop(): void {
    clearInterval(this.statusTimer)
    this.subscription?.unsubscribe()
  }

  private follow(): void {
    this.subscription = this.deps.hub.subscribe({
      kinds: ['reading', 'indicator'],
      name: 'console:city-state',
      // Latest per (device, metric) between releases: 10,000 devices with 6 metrics each are all seen within 3 s.
      maxEventsPerSecond: 20_000,
      onClose: (reason) => {
        if (reason !== 'overflow') return
        this.deps.logger.warn('The overview fell behind the live stream and was dropped; it follows the stream again.')
        this.follow()
      },
    }, (event) => this.observe(event))
  }

  /** Applies one stream event; public so tests and tools can feed it directly. */
  observe(event: StreamEvent): void {
    if (event.kind === 'indicator') {
      this.indicators.set(`${event.name}\u0000${event.scope}\u0000${event.key}`, event)
      return
    }
    if (event.kind !== 'reading') return
    const state = this.stateOf(event.deviceId)
    if (event.receivedAt > state.heardAt) state.heardAt = event.receivedAt
    const previous = state.latest.get(event.metric)
    if (previous === undefined || event.time >= previous.time) {
      state.latest.set(event.metric, { value: event.value, time: event.time, quality: event.quality })
    }
    if (event.metric === 'energy') this.noteEnergy(event.deviceId, event.value, event.time)
    if (event.metric === 'vehicle_count' && event.quality === Quality.GOOD) this.noteCount(event.deviceId, event.value, event.time)
  }

  status(deviceId: string, now = Date.now()): { status: DeviceStatus; lastSeen: number | null } {
    const state = this.devices.get(deviceId)
    if (!state) return { status: 'offline', lastSeen: null }
    const lastSeen = state.heardAt > 0 ? state.heardAt : null
    const reported = state.reported
    if (reported?.state === 'offline' && reported.since >= state.heardAt) return { status: 'offline', lastSeen }
    if (lastSeen === null) return { status: 'offline', lastSeen }
    return { status: now - lastSeen <= this.options.staleAfterMs ? 'online' : 'stale', lastSeen }
  }

  /** The device's last battery and margin report, as of the last status reload; undefined when it has sent none. */
  power(deviceId: string): DevicePowerView | undefined {
    return this.devices.get(deviceId)?.power
  }

  latest(deviceId: string): { metric: string; value: number; time: number; quality: number }[] {
    const state = this.devices.get(deviceId)
    if (!state) return []
    return [...state.latest].map(([metric, v]) => ({ metric, ...v })).sort((a, b) => a.metric.localeCompare(b.metric))
  }

  /** The overview, computed at most once per 250 ms however many pages ask. */
  overview(now = Date.now()): Overview {
    if (this.cached && now - this.cached.at < 250) return this.cached.overview
    const overview = this.compute(now)
    this.cached = { at: now, overview }
    return overview
  }

  private compute(now: number): Overview {
    const devices: Overview['devices'] = { registered: 0, online: 0, stale: 0, offline: 0, byDomain: {} }
    const districts = new Map<string, { pm25: number[]; sensors: number; time: number }>()
    const segments = new Map<string, { speed: number[]; occupancy: number[]; flow: number; counters: number; freeFlow: number | undefined; time: number }>()
    const areas = new Map<string, { pressure: number[]; flow: number; time: number }>()
    const pressures: number[] = []
    const tanks: Overview['water']['tanks'] = []
    const lighting: Overview['lighting'] = { lamps: 0, on: 0, failed: 0, energyTonightKwh: 0, circuits: [] }
    const circuits = new Map<string, { lamps: number; on: number; failed: number; energyTonightKwh: number }>()
    const gauges: Overview['flood']['gauges'] = []
    const night = nightStart(now)

    for (const device of this.deps.devices.all()) {
      if (device.kind !== 'device' || !device.domain) continue
      const domain = device.domain
      const { status } = this.status(device.id, now)
      devices.registered++
      devices[status]++
      const byDomain = (devices.byDomain[domain] ??= { registered: 0, online: 0, stale: 0, offline: 0 })
      byDomain.registered++
      byDomain[status]++
      const latest = this.devices.get(device.id)?.latest
      if (!latest) continue
      const meta = device.metadata as Record<string, unknown>
      const fresh = (metric: string): LatestValue | undefined => {
        const v = latest.get(metric)
        return v !== undefined && v.quality === Quality.GOOD && now - v.time <= FRESH_MS ? v : undefined
      }
      switch (domain) {
        case 'environment': {
          // Flood gauges are environment devices too; they have a gauge kind and no air to measure.
          if (meta.gauge === 'river' || meta.gauge === 'street' || latest.has('water_level')) {
            const gauge = this.floodGauge(device.id, meta, fresh('water_level'))
            if (gauge) gauges.push(gauge)
            break
          }
          const district = text(meta.district)
          if (!district) break
          const d = districts.get(district) ?? { pm25: [], sensors: 0, time: 0 }
          d.sensors++
          const pm25 = fresh('pm25')
          if (pm25) {
            d.pm25.push(pm25.value)
            d.time = Math.max(d.time, pm25.time)
          }
          districts.set(district, d)
          break
        }
        case 'traffic': {
          const segment = text(meta.roadSegment)
          if (!segment) break
          const s = segments.get(segment) ?? { speed: [], occupancy: [], flow: 0, counters: 0, freeFlow: undefined, time: 0 }
          const speed = fresh('avg_speed')
          const occupancy = fresh('occupancy')
          const count = fresh('vehicle_count')
          if (speed) s.speed.push(speed.value)
          if (occupancy) s.occupancy.push(occupancy.value)
          // Vehicles per hour, not the sum of counts per reporting interval (which was labelled veh/h).
          const perHour = count ? vehiclesPerHour(count.value, this.counts.get(device.id)?.intervalMs) : undefined
          if (perHour !== undefined) {
            s.flow += perHour
            s.counters++
          }
          if (typeof meta.freeFlowSpeedKmh === 'number') s.freeFlow = meta.freeFlowSpeedKmh
          s.time = Math.max(s.time, speed?.time ?? 0, count?.time ?? 0)
          segments.set(segment, s)
          break
        }
        case 'water': {
          const pressure = fresh('pressure')
          const flow = fresh('flow')
          if (pressure) pressures.push(pressure.value)
          const area = text(meta.meteredArea)
          if (area && (pressure || flow)) {
            const a = areas.get(area) ?? { pressure: [], flow: 0, time: 0 }
            if (pressure) a.pressure.push(pressure.value)
            if (flow) a.flow += flow.value
            a.time = Math.max(a.time, pressure?.time ?? 0, flow?.time ?? 0)
            areas.set(area, a)
          }
          const level = fresh('level')
          if (level) {
            const min = typeof meta.tankMinLevelM === 'number' ? meta.tankMinLevelM : 0
            const max = typeof meta.tankMaxLevelM === 'number' ? meta.tankMaxLevelM : undefined
            const fillPercent = max !== undefined && max > min ? clamp(Math.round(((level.value - min) / (max - min)) * 100), 0, 100) : null
            tanks.push({ deviceId: device.id, levelM: level.value, fillPercent, time: level.time })
          }
          break
        }
        case 'lighting': {
          lighting.lamps++
          const circuit = text(meta.circuit) ?? '—'
          const c = circuits.get(circuit) ?? { lamps: 0, on: 0, failed: 0, energyTonightKwh: 0 }
          c.lamps++
          const on = fresh('lamp_on')
          const fault = latest.get('lamp_fault')
          if (on && on.value > 0) {
            lighting.on++
            c.on++
          }
          if (fault && fault.value > 0) {
            lighting.failed++
            c.failed++
          }
          const energy = latest.get('energy')
          const start = this.energyAtNightStart.get(device.id)
          if (energy && start && start.night === night) {
            const kwh = Math.max(0, energy.value - start.kwh)
            lighting.energyTonightKwh += kwh
            c.energyTonightKwh += kwh
          }
          circuits.set(circuit, c)
          break
        }
        case 'flood': {
          const gauge = this.floodGauge(device.id, meta, fresh('water_level'))
          if (gauge) gauges.push(gauge)
          break
        }
      }
    }

    const environment = [...districts].map(([district, d]) => {
      const last = this.indicators.get(`vn_aqi_hourly\u0000district\u0000${district}`)
      // An hourly index is the latest closed hour's; older than two hours it no longer says how the air is now.
      const hourly = last !== undefined && now - last.time <= 2 * 3_600_000 ? last : undefined
      const pm25 = d.pm25.length > 0 ? round(mean(d.pm25), 1) : null
      // Before the first hour closes, a provisional index from the PM2.5 sub-index of the latest readings.
      const provisional = pm25 === null ? undefined : vnSubIndex('pm25', pm25)
      const vnAqi = hourly ? Math.round(hourly.value) : provisional === undefined ? null : Math.round(provisional)
      return {
        district,
        vnAqi,
        level: hourly?.level ?? (vnAqi === null ? null : vnAqiBand(vnAqi).key),
        source: hourly ? 'hourly' as const : vnAqi === null ? null : 'pm25_now' as const,
        pm25,
        sensors: d.sensors,
        time: Math.max(d.time, hourly?.time ?? 0) || null,
      }
    }).sort((a, b) => a.district.localeCompare(b.district, 'vi'))

    const traffic = [...segments].map(([segment, s]) => {
      const indicator = this.indicators.get(`traffic_los\u0000road_segment\u0000${segment}`)
      const speedKmh = s.speed.length > 0 ? round(mean(s.speed), 1) : null
      const occupancy = s.occupancy.length > 0 ? mean(s.occupancy) : undefined
      const live = speedKmh !== null && s.freeFlow ? levelOfService((speedKmh / s.freeFlow) * 100, this.options.losThresholdsPct, occupancy, this.options.occupancyJamPct) : null
      return { segment, los: indicator?.level ?? live, speedKmh, flow: s.counters > 0 ? Math.round(s.flow) : null, time: Math.max(s.time, indicator?.time ?? 0) || null }
    }).sort((a, b) => a.segment.localeCompare(b.segment, 'vi'))

    lighting.energyTonightKwh = round(lighting.energyTonightKwh, 2)
    lighting.circuits = [...circuits].map(([circuit, c]) => ({ circuit, ...c, energyTonightKwh: round(c.energyTonightKwh, 2) })).sort((a, b) => a.circuit.localeCompare(b.circuit, 'vi'))

    const active = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<AlarmSeverity, number>
    let unacknowledged = 0
    for (const alarm of this.deps.alarms()?.listActive() ?? []) {
      active[alarm.severity]++
      if (alarm.acknowledgedAt === undefined) unacknowledged++
    }

    return {
      kind: 'overview',
      generatedAt: now,
      devices,
      alarms: { active, unacknowledged },
      environment: { districts: environment },
      traffic: { segments: traffic },
      water: {
        pressureBar: { min: pressures.length > 0 ? round(Math.min(...pressures), 2) : null, avg: pressures.length > 0 ? round(mean(pressures), 2) : null, sensors: pressures.length },
        areas: [...areas].map(([area, a]) => ({ area, pressureBar: a.pressure.length > 0 ? round(mean(a.pressure), 2) : null, flow: round(a.flow, 1), time: a.time || null })).sort((a, b) => a.area.localeCompare(b.area, 'vi')),
        tanks: tanks.sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
      },
      lighting,
      flood: { gauges: gauges.sort((a, b) => a.deviceId.localeCompare(b.deviceId)) },
    }
  }

  /** A flood gauge's level and alert (0 normal, 1-3 báo động I-III); street gauges default to 0.1/0.3/0.5 m. */
  private floodGauge(deviceId: string, meta: Record<string, unknown>, level: LatestValue | undefined): Overview['flood']['gauges'][number] | undefined {
    if (!level) return undefined
    const gauge = meta.gauge === 'street' ? 'street' : 'river'
    const levels = alertLevelsFromMetadata(meta.alertLevelsM) ?? (gauge === 'street' ? [0.1, 0.3, 0.5] as [number, number, number] : undefined)
    const name = floodLevelName(level.value, levels)
    return { deviceId, gauge, levelM: level.value, alert: name.startsWith('alert_') ? Number(name.slice(6)) : 0, time: level.time }
  }

  private stateOf(deviceId: string): DeviceState {
    let state = this.devices.get(deviceId)
    if (!state) this.devices.set(deviceId, (state = { heardAt: 0, latest: new Map() }))
    return state
  }

  /** The first energy reading seen tonight is tonight's starting point. */
  private noteEnergy(deviceId: string, kwh: number, time: number): void {
    const night = nightStart(time)
    const start = this.energyAtNightStart.get(deviceId)
    if (!start || start.night < night) this.energyAtNightStart.set(deviceId, { night, kwh })
  }

  /** A traffic counter's count: the interval since its previous one is its reporting interval. */
  private noteCount(deviceId: string, value: number, time: number): void {
    const previous = this.counts.get(deviceId)
    if (previous && time <= previous.time) {
      if (time === previous.time) previous.value = value
      return
    }
    const gap = previous ? time - previous.time : undefined
    const intervalMs = gap !== undefined && gap <= HOUR_MS ? gap : previous?.intervalMs
    this.counts.set(deviceId, { time, value, intervalMs })
  }

  /**
   * After a restart: the latest rollup per device and metric of the last two
   * hours (a minute's, else an hour's: a device reporting every few minutes
   * has no minutes in telemetry_1m, docs/rollups.md#single-reading-minutes),
   * so the overview is not empty.
   */
  private async loadLatest(): Promise<void> {
    try {
      const { rows } = await this.deps.db.query<{ device_id: string; metric: string; bucket: Date; last: number | null }>(
        `SELECT DISTINCT ON (device_id, metric) device_id, metric, bucket, last
           FROM (SELECT device_id, metric, bucket, last FROM telemetry_1m WHERE bucket > now() - interval '2 hours' AND last IS NOT NULL
                 UNION ALL
                 SELECT device_id, metric, bucket, last FROM telemetry_1h WHERE bucket > now() - interval '2 hours' AND last IS NOT NULL) latest
          ORDER BY device_id, metric, bucket DESC`,
      )
      for (const r of rows) {
        const state = this.stateOf(r.device_id)
        const time = r.bucket.getTime()
        state.latest.set(r.metric, { value: Number(r.last), time, quality: Quality.GOOD })
        state.heardAt = Math.max(state.heardAt, time)
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'Loading the latest rollups failed; the overview fills from the live stream.')
    }
  }

  private async refreshStatus(): Promise<void> {
    const { rows } = await this.deps.db.query<{ device_id: string; state: 'online' | 'offline'; since: Date; received_at: Date; battery_percent: number | null; external_power: boolean | null; margin_db: number | null; power_reported_at: Date | null }>(
      'SELECT device_id, state, since, received_at, battery_percent, external_power, margin_db, power_reported_at FROM device_status',
    )
    for (const r of rows) {
      const state = this.stateOf(r.device_id)
      state.reported = { state: r.state, since: r.received_at.getTime() }
      if (r.power_reported_at !== null) {
        state.power = { batteryPercent: r.battery_percent === null ? null : Number(r.battery_percent), externalPower: r.external_power === true, marginDb: Number(r.margin_db), time: r.power_reported_at.getTime() }
      }
      if (r.state === 'online') state.heardAt = Math.max(state.heardAt, r.received_at.getTime())
    }
    this.cached = undefined
  }
}

/** 18:00 Da Nang time of the night `time` belongs to (the previous day's 18:00 before noon). */
export function nightStart(time: number): number {
  const local = time + DANANG_OFFSET_MS
  const day = Math.floor(local / 86_400_000) * 86_400_000
  const hour = (local - day) / 3_600_000
  const start = hour >= 12 ? day + 18 * 3_600_000 : day - 6 * 3_600_000
  return start - DANANG_OFFSET_MS
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined)
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v))

type Counts = { registered: number; online: number; stale: number; offline: number }

export interface Overview {
  kind: 'overview'
  generatedAt: number
  devices: Counts & { byDomain: Record<string, Counts> }
  alarms: { active: Record<AlarmSeverity, number>; unacknowledged: number }
  environment: { districts: { district: string; vnAqi: number | null; level: string | null; source: 'hourly' | 'pm25_now' | null; pm25: number | null; sensors: number; time: number | null }[] }
  /** `flow`: the segment's counters' vehicles per hour; null until a counter's reporting interval is known (two counts). */
  traffic: { segments: { segment: string; los: string | null; speedKmh: number | null; flow: number | null; time: number | null }[] }
  water: {
    pressureBar: { min: number | null; avg: number | null; sensors: number }
    areas: { area: string; pressureBar: number | null; flow: number; time: number | null }[]
    tanks: { deviceId: string; levelM: number; fillPercent: number | null; time: number }[]
  }
  lighting: { lamps: number; on: number; failed: number; energyTonightKwh: number; circuits: { circuit: string; lamps: number; on: number; failed: number; energyTonightKwh: number }[] }
  flood: { gauges: { deviceId: string; gauge: string; levelM: number; alert: number; time: number }[] }
}

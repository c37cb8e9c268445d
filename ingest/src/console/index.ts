import { existsSync, readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { join, resolve } from 'node:path'
import type { Logger } from '@gridline/core'
import { type AlarmEngine, type HcmEdition, type StreamHub, losThresholds } from '@gridline/processors'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { Gauge, type Registry } from 'prom-client'
import type { IngestConfig } from '../config.ts'
import type { DeviceRecord } from '../devices/device-store.ts'
import { pgSqlClient } from '../storage/sql-client.ts'
import { AuditLog } from './audit.ts'
import { CityState } from './city-state.ts'
import type { ConsoleCommands } from './commands-port.ts'
import { type MapBase, registerConsoleRoutes, requireAlarms, requireCommands } from './console-routes.ts'
import { LiveStreams } from './live.ts'
import { MapState } from './map-state.ts'
import { databaseIdentity, describeIdentity, readIdentity, sameIdentity, writeIdentity } from './node-red/database-identity.ts'
import { type EmbeddedNodeRed, embedNodeRed } from './node-red/embed.ts'
import { hubSubscribe } from './node-red/runtime.ts'
import { sessionOf } from './session-auth.ts'
import { LoginThrottle, SessionStore, UserStore } from './users.ts'
import { serveWebApp } from './web-files.ts'
import type { NotificationService } from '../notifications/notification-service.ts'
import { registerNotificationRoutes } from '../notifications/routes.ts'

/** Where Node-RED's editor and its http-in endpoints live (http-guards gives it its own CSP). */
export const NODE_RED_PATH = '/flows'

export interface OperatorConsoleDeps {
  pool: pg.Pool
  hub: StreamHub
  devices: { all(): Iterable<DeviceRecord>; get(id: string): DeviceRecord | undefined; readonly size: number }
  alarms: () => AlarmEngine | undefined
  commands: ConsoleCommands | undefined
  /** The built web app's folder (dashboards/dist); none serves the API only. */
  webRoot: string | undefined
  registry: Registry
  logger: Logger
  /** Alarm notifications (webhooks, email): their admin API; none without endpoints. */
  notifications?: NotificationService | undefined
  /** The traffic indicator's LOS table (processors.indicators.traffic), so the overview's live LOS agrees with the indicator's; default HCM 2010. */
  traffic?: { hcmEdition: HcmEdition; losThresholdsPct?: readonly number[] | undefined; occupancyJamPct: number }
}

/**
 * The operator console: login and roles, the API, the live stream and the web
 * app, on the service's HTTP server (docs/console-api.md).
 */
export class OperatorConsole {
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly audit: AuditLog
  readonly city: CityState
  readonly live: LiveStreams
  readonly map: MapState
  private nodeRed: Promise<EmbeddedNodeRed> | undefined

  constructor(private readonly config: IngestConfig['console'], private readonly deps: OperatorConsoleDeps) {
    const sql = pgSqlClient(deps.pool)
    this.users = new UserStore(sql)
    this.sessions = new SessionStore(sql, { idleTtlMs: config.sessionTtlMinutes * 60_000, maxAgeMs: config.sessionMaxHours * 3_600_000 })
    this.audit = new AuditLog(sql, deps.logger)
    this.city = new CityState(
      { hub: deps.hub, db: sql, devices: deps.devices, alarms: deps.alarms, logger: deps.logger },
      { staleAfterMs: config.staleAfterSeconds * 1000, statusRefreshMs: 5_000, losThresholdsPct: [...losThresholds(deps.traffic ?? { hcmEdition: '2010' })], occupancyJamPct: deps.traffic?.occupancyJamPct ?? 35 },
    )
    this.map = new MapState({
      devices: deps.devices,
      status: (id, now) => this.city.status(id, now),
      alarms: () => deps.alarms()?.listActive() ?? [],
    })
    this.live = new LiveStreams(
      { hub: deps.hub, overview: () => this.city.overview(), map: this.map, onCommand: (listener) => deps.commands?.onChange(listener) ?? (() => undefined), logger: deps.logger },
      { queueEvents: config.liveQueueEvents, maxRate: config.liveMaxRate, heartbeatMs: 15_000 },
    )
    // Every command is audited when sent and again with its outcome (ok, rejected, failed, timeout).
    deps.commands?.onChange((c) => {
      const detail = { commandId: c.id, action: c.action, params: c.params, ...(c.detail ? { detail: c.detail } : {}) }
      if (c.status === 'pending') this.audit.record(c.user, 'command.send', c.deviceId, detail)
      else this.audit.record(c.user, 'command.result', c.deviceId, detail, c.status)
    })
    const live = this.live
    const audit = this.audit
    new Gauge({ name: 'gridline_console_live_clients', help: 'Browsers following the live stream now.', registers: [deps.registry], collect() { this.set(live.stats.clients) } })
    new Gauge({ name: 'gridline_console_live_dropped', help: 'Live streams ended because the browser fell behind (it reconnects by itself), since start.', registers: [deps.registry], collect() { this.set(live.stats.dropped) } })
    new Gauge({ name: 'gridline_console_live_events', help: 'Events written to browsers\' live streams since start.', registers: [deps.registry], collect() { this.set(live.stats.events) } })
    new Gauge({ name: 'gridline_console_audit_failures', help: 'Audit entries that could not be written (each is logged), since start.', registers: [deps.registry], collect() { this.set(audit.failures) } })
  }

  /** Adds the API and the web app to the HTTP server; call before it listens. */
  register(app: FastifyInstance): void {
    registerConsoleRoutes(app, {
      pool: this.deps.pool,
      sql: pgSqlClient(this.deps.pool),
      users: this.users,
      sessions: this.sessions,
      throttle: new LoginThrottle(),
      audit: this.audit,
      city: this.city,
      live: this.live,
      map: this.map,
      mapBase: mapBase(this.config.map),
      devices: this.deps.devices,
      alarms: this.deps.alarms,
      commands: this.deps.commands,
      logger: this.deps.logger,
      sessionMaxAgeMs: this.config.sessionMaxHours * 3_600_000,
      secureCookies: this.config.secureCookies,
    })
    if (this.deps.notifications) registerNotificationRoutes(app, { sessions: this.sessions, audit: this.audit, notifications: this.deps.notifications })
    if (this.deps.webRoot) serveWebApp(app, this.deps.webRoot)
    if (this.config.nodeRed.enabled) this.nodeRed = this.embedNodeRed(app)
  }

  async start(): Promise<void> {
    await this.city.start()
  }

  /**
   * After the HTTP server listens: Node-RED starts now when flows were deployed
   * before (they must run), otherwise on an admin's first visit to /flows.
   */
  async listening(server: Server): Promise<void> {
    const nodeRed = await this.nodeRed
    if (!nodeRed) return
    const userDir = this.nodeRedDir
    const ours = await databaseIdentity(this.deps.pool)
    const recorded = readIdentity(userDir)
    const flows = hasFlows(userDir)
    this.deps.logger.info({ userDir: resolve(userDir), flows }, 'Node-RED user folder.')
    if (flows && recorded && !sameIdentity(recorded, ours)) {
      // Flows made against another database (the demo's, another city's) would act on this one's devices: never start them unasked.
      this.deps.logger.warn(
        { userDir: resolve(userDir), flowsFor: recorded, database: ours },
        `The flows in ${resolve(userDir)} were deployed against ${describeIdentity(recorded)}, not this service's ${describeIdentity(ours)}: they are not started. Set console.dataDir (GRIDLINE_DATA_DIR) to this service's own folder, or open /flows as an admin to start them here.`,
      )
      this.flowsForeign = true
      nodeRed.startOnFirstUse(server)
      return
    }
    if (flows) await nodeRed.start(server)
    else nodeRed.startOnFirstUse(server)
  }

  /** True when the service found flows made for another database and left them stopped (see docs/node-red.md). */
  flowsForeign = false

  /** Node-RED's user folder: inside the service's data folder. */
  get nodeRedDir(): string {
    return join(this.config.dataDir, 'node-red')
  }

  private embedNodeRed(app: FastifyInstance): Promise<EmbeddedNodeRed> {
    const { alarms, commands, hub } = this.deps
    const beforeStart = async () => writeIdentity(this.nodeRedDir, await databaseIdentity(this.deps.pool))
    return embedNodeRed({ userDir: this.nodeRedDir, path: NODE_RED_PATH, maxEventsPerSecond: this.config.nodeRed.maxEventsPerSecond, beforeStart }, {
      app,
      authorize: async (req) => (await sessionOf(this.sessions, req))?.user ?? null,
      runtime: {
        subscribe: hubSubscribe(hub),
        raiseAlarm: async (input, actor) => {
          const alarm = requireAlarms(alarms()).raiseCustom(input, actor)
          this.audit.record(actor, 'alarm.raise', alarm.alarmId, { ruleId: alarm.ruleId, subject: alarm.subject, severity: alarm.severity })
          return alarm
        },
        clearAlarm: async (input, actor) => {
          const cleared = requireAlarms(alarms()).clearCustom(input, actor)
          this.audit.record(actor, 'alarm.clear', `${input.ruleId}/${input.subject}`, { cleared })
          return cleared
        },
        lookupDevice: (deviceId) => {
          const device = this.deps.devices.get(deviceId)
          return device ? { id: device.id, domain: device.domain ?? '', metadata: device.metadata ?? {} } : undefined
        },
        sendCommand: async (input, actor) => {
          const service = requireCommands(commands)
          const sent = await service.send(input, actor)
          return await service.waitForResult(sent.id)
        },
      },
      audit: (actor, action, detail) => this.audit.record(actor, action, null, detail),
      logger: this.deps.logger,
    })
  }

  /** Ends the live streams (browsers reconnect to the next instance) and writes pending audit entries. */
  async stop(): Promise<void> {
    await (await this.nodeRed)?.stop()
    this.live.close()
    this.city.stop()
    await this.audit.flush()
  }
}

/** The base map the page draws (GET /api/map's `base`): the configured GIS server, or the shipped land and a graticule. */
export function mapBase(map: IngestConfig['console']['map']): MapBase {
  const view = { center: map.center, zoom: map.zoom, attribution: map.attribution }
  if (map.styleUrl) return { kind: 'style', url: map.styleUrl, ...view }
  if (map.tileUrl) return { kind: 'raster', tiles: [map.tileUrl], tileSizePx: map.tileSizePx, ...view }
  return { kind: 'offline', ...view }
}

/** The origins the map's base loads from, for the Content-Security-Policy (http-guards.ts). */
export function mapOrigins(map: IngestConfig['console']['map']): string[] {
  return [map.styleUrl, map.tileUrl, ...map.extraOrigins].filter((u): u is string => u !== undefined).map((u) => new URL(u).origin)
}

/** True when the flow file holds at least one node (a fresh Node-RED writes `[]`). */
function hasFlows(userDir: string): boolean {
  const file = join(userDir, 'flows.json')
  if (!existsSync(file)) return false
  try {
    const flows = JSON.parse(readFileSync(file, 'utf8')) as unknown
    return Array.isArray(flows) && flows.length > 0
  } catch {
    return true // unreadable: let Node-RED start and report it
  }
}

export { type Role, ROLES, UserStore, roleAtLeast } from './users.ts'
export { CONSOLE_MIGRATIONS } from './migrations.ts'
export type { Overview } from './city-state.ts'

import { GridlineError, type Logger } from '@gridline/core'
import { type AlarmEngine, type AlarmRecord, type AlarmSeverity, type IndicatorEvent, IndicatorHistoryStore, queryTelemetry } from '@gridline/processors'
import { commandsFor, defaultCatalogue } from '@gridline/schemas'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type pg from 'pg'
import { type DeviceRecord, DeviceStore } from '../devices/device-store.ts'
import { REJECTED_MAX_LIMIT, parseSince, queryRejected, rejectionSummary } from '../storage/rejected-store.ts'
import type { SqlClient } from '../storage/sql-client.ts'
import { registerExportRoutes } from '../exports/export-routes.ts'
import type { AuditLog } from './audit.ts'
import type { CityState } from './city-state.ts'
import type { ConsoleCommands } from './commands-port.ts'
import type { LiveStreams } from './live.ts'
import type { MapState } from './map-state.ts'
import { SESSION_COOKIE, clearedSessionCookie, readCookie, requireRole, sendError, sessionCookie, sessionOf, statusForError } from './session-auth.ts'
import { type LoginThrottle, ROLES, type Role, type SessionStore, type UserStore } from './users.ts'

export interface ConsoleRouteDeps {
  pool: pg.Pool
  sql: SqlClient
  users: UserStore
  sessions: SessionStore
  throttle: LoginThrottle
  audit: AuditLog
  city: CityState
  live: LiveStreams
  map: MapState
  mapBase: MapBase
  devices: { all(): Iterable<DeviceRecord>; get(id: string): DeviceRecord | undefined }
  alarms: () => AlarmEngine | undefined
  commands: ConsoleCommands | undefined
  logger: Logger
  /** Session length, for the cookie's Max-Age. */
  sessionMaxAgeMs: number
  /** Mark the cookie Secure (behind HTTPS). */
  secureCookies: boolean
}

/** What the map page draws under the devices (config console.map, docs/dashboards.md#map). */
export type MapBase =
  & { center: readonly [number, number]; zoom: number; attribution: string }
  & ({ kind: 'style'; url: string } | { kind: 'raster'; tiles: string[]; tileSizePx: number } | { kind: 'offline' })

/** The most alarms one POST /api/alarms/ack acknowledges. */
const BULK_ACK_MAX = 500
const SEVERITY_ORDER: Record<AlarmSeverity, number> = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 }
const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const
const DAY_MS = 86_400_000
/** The longest custom range of a device's series (GET /api/devices/:id/series?from&to). */
const SERIES_MAX_RANGE_MS = 366 * DAY_MS
const INDICATOR_RANGES = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS, '365d': 365 * DAY_MS } as const
const INDICATOR_SCOPES: readonly IndicatorEvent['scope'][] = ['device', 'district', 'road_segment', 'metered_area', 'circuit']

/** The operator console's API (docs/console-api.md). */
export function registerConsoleRoutes(app: FastifyInstance, deps: ConsoleRouteDeps): void {
  const { users, sessions, audit, city } = deps
  const viewer = { preHandler: requireRole(sessions, 'viewer') }
  const operator = { preHandler: requireRole(sessions, 'operator') }
  const admin = { preHandler: requireRole(sessions, 'admin') }
  const actor = (req: FastifyRequest): string => req.session!.user.name

  app.decorateRequest('session', null)
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const known = statusForError(err)
    if (known) return sendError(reply, known.status, known.code, err.message)
    // fastify's own 4xx (a body that is not JSON, too large): the client's mistake.
    if (err.statusCode !== undefined && err.statusCode < 500) return sendError(reply, err.statusCode, 'GRIDLINE_BAD_REQUEST', err.message)
    deps.logger.error({ err, url: req.url }, 'A console request failed.')
    return sendError(reply, 500, 'GRIDLINE_INTERNAL', 'The request failed inside the service; it is logged.')
  })
  // The Origin check and the JSON content-type rule for every change are in http-guards.ts (all routes, the normalised path).

  // ---- sessions
  app.post('/api/login', async (req, reply) => {
    const body = objectBody(req)
    const name = stringField(body, 'username', 64)
    const password = stringField(body, 'password', 1_000)
    // Counted before the password is checked (synchronously, no await in between): concurrent guesses cannot all be checked.
    const admission = deps.throttle.admit(name, req.ip)
    if (!admission.ok) {
      const seconds = Math.ceil(admission.retryAfterMs / 1000)
      audit.record(name, 'login', name, { reason: 'throttled', scope: admission.scope, ip: req.ip }, 'refused')
      reply.header('retry-after', seconds)
      const why = admission.scope === 'address' ? 'from this address' : admission.scope === 'account' ? `for "${name}" from addresses it never logged in from` : `for "${name}" from this address`
      throw new GridlineError('GRIDLINE_LOGIN_THROTTLED', `Too many failed logins ${why}; try again in ${seconds} s.`)
    }
    const user = await users.verify(name, password)
    if (!user) {
      audit.record(name, 'login', name, { ip: req.ip }, 'failed')
      throw new GridlineError('GRIDLINE_LOGIN_FAILED', 'Wrong user name or password.')
    }
    deps.throttle.succeeded(admission.attempt)
    const { token, session } = await sessions.open(user)
    audit.record(user.name, 'login', user.name, { ip: req.ip })
    reply.header('set-cookie', sessionCookie(token, deps.sessionMaxAgeMs, deps.secureCookies))
    return { user: session.user, expiresAt: session.expiresAt }
  })

  app.post('/api/logout', async (req, reply) => {
    const session = await sessionOf(sessions, req.raw)
    await sessions.close(readCookie(req.headers.cookie, SESSION_COOKIE))
    if (session) audit.record(session.user.name, 'logout', session.user.name, {})
    return reply.header('set-cookie', clearedSessionCookie).code(204).send()
  })

  app.get('/api/me', viewer, async (req) => ({ user: req.session!.user, expiresAt: req.session!.expiresAt }))
  // The web app's question at load, "is anyone signed in?": 200 either way, so a browser logs no failed request before the login page.
  app.get('/api/session', async (req) => {
    const session = await sessionOf(sessions, req.raw)
    return session ? { user: session.user, expiresAt: session.expiresAt } : { user: null }
  })

  // ---- overview and live stream
  app.get('/api/overview', viewer, async () => city.overview())

  // Every placed device's position, state and worst alarm, as columns (docs/console-api.md#map); the live stream's `map` events follow it.
  app.get('/api/map', viewer, async (_req, reply) => {
    reply.header('cache-control', 'no-store')
    return { ...deps.map.snapshot(), base: deps.mapBase }
  })

  app.get('/api/live', viewer, async (req, reply) => {
    let request
    try {
      request = deps.live.parse(req.query as Record<string, string | undefined>, actor(req))
    } catch (err) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', (err as Error).message)
    }
    reply.hijack()
    deps.live.open(reply.raw, request)
  })

  // ---- devices
  app.get('/api/devices', viewer, async (req) => {
    const q = req.query as Record<string, string | undefined>
    const limit = intParam(q.limit, 100, 1, 1_000)
    const offset = intParam(q.offset, 0, 0, 10_000_000)
    const needle = q.q?.trim().toLowerCase()
    const now = Date.now()
    const matches: ReturnType<typeof deviceView>[] = []
    for (const device of deps.devices.all()) {
      if (q.domain && device.domain !== q.domain) continue
      if (q.kind ? device.kind !== q.kind : device.kind !== 'device') continue
      if (needle && !device.id.toLowerCase().includes(needle) && !Object.values(device.metadata ?? {}).some((v) => String(v).toLowerCase().includes(needle))) continue
      const view = deviceView(device, city, now)
      if (q.status && view.status !== q.status) continue
      matches.push(view)
    }
    matches.sort((a, b) => a.id.localeCompare(b.id))
    return { total: matches.length, devices: matches.slice(offset, offset + limit) }
  })

  app.get('/api/devices/:id', viewer, async (req) => {
    const device = findDevice(deps, (req.params as { id: string }).id)
    const catalogue = defaultCatalogue()
    // The catalogue's unit and plausible range per metric: the charts' kind (bool is a state) and y bounds.
    const latest = city.latest(device.id).map((v) => {
      const definition = catalogue.metric(device.domain ?? '', v.metric)
      return { ...v, unit: definition?.unit ?? null, min: definition?.min ?? null, max: definition?.max ?? null }
    })
    // The limits of the threshold rules that watch this device, drawn on its charts.
    const thresholds = deps.alarms()?.thresholdsFor(device.id, device.domain ?? undefined) ?? []
    return { device: { ...deviceView(device, city, Date.now()), createdAt: device.createdAt }, latest, thresholds, commands: device.kind === 'device' ? commandsFor(device.domain ?? '') : [] }
  })

  app.get('/api/devices/:id/series', viewer, async (req) => {
    const device = findDevice(deps, (req.params as { id: string }).id)
    const q = req.query as Record<string, string | undefined>
    const metric = q.metric
    if (!metric) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'metric: which metric to chart, e.g. ?metric=pm25.')
    let range: string
    let from: number
    let to: number
    if (q.from !== undefined || q.to !== undefined) {
      // A custom range (the chart's from/to inputs, or a zoom): the resolution follows its length as for the presets.
      range = 'custom'
      from = Date.parse(q.from ?? '')
      to = q.to === undefined ? Date.now() : Date.parse(q.to)
      if (Number.isNaN(from) || Number.isNaN(to) || to <= from) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'from and to: RFC 3339 times, from before to (e.g. ?from=2026-11-29T08:00:00%2B07:00&to=2026-11-29T10:00:00%2B07:00).')
      if (to - from > SERIES_MAX_RANGE_MS) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'from and to: at most 366 days apart.')
    } else {
      range = q.range ?? '1h'
      if (!(range in RANGES)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `range: one of ${Object.keys(RANGES).join(', ')} (or from and to).`)
      to = Date.now()
      from = to - RANGES[range as keyof typeof RANGES]
    }
    const series = await queryTelemetry(deps.pool, { deviceId: device.id, metric, from, to, maxPoints: 2_000 })
    const rollup = series.resolution !== 'raw'
    return {
      metric,
      range,
      from,
      to,
      resolution: series.resolution,
      stepMs: series.stepMs,
      points: series.points.map((p) => (rollup ? { t: p.time, v: p.value, min: p.min, max: p.max } : { t: p.time, v: p.value })),
    }
  })

  // ---- indicator history (docs/console-api.md#indicators)
  const indicators = new IndicatorHistoryStore(deps.pool)
  app.get('/api/indicators', viewer, async () => ({ indicators: await indicators.catalog() }))
  app.get('/api/indicators/:name', viewer, async (req) => {
    const name = (req.params as { name: string }).name
    const q = req.query as Record<string, string | undefined>
    const scope = q.scope === undefined || q.scope === '' ? undefined : q.scope as IndicatorEvent['scope']
    if (scope !== undefined && !INDICATOR_SCOPES.includes(scope)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `scope: one of ${INDICATOR_SCOPES.join(', ')}.`)
    const key = q.key === undefined || q.key === '' ? undefined : q.key
    let from: number
    let to: number
    if (q.from !== undefined || q.to !== undefined) {
      from = Date.parse(q.from ?? '')
      to = q.to === undefined ? Date.now() : Date.parse(q.to)
      if (Number.isNaN(from) || Number.isNaN(to) || to <= from) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'from and to: RFC 3339 times, from before to (e.g. ?from=2026-11-01T00:00:00%2B07:00&to=2026-12-01T00:00:00%2B07:00).')
      if (to - from > INDICATOR_RANGES['365d']) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'from and to: at most 365 days apart.')
    } else {
      const range = (q.range ?? '30d') as keyof typeof INDICATOR_RANGES
      if (!(range in INDICATOR_RANGES)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `range: one of ${Object.keys(INDICATOR_RANGES).join(', ')} (or from and to).`)
      to = Date.now()
      from = to - INDICATOR_RANGES[range]
    }
    const values = await indicators.query({ name, ...(scope ? { scope } : {}), ...(key ? { key } : {}), from, to, limit: intParam(q.limit, 2_000, 1, 10_000) })
    return {
      name, scope: scope ?? null, key: key ?? null, from, to,
      points: values.map((v) => ({ t: v.time, v: v.value, scope: v.scope, key: v.key, level: v.level, revision: v.revision, ...(v.details ? { details: v.details } : {}) })),
    }
  })

  // ---- exports and reports (docs/exports.md)
  registerExportRoutes(app, { pool: deps.pool, devices: deps.devices, logger: deps.logger, viewer: viewer.preHandler })

  // ---- refusals (docs/console-api.md#rejected)
  app.get('/api/devices/:id/rejections', viewer, async (req) => {
    const device = findDevice(deps, (req.params as { id: string }).id)
    const q = req.query as Record<string, string | undefined>
    const since = parseSince(q.since || '24h')
    const summary = await rejectionSummary(deps.sql, device.id, since, intParam(q.latest, 5, 0, 50))
    // Viewers see why, not what: the payloads are on /api/rejected (operator).
    return { ...summary, latest: summary.latest.map(({ id, receivedAt, topic, reason, detail }) => ({ id, receivedAt, topic, reason, detail })) }
  })

  app.get('/api/rejected', operator, async (req) => {
    const q = req.query as Record<string, string | undefined>
    const limit = intParam(q.limit, 50, 1, REJECTED_MAX_LIMIT)
    const entries = await queryRejected(deps.sql, {
      deviceId: q.device?.trim() || undefined,
      reason: q.reason?.trim() || undefined,
      since: q.since ? parseSince(q.since) : undefined,
      beforeId: q.before ? intParam(q.before, 0, 1, Number.MAX_SAFE_INTEGER) : undefined,
      limit: limit + 1,
    })
    const page = entries.slice(0, limit)
    return { entries: page, ...(entries.length > limit ? { next: page.at(-1)!.id } : {}) }
  })

  app.get('/api/devices/:id/alarms', viewer, async (req) => {
    const device = findDevice(deps, (req.params as { id: string }).id)
    const limit = intParam((req.query as Record<string, string>).limit, 50, 1, 1_000)
    return { history: await alarmHistory(deps, { deviceId: device.id, limit }) }
  })

  app.post('/api/devices', admin, async (req, reply) => {
    const body = objectBody(req)
    const id = stringField(body, 'id', 128)
    const domain = stringField(body, 'domain', 64)
    const metadata = body.metadata
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', 'metadata: a JSON object of the device\'s keys, e.g. {"district": "Hải Châu"}.')
    }
    const store = new DeviceStore(deps.sql)
    const { device, password } = await store.add({ id, domain, ...(metadata ? { metadata: metadata as Record<string, unknown> } : {}) })
    audit.record(actor(req), 'device.add', id, { domain })
    return reply.code(201).send({ device: { id: device.id, domain: device.domain, kind: device.kind, metadata: device.metadata }, password })
  })

  // Merge (or replace) a device's metadata, as `gridline devices set-metadata` does: the admin page sets a location with it.
  app.post('/api/devices/:id/metadata', admin, async (req) => {
    const { id } = req.params as { id: string }
    const body = objectBody(req)
    const metadata = body.metadata
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', 'metadata: a JSON object of the keys to set, e.g. {"latitude": 16.0544, "longitude": 108.2022}; null removes a key.')
    }
    const device = await new DeviceStore(deps.sql).setMetadata(id, metadata as Record<string, unknown>, { replace: body.replace === true })
    audit.record(actor(req), 'device.metadata', id, { metadata, replace: body.replace === true })
    return { device: { id: device.id, domain: device.domain, kind: device.kind, metadata: device.metadata } }
  })

  app.delete('/api/devices/:id', admin, async (req, reply) => {
    const { id } = req.params as { id: string }
    await new DeviceStore(deps.sql).remove(id)
    audit.record(actor(req), 'device.remove', id, {})
    return reply.code(204).send()
  })

  // ---- alarms
  app.get('/api/alarms', viewer, async (req) => {
    const q = req.query as Record<string, string | undefined>
    const alarms = (deps.alarms()?.listActive() ?? []).filter((a) => matchesAlarm(a, q))
    alarms.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.raisedAt - a.raisedAt)
    // The longest shelve the page may offer (processors.alarms.maxShelveMinutes).
    return { alarms, maxShelveMinutes: deps.alarms()?.maxShelveMinutes ?? null }
  })

  app.get('/api/alarms/history', viewer, async (req) => {
    const q = req.query as Record<string, string | undefined>
    return { history: await alarmHistory(deps, { severity: q.severity, q: q.q, limit: intParam(q.limit, 200, 1, 5_000) }) }
  })

  app.post('/api/alarms/:id/ack', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const { id } = req.params as { id: string }
    const body = objectBody(req)
    const comment = body.comment === undefined || body.comment === '' ? undefined : stringField(body, 'comment', 2_000)
    try {
      const alarm = await engine.acknowledge(id, actor(req), comment)
      audit.record(actor(req), 'alarm.acknowledge', id, { comment: comment ?? null, ruleId: alarm.ruleId, subject: alarm.subject })
      return { alarm }
    } catch (err) {
      audit.record(actor(req), 'alarm.acknowledge', id, { comment: comment ?? null, error: (err as Error).message }, 'refused')
      throw err
    }
  })

  // Several at once (docs/console-api.md#alarms): one answer per id, each audited as the single ack is.
  app.post('/api/alarms/ack', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const body = objectBody(req)
    const ids = body.ids
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > BULK_ACK_MAX || !ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 100)) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', `ids: a list of 1-${BULK_ACK_MAX} alarm ids.`)
    }
    const comment = body.comment === undefined || body.comment === '' ? undefined : stringField(body, 'comment', 2_000)
    const results = []
    for (const id of new Set(ids as string[])) {
      try {
        const alarm = await engine.acknowledge(id, actor(req), comment)
        audit.record(actor(req), 'alarm.acknowledge', id, { comment: comment ?? null, ruleId: alarm.ruleId, subject: alarm.subject, bulk: true })
        results.push({ id, result: 'acknowledged' as const, alarm })
      } catch (err) {
        const code = (err as { code?: string }).code
        const result = code === 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED' ? 'already' as const : code === 'GRIDLINE_ALARM_NOT_FOUND' ? 'not_found' as const : 'refused' as const
        audit.record(actor(req), 'alarm.acknowledge', id, { comment: comment ?? null, bulk: true, error: (err as Error).message }, 'refused')
        if (result === 'refused' && code === undefined) deps.logger.error({ err, alarmId: id }, 'Acknowledging an alarm failed.')
        results.push({ id, result, message: code === undefined ? 'The acknowledgement failed inside the service; it is logged.' : (err as Error).message })
      }
    }
    return { results }
  })

  // Shelving (docs/alarms.md#shelving): a reason and a duration in minutes, at most processors.alarms.maxShelveMinutes.
  app.post('/api/alarms/:id/shelve', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const { id } = req.params as { id: string }
    const body = objectBody(req)
    const reason = stringField(body, 'reason', 2_000)
    const minutes = body.minutes
    if (typeof minutes !== 'number' || !Number.isFinite(minutes) || minutes <= 0 || minutes > engine.maxShelveMinutes) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', `minutes: a number above 0 and at most ${engine.maxShelveMinutes} (processors.alarms.maxShelveMinutes).`)
    }
    try {
      const alarm = await engine.shelve(id, actor(req), reason, minutes * 60_000)
      audit.record(actor(req), 'alarm.shelve', id, { reason, minutes, until: alarm.shelvedUntil, ruleId: alarm.ruleId, subject: alarm.subject })
      return { alarm }
    } catch (err) {
      audit.record(actor(req), 'alarm.shelve', id, { reason, minutes, error: (err as Error).message }, 'refused')
      throw err
    }
  })

  app.post('/api/alarms/:id/unshelve', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const { id } = req.params as { id: string }
    try {
      const alarm = await engine.unshelve(id, actor(req))
      audit.record(actor(req), 'alarm.unshelve', id, { ruleId: alarm.ruleId, subject: alarm.subject })
      return { alarm }
    } catch (err) {
      audit.record(actor(req), 'alarm.unshelve', id, { error: (err as Error).message }, 'refused')
      throw err
    }
  })

  app.post('/api/alarms', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const body = objectBody(req)
    const severity = stringField(body, 'severity', 16) as AlarmSeverity
    if (!(severity in SEVERITY_ORDER)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `severity: one of ${Object.keys(SEVERITY_ORDER).join(', ')}.`)
    const input = {
      ruleId: stringField(body, 'ruleId', 100),
      subject: stringField(body, 'subject', 200),
      severity,
      message: stringField(body, 'message', 2_000),
      ...(typeof body.deviceId === 'string' ? { deviceId: body.deviceId } : {}),
    }
    const alarm = alarmCall(() => engine.raiseCustom(input, actor(req)))
    audit.record(actor(req), 'alarm.raise', alarm.alarmId, { ruleId: alarm.ruleId, subject: alarm.subject, severity })
    return { alarm }
  })

  app.post('/api/alarms/clear', operator, async (req) => {
    const engine = requireAlarms(deps.alarms())
    const body = objectBody(req)
    const input = { ruleId: stringField(body, 'ruleId', 100), subject: stringField(body, 'subject', 200) }
    const cleared = alarmCall(() => engine.clearCustom(input, actor(req)))
    audit.record(actor(req), 'alarm.clear', `${input.ruleId}/${input.subject}`, { cleared })
    return { cleared }
  })

  // ---- commands
  app.post('/api/devices/:id/commands', operator, async (req, reply) => {
    const commands = requireCommands(deps.commands)
    const device = findDevice(deps, (req.params as { id: string }).id)
    const body = objectBody(req)
    const action = stringField(body, 'action', 64)
    const params = body.params ?? {}
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'params: a JSON object, e.g. {"level": 50}.')
    try {
      const command = await commands.send({ deviceId: device.id, action, params: params as Record<string, unknown> }, actor(req))
      return reply.code(202).send({ command })
    } catch (err) {
      audit.record(actor(req), 'command.send', device.id, { action, params, error: (err as Error).message }, 'refused')
      throw err
    }
  })

  app.get('/api/commands', viewer, async (req) => {
    const q = req.query as Record<string, string | undefined>
    const commands = requireCommands(deps.commands)
    return { commands: await commands.list({ ...(q.deviceId ? { deviceId: q.deviceId } : {}), limit: intParam(q.limit, 50, 1, 1_000) }) }
  })

  app.get('/api/commands/:id', viewer, async (req) => {
    const command = await requireCommands(deps.commands).get((req.params as { id: string }).id)
    if (!command) throw new GridlineError('GRIDLINE_NOT_FOUND', 'No command has that id.')
    return { command }
  })

  // ---- users and audit
  app.get('/api/users', admin, async () => ({
    users: (await users.list()).map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt, lastLoginAt: u.lastLoginAt })),
  }))

  app.post('/api/users', admin, async (req, reply) => {
    const body = objectBody(req)
    const role = stringField(body, 'role', 16) as Role
    if (!ROLES.includes(role)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `role: one of ${ROLES.join(', ')}.`)
    const user = await users.add({ name: stringField(body, 'name', 64), password: stringField(body, 'password', 1_000), role })
    audit.record(actor(req), 'user.add', user.name, { role })
    return reply.code(201).send({ user: { name: user.name, role: user.role, createdAt: user.createdAt, lastLoginAt: user.lastLoginAt } })
  })

  app.delete('/api/users/:name', admin, async (req, reply) => {
    const { name } = req.params as { name: string }
    await users.remove(name)
    sessions.forget()
    audit.record(actor(req), 'user.remove', name, {})
    return reply.code(204).send()
  })

  app.get('/api/audit', admin, async (req) => ({
    entries: await audit.recent(intParam((req.query as Record<string, string>).limit, 100, 1, 1_000)),
  }))
}

/** Alarm changes, newest first, straight from `alarm_events` (the engine's history reads oldest first). */
async function alarmHistory(deps: ConsoleRouteDeps, filter: { severity?: string | undefined; q?: string | undefined; deviceId?: string; limit: number }) {
  const engine = deps.alarms()
  if (!engine) return []
  await engine.flush()
  const needle = filter.q?.trim() ? `%${filter.q.trim().replace(/[\\%_]/g, '\\$&')}%` : null
  const { rows } = await deps.pool.query<{ event_id: string; alarm_id: string; rule_id: string; subject: string; severity: AlarmSeverity; transition: string; time: Date; value: number | null; actor: string | null; comment: string | null; message: string; device_id: string | null }>(
    `SELECT e.event_id, e.alarm_id, e.rule_id, e.subject, e.severity, e.transition, e.time, e.value, e.actor, e.comment, e.message, a.device_id
       FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id
      WHERE ($1::text IS NULL OR e.severity = ANY (string_to_array($1, ',')))
        AND ($2::text IS NULL OR e.rule_id ILIKE $2 OR e.subject ILIKE $2 OR e.message ILIKE $2)
        AND ($3::text IS NULL OR a.device_id = $3 OR e.subject = $3)
      ORDER BY e.id DESC LIMIT $4`,
    [filter.severity || null, needle, filter.deviceId ?? null, filter.limit],
  )
  return rows.map((r) => ({
    eventId: r.event_id, alarmId: r.alarm_id, ruleId: r.rule_id, subject: r.subject, severity: r.severity, transition: r.transition,
    time: r.time.getTime(), message: r.message,
    ...(r.value === null ? {} : { value: r.value }), ...(r.actor === null ? {} : { actor: r.actor }), ...(r.comment === null ? {} : { comment: r.comment }),
    ...(r.device_id === null ? {} : { deviceId: r.device_id }),
  }))
}

function deviceView(device: DeviceRecord, city: CityState, now: number) {
  const { status, lastSeen } = city.status(device.id, now)
  const power = city.power(device.id)
  return { id: device.id, domain: device.domain, kind: device.kind, status, lastSeen, metadata: device.metadata ?? {}, ...(power ? { power } : {}) }
}

function findDevice(deps: ConsoleRouteDeps, id: string): DeviceRecord {
  const device = deps.devices.get(id)
  if (!device) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `No device "${id}" is registered.`)
  return device
}

/** The alarm engine, or a clear refusal when alarms are switched off (the API and Node-RED's nodes both ask). */
export function requireAlarms(engine: AlarmEngine | undefined): AlarmEngine {
  if (!engine) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'Alarms are switched off (processors.alarms.enabled).')
  return engine
}

/** The command service, or a clear refusal when this service has none. */
export function requireCommands(commands: ConsoleCommands | undefined): ConsoleCommands {
  if (!commands) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'Device commands are not available in this service.')
  return commands
}

/** The engine's own errors (AlarmError) carry GRIDLINE_ALARM_* codes; a bad custom alarm is a bad request. */
function alarmCall<T>(call: () => T): T {
  try {
    return call()
  } catch (err) {
    if ((err as { code?: string }).code === 'GRIDLINE_ALARM_INVALID') throw new GridlineError('GRIDLINE_BAD_REQUEST', (err as Error).message)
    throw err
  }
}

function matchesAlarm(alarm: Pick<AlarmRecord, 'severity' | 'ruleId' | 'subject' | 'message'>, q: Record<string, string | undefined>): boolean {
  if (q.severity && !q.severity.split(',').includes(alarm.severity)) return false
  const needle = q.q?.trim().toLowerCase()
  if (needle && ![alarm.ruleId, alarm.subject, alarm.message].some((s) => s.toLowerCase().includes(needle))) return false
  return true
}

function objectBody(req: FastifyRequest): Record<string, unknown> {
  const body = req.body
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'The body must be a JSON object.')
  return body as Record<string, unknown>
}

function stringField(body: Record<string, unknown>, name: string, maxLength: number): string {
  const v = body[name]
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw new GridlineError('GRIDLINE_BAD_REQUEST', `${name}: text of 1-${maxLength} characters.`)
  }
  return v
}

function intParam(v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new GridlineError('GRIDLINE_BAD_REQUEST', `Expected a whole number from ${min} to ${max}, got "${v}".`)
  return n
}


import { Writable } from 'node:stream'
import { createLogger } from '@gridline/core'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'
import type { IngestService } from '../app.ts'
import { pgSqlClient } from '../storage/sql-client.ts'
import { SessionStore, UserStore } from './users.ts'

// The operator console in the real ingest service: PostgreSQL, the embedded
// broker, real HTTP. Logins and roles, the API, the live stream, the audit
// log, and that no secret reaches the log.

let t: TestService
let db: TestDatabase
let service: IngestService
let base: string
let mqttUrl: string
const logLines: string[] = []
const clients: MqttClient[] = []
const DEVICE_PASSWORD = 'device secret 0123456789'
const PASSWORDS = { ada: 'ada-admin-password-1', olly: 'olly-operator-pass-2', vic: 'vic-viewer-password-3' }

async function login(username: string, password: string): Promise<{ status: number; cookie: string; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!
  return { status: res.status, cookie, body: await res.json() as Record<string, unknown> }
}

async function call(cookie: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    // As the web app does: changes carry the page's Origin and a JSON body (`{}` when there is nothing to say).
    headers: { cookie, ...(method === 'GET' ? {} : { origin: base, 'content-type': 'application/json' }) },
    ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

async function device(id: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(mqttUrl, { username: id, password: DEVICE_PASSWORD, clientId: `${id}-${Math.random().toString(36).slice(2, 7)}`, reconnectPeriod: 0 })
  clients.push(client)
  return client
}

/** Reads server-sent events from /api/live until `until` says stop. */
async function readLive(cookie: string, query: string, until: (events: any[]) => boolean, timeoutMs = 10_000): Promise<any[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const res = await fetch(`${base}/api/live?${query}`, { headers: { cookie }, signal: controller.signal })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const events: any[] = []
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = message.split('\n').find((l) => l.startsWith('data: '))
        if (data) events.push(JSON.parse(data.slice(6)))
      }
      if (until(events)) break
    }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  return events
}

beforeAll(async () => {
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done() } })
  t = await startTestService({
    devices: [
      { id: 'aq-hc-1', domain: 'environment', password: DEVICE_PASSWORD, metadata: { district: 'Hải Châu' } },
      { id: 'lamp-1', domain: 'lighting', password: DEVICE_PASSWORD, metadata: { circuit: 'Bạch Đằng' } },
    ],
    users: [
      { name: 'ada', password: PASSWORDS.ada, role: 'admin' },
      { name: 'olly', password: PASSWORDS.olly, role: 'operator' },
      { name: 'vic', password: PASSWORDS.vic, role: 'viewer' },
    ],
    config: {
      console: { liveQueueEvents: 10, liveMaxRate: 100_000 },
      processors: { alarms: { rules: [{ id: 'pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 100, clearBelow: 50, severity: 'major' }] } },
      log: { level: 'debug' },
    },
    // The last test reads the log for secrets.
    logger: createLogger({ level: 'debug', destination: sink }),
  })
  ;({ db, service, httpUrl: base, mqttUrl } = t)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
})

describe('logins and sessions', () => {
  test('a wrong password and an unknown name get the same answer, and both are audited', async () => {
    const wrong = await login('vic', 'not the password')
    const unknown = await login('nobody', 'not the password')
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.body).toEqual(unknown.body)
    expect(wrong.body).toEqual({ error: { code: 'GRIDLINE_LOGIN_FAILED', message: 'Wrong user name or password.' } })
    await service.console!.audit.flush()
    const { rows } = await db.pool.query(`SELECT actor, outcome FROM audit_log WHERE action = 'login' AND outcome = 'failed' ORDER BY id`)
    expect(rows).toEqual([{ actor: 'vic', outcome: 'failed' }, { actor: 'nobody', outcome: 'failed' }])
  })

  test('five failures lock a name out for a while; other names still log in', async () => {
    for (let i = 0; i < 5; i++) expect((await login('mallory', `guess-${i}`)).status).toBe(401)
    const locked = await login('mallory', 'guess-6')
    expect(locked.status).toBe(429)
    expect(locked.body).toMatchObject({ error: { code: 'GRIDLINE_LOGIN_THROTTLED' } })
    expect((await login('vic', PASSWORDS.vic)).status).toBe(200)
  })

  test('the cookie is HttpOnly and SameSite=Strict, and logout ends the session', async () => {
    const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'vic', password: PASSWORDS.vic }) })
    const setCookie = res.headers.get('set-cookie')!
    expect(setCookie).toMatch(/^gridline_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=86400$/)
    const cookie = setCookie.split(';')[0]!
    expect(await call(cookie, 'GET', '/api/me')).toMatchObject({ status: 200, body: { user: { name: 'vic', role: 'viewer' } } })
    expect(await call(cookie, 'GET', '/api/session')).toMatchObject({ status: 200, body: { user: { name: 'vic', role: 'viewer' } } })
    expect((await call(cookie, 'POST', '/api/logout', {})).status).toBe(204)
    expect(await call(cookie, 'GET', '/api/me')).toMatchObject({ status: 401, body: { error: { code: 'GRIDLINE_UNAUTHENTICATED' } } })
    // What the web app asks at load: no session is an answer, not a failure.
    expect(await call(cookie, 'GET', '/api/session')).toEqual(expect.objectContaining({ status: 200, body: { user: null } }))
    expect(await call('gridline_session=forged', 'GET', '/api/session')).toEqual(expect.objectContaining({ status: 200, body: { user: null } }))
  })

  test('a session ends after its idle time, and only its hash is stored', async () => {
    const sessions = new SessionStore(pgSqlClient(db.pool), { idleTtlMs: 300, maxAgeMs: 60_000 })
    const user = (await new UserStore(pgSqlClient(db.pool)).get('vic'))!
    const { token } = await sessions.open(user)
    expect(await sessions.resolve(token)).toMatchObject({ user: { name: 'vic' } })
    const { rows } = await db.pool.query('SELECT token_hash FROM console_sessions')
    expect(rows.some((r) => r.token_hash === token)).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await sessions.resolve(token)).toBeNull()
  })

  test('without a session every API call is refused', async () => {
    for (const path of ['/api/overview', '/api/devices', '/api/alarms', '/api/users', '/api/live']) {
      expect(await call('', 'GET', path)).toMatchObject({ status: 401, body: { error: { code: 'GRIDLINE_UNAUTHENTICATED' } } })
    }
  })
})

describe('roles', () => {
  test('a viewer looks but may not acknowledge, command or manage users', async () => {
    const { cookie } = await login('vic', PASSWORDS.vic)
    expect((await call(cookie, 'GET', '/api/overview')).status).toBe(200)
    expect((await call(cookie, 'GET', '/api/devices')).body.total).toBe(2)
    for (const [method, path, body] of [
      ['POST', '/api/alarms/00000000-0000-0000-0000-000000000000/ack', {}],
      ['POST', '/api/devices/lamp-1/commands', { action: 'dim', params: { level: 50 } }],
      ['POST', '/api/alarms', { ruleId: 'x', subject: 'y', severity: 'info', message: 'z' }],
      ['GET', '/api/users', undefined],
      ['POST', '/api/users', { name: 'eve', password: 'password-long-enough', role: 'admin' }],
      ['GET', '/api/audit', undefined],
    ] as const) {
      const res = await call(cookie, method, path, body)
      expect(res, `${method} ${path}`).toMatchObject({ status: 403, body: { error: { code: 'GRIDLINE_FORBIDDEN' } } })
    }
  })

  test('an operator acknowledges an alarm with a comment, audited; may not manage users', async () => {
    const aq = await device('aq-hc-1')
    await aq.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify({ values: { pm25: 180 } }), { qos: 1 })
    await waitFor(() => (service.processing.alarms?.listActive().length ?? 0) === 1, 10_000, 'the alarm')
    const { cookie } = await login('olly', PASSWORDS.olly)
    const active = await call(cookie, 'GET', '/api/alarms')
    expect(active.body.alarms).toHaveLength(1)
    const id = active.body.alarms[0].id
    const ack = await call(cookie, 'POST', `/api/alarms/${id}/ack`, { comment: 'crew on the way' })
    expect(ack).toMatchObject({ status: 200, body: { alarm: { state: 'acknowledged', acknowledgedBy: 'olly', comment: 'crew on the way' } } })
    expect(await call(cookie, 'POST', `/api/alarms/${id}/ack`, {})).toMatchObject({ status: 409, body: { error: { code: 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED' } } })
    expect((await call(cookie, 'GET', '/api/users')).status).toBe(403)
    await service.console!.audit.flush()
    const { rows } = await db.pool.query(`SELECT actor, target, detail->>'comment' AS comment, outcome FROM audit_log WHERE action = 'alarm.acknowledge' ORDER BY id`)
    expect(rows).toEqual([{ actor: 'olly', target: id, comment: 'crew on the way', outcome: 'ok' }, { actor: 'olly', target: id, comment: null, outcome: 'refused' }])
    const history = await call(cookie, 'GET', '/api/devices/aq-hc-1/alarms')
    expect(history.body.history.map((h: { transition: string }) => h.transition)).toEqual(['acknowledged', 'raised'])
  })

  test('an operator raises and clears a custom alarm', async () => {
    const { cookie } = await login('olly', PASSWORDS.olly)
    const raised = await call(cookie, 'POST', '/api/alarms', { ruleId: 'crew-report', subject: 'Bạch Đằng', severity: 'minor', message: 'Tree on the lamp line' })
    expect(raised).toMatchObject({ status: 200, body: { alarm: { ruleId: 'custom:crew-report', state: 'raised', severity: 'minor' } } })
    expect((await call(cookie, 'GET', '/api/alarms?q=tree')).body.alarms).toHaveLength(1)
    expect(await call(cookie, 'POST', '/api/alarms/clear', { ruleId: 'crew-report', subject: 'Bạch Đằng' })).toMatchObject({ status: 200, body: { cleared: true } })
    expect((await call(cookie, 'GET', '/api/alarms?q=tree')).body.alarms).toHaveLength(0)
    expect(await call(cookie, 'POST', '/api/alarms', { ruleId: 'bad id!', subject: 's', severity: 'minor', message: 'm' })).toMatchObject({ status: 400, body: { error: { code: 'GRIDLINE_BAD_REQUEST' } } })
  })

  test('an admin manages users; the last admin stays; a removed user\'s session ends', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    expect(await call(cookie, 'POST', '/api/users', { name: 'tam', password: 'short', role: 'viewer' })).toMatchObject({ status: 400 })
    expect(await call(cookie, 'POST', '/api/users', { name: 'tam', password: 'tam-password-long', role: 'viewer' })).toMatchObject({ status: 201, body: { user: { name: 'tam', role: 'viewer' } } })
    expect(await call(cookie, 'POST', '/api/users', { name: 'tam', password: 'tam-password-long', role: 'viewer' })).toMatchObject({ status: 409, body: { error: { code: 'GRIDLINE_USER_EXISTS' } } })
    const tam = await login('tam', 'tam-password-long')
    expect((await call(tam.cookie, 'GET', '/api/me')).status).toBe(200)
    expect((await call(cookie, 'DELETE', '/api/users/tam')).status).toBe(204)
    expect((await call(tam.cookie, 'GET', '/api/me')).status).toBe(401)
    expect(await call(cookie, 'DELETE', '/api/users/ada')).toMatchObject({ status: 409, body: { error: { code: 'GRIDLINE_LAST_ADMIN' } } })
    const audit = await call(cookie, 'GET', '/api/audit?limit=500')
    const actions = audit.body.entries.map((e: { action: string }) => e.action)
    expect(actions).toEqual(expect.arrayContaining(['user.add', 'user.remove', 'login', 'alarm.acknowledge']))
  })

  test('a change without a JSON body is refused (cross-site forms cannot make it)', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    const res = await fetch(`${base}/api/users`, { method: 'POST', headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=eve&password=aaaaaaaaaaaa&role=admin' })
    expect(res.status).toBe(400)
    expect((await res.json() as { error: { code: string } }).error.code).toBe('GRIDLINE_BAD_REQUEST')
  })
})

describe('devices, overview and charts', () => {
  test('the overview and the device page show what the devices sent', async () => {
    const aq = await device('aq-hc-1')
    const lamp = await device('lamp-1')
    await aq.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify({ values: { pm25: 30, pm10: 45 } }), { qos: 1 })
    await lamp.publishAsync('telemetry/lighting/lamp-1', JSON.stringify({ values: { lamp_on: true, dim_level: 80, power: 96, energy: 12.5, lamp_fault: false } }), { qos: 1 })
    const { cookie } = await login('vic', PASSWORDS.vic)
    await waitFor(async () => (await call(cookie, 'GET', '/api/overview')).body.lighting.on === 1, 10_000, 'the lamp in the overview')
    const overview = (await call(cookie, 'GET', '/api/overview')).body
    expect(overview.devices).toMatchObject({ registered: 2, online: 2, stale: 0, offline: 0 })
    expect(overview.environment.districts).toEqual([expect.objectContaining({ district: 'Hải Châu', pm25: 30, vnAqi: 60, level: 'moderate', source: 'pm25_now', sensors: 1 })])
    expect(overview.lighting).toMatchObject({ lamps: 1, on: 1, failed: 0, circuits: [expect.objectContaining({ circuit: 'Bạch Đằng', lamps: 1, on: 1 })] })
    // pm25 30 is below the rule's clearBelow: the alarm raised earlier has cleared.
    expect(overview.alarms.active.major).toBe(0)

    const page = (await call(cookie, 'GET', '/api/devices/lamp-1')).body
    expect(page.latest).toEqual(expect.arrayContaining([expect.objectContaining({ metric: 'dim_level', value: 80 })]))
    expect(page.commands.map((c: { action: string }) => c.action)).toEqual(expect.arrayContaining(['switch', 'dim']))
    const series = (await call(cookie, 'GET', '/api/devices/aq-hc-1/series?metric=pm25&range=1h')).body
    expect(series).toMatchObject({ metric: 'pm25', range: '1h', resolution: 'raw' })
    expect(series.points.map((p: { v: number }) => p.v)).toEqual([180, 30])
    const week = (await call(cookie, 'GET', '/api/devices/aq-hc-1/series?metric=pm25&range=7d')).body
    expect(week.resolution).toBe('1h')
    expect((await call(cookie, 'GET', '/api/devices/aq-hc-1/series?metric=pm25&range=2y')).status).toBe(400)
    // The charts' custom range: from and to, answered with the window asked for and the resolution it gets.
    const now = Date.now()
    const custom = (await call(cookie, 'GET', `/api/devices/aq-hc-1/series?metric=pm25&from=${new Date(now - 3_600_000).toISOString()}&to=${new Date(now + 60_000).toISOString()}`)).body
    expect(custom).toMatchObject({ metric: 'pm25', range: 'custom', resolution: 'raw', stepMs: 0 })
    expect(custom.to - custom.from).toBe(3_660_000)
    expect(custom.points.map((p: { v: number }) => p.v)).toEqual([180, 30])
    const empty = (await call(cookie, 'GET', '/api/devices/aq-hc-1/series?metric=pm25&from=2026-01-01T00:00:00%2B07:00&to=2026-01-02T00:00:00%2B07:00')).body
    expect(empty).toMatchObject({ range: 'custom', from: Date.parse('2026-01-01T00:00:00+07:00'), resolution: '1m', stepMs: 60_000, points: [] })
    for (const bad of ['from=yesterday', 'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z']) {
      expect((await call(cookie, 'GET', `/api/devices/aq-hc-1/series?metric=pm25&${bad}`)).status, bad).toBe(400)
    }
    // The device page's catalogue entries (unit, plausible range) and the threshold rules that watch the device.
    const aqPage = (await call(cookie, 'GET', '/api/devices/aq-hc-1')).body
    expect(aqPage.latest).toEqual(expect.arrayContaining([expect.objectContaining({ metric: 'pm25', unit: 'ug/m3', min: 0, max: 1000 })]))
    expect(aqPage.thresholds).toEqual([{ ruleId: 'pm25-high', metric: 'pm25', severity: 'major', direction: 'above', value: 100, clearValue: 50 }])
    expect(page.thresholds).toEqual([])
    expect((await call(cookie, 'GET', '/api/devices?q=b%E1%BA%A1ch')).body.devices.map((d: { id: string }) => d.id)).toEqual(['lamp-1'])
    expect((await call(cookie, 'GET', '/api/devices/nope')).status).toBe(404)
  })
})

describe('indicator history', () => {
  test('a district\'s daily VN_AQI over a month, from indicator_values; the catalogue of what is stored; bad queries are 400, no session 401', async () => {
    const day = 86_400_000
    const start = Date.UTC(2026, 9, 31, 17) // 2026-11-01 00:00 +07:00
    await db.pool.query(
      `INSERT INTO indicator_values (name, scope, key, time, value, level, revision)
       SELECT 'vn_aqi_daily', 'district', 'Hải Châu', to_timestamp(($1::float8 + i * $2::float8) / 1000), 50 + i, 'moderate', CASE WHEN i = 3 THEN 1 ELSE 0 END FROM generate_series(0, 29) AS i`,
      [start, day],
    )
    await db.pool.query(`INSERT INTO indicator_values (name, scope, key, time, value) VALUES ('vn_aqi_daily', 'device', 'aq-hc-1', to_timestamp($1 / 1000.0), 77)`, [start])
    const { cookie } = await login('vic', PASSWORDS.vic)
    const month = (await call(cookie, 'GET', `/api/indicators/vn_aqi_daily?scope=district&key=${encodeURIComponent('Hải Châu')}&from=2026-11-01T00:00:00%2B07:00&to=2026-12-01T00:00:00%2B07:00`)).body
    expect(month).toMatchObject({ name: 'vn_aqi_daily', scope: 'district', key: 'Hải Châu' })
    expect(month.points).toHaveLength(30)
    expect(month.points[0]).toEqual({ t: start, v: 50, scope: 'district', key: 'Hải Châu', level: 'moderate', revision: 0 })
    expect(month.points[3].revision).toBe(1)
    expect(month.points.map((p: { v: number }) => p.v)).toEqual(Array.from({ length: 30 }, (_, i) => 50 + i))
    // Without scope and key: every series of the indicator.
    const all = (await call(cookie, 'GET', '/api/indicators/vn_aqi_daily?from=2026-11-01T00:00:00%2B07:00&to=2026-11-02T00:00:00%2B07:00')).body
    expect(all.points.map((p: { key: string }) => p.key).sort()).toEqual(['Hải Châu', 'aq-hc-1'])
    const catalog = (await call(cookie, 'GET', '/api/indicators')).body.indicators
    expect(catalog).toEqual(expect.arrayContaining([{ name: 'vn_aqi_daily', scope: 'district', key: 'Hải Châu', first: start, last: start + 29 * day, values: 30 }]))
    expect((await call(cookie, 'GET', '/api/indicators/vn_aqi_daily?scope=planet')).status).toBe(400)
    expect((await call(cookie, 'GET', '/api/indicators/vn_aqi_daily?range=2y')).status).toBe(400)
    expect((await call(cookie, 'GET', '/api/indicators/vn_aqi_daily?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z')).status).toBe(400)
    expect((await call('', 'GET', '/api/indicators/vn_aqi_daily')).status).toBe(401)
  })
})

describe('the live stream', () => {
  test('a reading published by a device reaches the browser stream, filtered by device', async () => {
    const { cookie } = await login('vic', PASSWORDS.vic)
    const aq = await device('aq-hc-1')
    const lamp = await device('lamp-1')
    const live = readLive(cookie, 'kinds=reading&devices=aq-hc-1&rate=50', (events) => events.some((e) => e.kind === 'reading' && e.value === 42.5))
    await new Promise((resolve) => setTimeout(resolve, 200))
    await lamp.publishAsync('telemetry/lighting/lamp-1', JSON.stringify({ values: { power: 50 } }), { qos: 1 })
    await aq.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify({ values: { pm25: 42.5 } }), { qos: 1 })
    const events = await live
    expect(events.every((e) => e.kind === 'reading' && e.deviceId === 'aq-hc-1')).toBe(true)
    expect(events.find((e) => e.value === 42.5)).toMatchObject({ metric: 'pm25', domain: 'environment' })
  })

  test('the overview stream sends a fresh overview every second', async () => {
    const { cookie } = await login('vic', PASSWORDS.vic)
    const events = await readLive(cookie, 'kinds=overview', (e) => e.length >= 2, 5_000)
    expect(events.map((e) => e.kind)).toEqual(['overview', 'overview'])
    expect(events[1].generatedAt).toBeGreaterThan(events[0].generatedAt)
  })

  test('a bad query names the parameter', async () => {
    const { cookie } = await login('vic', PASSWORDS.vic)
    expect(await call(cookie, 'GET', '/api/live?kinds=weather')).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('kinds: unknown weather') } } })
  })

  test('a browser that stops reading is dropped; ingest stores everything meanwhile', async () => {
    const { cookie } = await login('vic', PASSWORDS.vic)
    const before = service.console!.live.stats.dropped
    // Opened and never read: its socket fills, and its queue (the latest value of
    // each of 11 metrics, above the 10 allowed here) overflows.
    const controller = new AbortController()
    const res = await fetch(`${base}/api/live?kinds=reading&rate=100000`, { headers: { cookie }, signal: controller.signal })
    expect(res.status).toBe(200)
    const aq = await device('aq-hc-1')
    const start = Date.now() - 3 * 3_600_000
    for (let batch = 0; batch < 40; batch++) {
      const readings = Array.from({ length: 250 }, (_, i) => ({
        ts: start + (batch * 250 + i) * 1000,
        values: { pm10: i % 90, no2: i % 80, so2: i % 70, o3: i % 60, co: i % 5, temperature: 20 + (i % 10), humidity: 50 + (i % 30), noise: 40 + (i % 20), rainfall: i % 3, wind_speed: i % 7, aqi: i % 100 },
      }))
      await Promise.all(readings.map((r) => aq.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify(r), { qos: 1 })))
    }
    await waitFor(() => service.console!.live.stats.dropped > before, 20_000, 'the slow browser to be dropped')
    controller.abort()
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'aq-hc-1' AND time >= $1 AND time < $2`, [new Date(start), new Date(start + 40 * 250 * 1000)])
    expect(rows[0].n).toBe(40 * 250 * 11)
  })
})

describe('the log', () => {
  test('no password, session token or device secret reaches it', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    await login('ada', 'a-wrong-password-xyz')
    await call(cookie, 'POST', '/api/users', { name: 'kim', password: 'kim-secret-password', role: 'viewer' })
    const token = cookie.split('=')[1]!
    const log = logLines.join('')
    expect(log.length).toBeGreaterThan(0)
    for (const secret of [...Object.values(PASSWORDS), 'a-wrong-password-xyz', 'kim-secret-password', token, DEVICE_PASSWORD]) {
      expect(log).not.toContain(secret)
    }
  })
})

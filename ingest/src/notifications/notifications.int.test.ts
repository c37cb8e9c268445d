import { createHmac } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLogger } from '@gridline/core'
import type { AlarmEventDetail } from '@gridline/processors'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { Registry } from 'prom-client'
import { type TestDatabase, createMigratedTestDatabase } from '../testing/index.ts'
import { NotificationsConfigSchema } from './config.ts'
import { NotificationService } from './notification-service.ts'

const SECRET = 'test-secret-0123456789abcdef'
const env = { HOOK_SECRET: SECRET }
const logger = createLogger({ level: 'silent' })
let db: TestDatabase

beforeAll(async () => { db = await createMigratedTestDatabase() })
afterAll(async () => { await db?.drop() })

interface Received { body: string; headers: http.IncomingHttpHeaders; status: number; at: number }

/** A webhook receiver: answers with `mode()` (a status, or 'hang' to never answer); keeps every request. */
async function receiver(port = 0) {
  const received: Received[] = []
  let mode: () => number | 'hang' = () => 200
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const m = mode()
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, status: m === 'hang' ? 0 : m, at: Date.now() })
      if (m === 'hang') return
      res.writeHead(m, { 'content-type': 'text/plain' }).end(m === 200 ? 'ok' : 'unavailable')
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    received,
    setMode(m: () => number | 'hang') { mode = m },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

/** A free port nothing listens on (yet): connections are refused. */
async function freePort(): Promise<number> {
  const s = http.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

function config(url: string, extra: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}) {
  return NotificationsConfigSchema.parse({
    retryMinMs: 50, retryMaxMs: 300, pollIntervalMs: 50, retryForMs: 120_000,
    endpoints: { ioc: { type: 'webhook', url, secretEnv: 'HOOK_SECRET', allowPrivateNetwork: true, timeoutMs: 1_000, ...endpoint } },
    ...extra,
  })
}

let n = 0
function event(alarmId: string, state: AlarmEventDetail['state'], patch: Partial<AlarmEventDetail> = {}): AlarmEventDetail {
  n++
  return {
    kind: 'alarm', alarmId, ruleId: 'pm25-high', subject: `aq-${alarmId.slice(0, 4)}`, severity: 'major', state, time: 1_764_302_400_000 + n * 1000,
    value: 61.2, message: `pm25 on aq-${alarmId.slice(0, 4)} is 61.2, above 55.4`, active: state !== 'cleared', flapping: false,
    raisedAt: 1_764_302_400_000, deviceId: `aq-${alarmId.slice(0, 4)}`, domain: 'environment', metric: 'pm25',
    ...(state === 'acknowledged' ? { acknowledgedBy: 'lan.nguyen', comment: 'crew on site' } : {}),
    ...patch,
  }
}

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`

/** The receiver's own check, written from the docs, not with gridline's helper. */
function validSignature(r: Received): boolean {
  const header = String(r.headers['x-gridline-signature'] ?? '')
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) return false
  return createHmac('sha256', SECRET).update(`${t}.${r.body}`).digest('hex') === parts.v1
}

async function until<T>(what: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, message = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await what()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`Timed out waiting for ${message}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const STATES = ['raised', 'acknowledged', 'cleared'] as const

test('a receiver refusing connections, then answering 503, then up gets every event once acknowledged, in order per alarm, signed, with stable unique idempotency keys', async () => {
  const port = await freePort()
  const registry = new Registry()
  const service = new NotificationService(config(`http://127.0.0.1:${port}/hook`), { pool: db.pool, logger, registry, env })
  service.start()
  const alarms = [uuid(1), uuid(2), uuid(3)]
  // Interleaved: each alarm's raise, acknowledgement and clear, alarms mixed.
  for (const state of STATES) for (const a of alarms) service.offer(event(a, state))
  // Down (connection refused) for a while...
  await until(async () => (await service.list({ endpoint: 'ioc' })).filter((d) => d.attempts >= 2).length >= 3 || undefined, 20_000, 'refused attempts')
  // ... then up, but 503 for 1.5 s ...
  const r = await receiver(port)
  const upAt = Date.now() + 1_500
  r.setMode(() => (Date.now() < upAt ? 503 : 200))
  try {
    const ok = await until(() => { const d = r.received.filter((x) => x.status === 200); return d.length >= 9 ? d : undefined }, 30_000, '9 deliveries')
    await service.flush()
    // Every event delivered, each with a valid signature and the key in both header and body.
    const bodies = ok.map((x) => JSON.parse(x.body) as { id: string; type: string; alarm: { id: string; state: string; message: string } })
    expect(new Set(bodies.map((b) => b.id)).size).toBe(9)
    for (const x of r.received) {
      expect(validSignature(x)).toBe(true)
      expect(x.headers['idempotency-key']).toBe(JSON.parse(x.body).id)
      expect(x.headers['content-type']).toMatch(/application\/json/)
    }
    // In order per alarm: the sequence each alarm's requests arrived in, retries included, never goes back.
    for (const a of alarms) {
      const seq = r.received.filter((x) => JSON.parse(x.body).alarm.id === a).map((x) => STATES.indexOf(JSON.parse(x.body).alarm.state))
      expect([...seq].sort((p, q) => p - q)).toEqual(seq)
      expect(bodies.filter((b) => b.alarm.id === a).map((b) => b.type)).toEqual(['alarm.raised', 'alarm.acknowledged', 'alarm.cleared'])
    }
    // Stable across retries: one key per (alarm, change), whatever the number of attempts.
    const keys = new Map<string, Set<string>>()
    for (const x of r.received) {
      const b = JSON.parse(x.body)
      const k = `${b.alarm.id}/${b.alarm.state}`
      keys.set(k, (keys.get(k) ?? new Set()).add(b.id))
    }
    expect([...keys.values()].every((s) => s.size === 1)).toBe(true)
    expect(r.received.some((x) => x.status === 503)).toBe(true)
    const rows = await until(async () => { const d = await service.list({ endpoint: 'ioc' }); return d.every((x) => x.status === 'delivered') ? d : undefined }, 5_000, 'rows delivered')
    expect(rows).toHaveLength(9)
    const metrics = await registry.getMetricsAsJSON()
    const value = (name: string) => metrics.find((m) => m.name === name)!.values.find((v) => v.labels.endpoint === 'ioc')?.value
    expect(value('gridline_notifications_delivered_total')).toBe(9)
    expect(value('gridline_notifications_failed_attempts_total')).toBeGreaterThanOrEqual(6)
    expect(value('gridline_notifications_queue_depth')).toBe(0)
  } finally {
    await service.stop()
    await r.close()
  }
}, 60_000)

test('a restart in the middle of the retries delivers the rest, still in order', async () => {
  const r = await receiver()
  r.setMode(() => 503)
  const cfg = config(`http://127.0.0.1:${r.port}/hook`)
  const first = new NotificationService(cfg, { pool: db.pool, logger, env })
  first.start()
  const alarm = uuid(10)
  for (const state of STATES) first.offer(event(alarm, state))
  await until(() => r.received.length >= 3 || undefined, 10_000, 'failed attempts')
  await first.stop()
  // Only the raise was tried: the acknowledgement and the clear wait behind it.
  expect(new Set(r.received.map((x) => JSON.parse(x.body).alarm.state))).toEqual(new Set(['raised']))
  const triedKey = JSON.parse(r.received[0]!.body).id
  r.setMode(() => 200)
  const second = new NotificationService(cfg, { pool: db.pool, logger, env })
  second.start()
  try {
    const ok = await until(() => { const d = r.received.filter((x) => x.status === 200 && JSON.parse(x.body).alarm.id === alarm); return d.length >= 3 ? d : undefined }, 15_000, 'the rest')
    expect(ok.map((x) => JSON.parse(x.body).alarm.state)).toEqual(['raised', 'acknowledged', 'cleared'])
    expect(JSON.parse(ok[0]!.body).id).toBe(triedKey)
    expect(ok.every(validSignature)).toBe(true)
  } finally {
    await second.stop()
    await r.close()
  }
}, 40_000)

test('after the retry window a delivery is dead-lettered with its reason; a replay sends it again with the same key', async () => {
  const r = await receiver()
  r.setMode(() => 503)
  const registry = new Registry()
  const service = new NotificationService(config(`http://127.0.0.1:${r.port}/hook`, { retryForMs: 1_000, retryMaxMs: 200 }), { pool: db.pool, logger, registry, env })
  service.start()
  const alarm = uuid(20)
  service.offer(event(alarm, 'raised'))
  try {
    const [dead] = await until(async () => { const d = await service.list({ alarmId: alarm, status: 'dead' }); return d.length > 0 ? d : undefined }, 10_000, 'dead letter')
    expect(dead!.deadReason).toMatch(/^retry window of 1 s passed after \d+ attempt\(s\); last: http_503/)
    expect(dead!.lastStatus).toBe(503)
    const metrics = await registry.getMetricsAsJSON()
    expect(metrics.find((m) => m.name === 'gridline_notifications_dead_lettered_total')!.values.find((v) => v.labels.endpoint === 'ioc')!.value).toBe(1)
    await expect(service.replay('999999')).rejects.toMatchObject({ code: 'GRIDLINE_NOT_FOUND' })
    r.setMode(() => 200)
    const replayed = await service.replay(dead!.id)
    expect(replayed).toMatchObject({ status: 'pending', attempts: 0, replays: 1 })
    await until(async () => (await service.list({ alarmId: alarm }))[0]!.status === 'delivered' || undefined, 10_000, 'replayed delivery')
    const keys = new Set(r.received.map((x) => JSON.parse(x.body).id))
    expect(keys.size).toBe(1)
    expect(r.received.at(-1)!.status).toBe(200)
  } finally {
    await service.stop()
    await r.close()
  }
}, 30_000)

test('internal addresses are refused unless the endpoint allows them, and an attempt times out', async () => {
  const r = await receiver()
  r.setMode(() => 'hang')
  const service = new NotificationService(NotificationsConfigSchema.parse({
    retryMinMs: 1_000, retryMaxMs: 1_000, pollIntervalMs: 50,
    endpoints: {
      inside: { type: 'webhook', url: `http://127.0.0.1:${r.port}/hook`, secretEnv: 'HOOK_SECRET' },
      named: { type: 'webhook', url: `http://localhost:${r.port}/hook`, secretEnv: 'HOOK_SECRET' },
      slow: { type: 'webhook', url: `http://127.0.0.1:${r.port}/hook`, secretEnv: 'HOOK_SECRET', allowPrivateNetwork: true, timeoutMs: 200 },
    },
  }), { pool: db.pool, logger, env })
  service.start()
  const alarm = uuid(30)
  service.offer(event(alarm, 'raised'))
  try {
    const rows = await until(async () => { const d = await service.list({ alarmId: alarm }); return d.length === 3 && d.every((x) => x.attempts >= 1) ? d : undefined }, 10_000, 'first attempts')
    const by = Object.fromEntries(rows.map((d) => [d.endpoint, d]))
    expect(by.inside!.lastError).toMatch(/^address_refused: 127\.0\.0\.1 is an internal address/)
    expect(by.named!.lastError).toMatch(/^address_refused: localhost resolves to (127\.0\.0\.1|::1)/)
    expect(by.slow!.lastError).toMatch(/^timeout: no complete response within 200 ms/)
    // Only the allowed endpoint reached the receiver.
    expect(r.received).toHaveLength(1)
  } finally {
    await service.stop()
    await r.close()
  }
}, 20_000)

test('email: the SMTP listener receives the alarm with its details, routed by rule and severity', async () => {
  const mails: Array<{ from: string; to: string[]; data: string }> = []
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((t) => t.address), data: Buffer.concat(chunks).toString('utf8') })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
  const port = (smtp.server.address() as AddressInfo).port
  const service = new NotificationService(NotificationsConfigSchema.parse({
    retryMinMs: 50, retryMaxMs: 200, pollIntervalMs: 50,
    smtp: { host: '127.0.0.1', port, from: 'gridline <alarms@gridline.test>' },
    endpoints: {
      duty: { type: 'email', to: ['duty@danang.test', 'ioc@danang.test'], match: { severities: ['critical', 'major'], rules: ['pm25-*'] } },
      other: { type: 'email', to: ['water@danang.test'], match: { domains: ['water'] } },
    },
  }), { pool: db.pool, logger, env, deviceDistrict: () => 'Hải Châu' })
  service.start()
  const alarm = uuid(40)
  service.offer(event(alarm, 'raised'))
  service.offer(event(uuid(41), 'raised', { severity: 'minor' }))
  try {
    await until(async () => (await service.list({ alarmId: alarm }))[0]?.status === 'delivered' || undefined, 15_000, 'email delivered')
    await service.flush()
    expect(await service.list({ endpoint: 'other' })).toHaveLength(0)
    expect(await service.list({ alarmId: uuid(41) })).toHaveLength(0)
    expect(mails).toHaveLength(1)
    const mail = mails[0]!
    expect(mail.from).toBe('alarms@gridline.test')
    expect(mail.to).toEqual(['duty@danang.test', 'ioc@danang.test'])
    const unfolded = mail.data.replace(/\r\n[ \t]/g, ' ')
    expect(unfolded).toMatch(/^Subject: \[gridline\] MAJOR raised: pm25-high on aq-0000$/m)
    expect(unfolded).toContain(`Message-ID: <`)
    expect(unfolded).toContain(`X-Gridline-Alarm: ${alarm}`)
    const text = unfolded.replace(/=\r\n/g, '')
    expect(text).toContain('pm25 on aq-0000 is 61.2, above 55.4')
    expect(text).toContain(`Alarm:     ${alarm}`)
    expect(text).toContain('Value:     61.2')
    expect(text).toMatch(/District: {2}H(ả|=E1=BA=A3)i Ch(â|=C3=A2)u/)
  } finally {
    await service.stop()
    await new Promise<void>((resolve) => smtp.close(() => resolve()))
  }
}, 30_000)

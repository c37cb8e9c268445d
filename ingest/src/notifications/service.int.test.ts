import { createHmac } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { afterAll, beforeAll, expect, test } from 'vitest'

const SECRET = 'service-test-secret-0123456789'
const PASSWORD = 'a-long-test-password'
let t: TestService
let base: string
const received: Array<{ body: string; signature: string; status: number }> = []
let answer = 204
let server: http.Server

beforeAll(async () => {
  process.env.GRIDLINE_TEST_HOOK_SECRET = SECRET
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-gridline-signature']), status: answer })
      res.writeHead(answer).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const closed = http.createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const refused = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  t = await startTestService({
    users: [{ name: 'ada', role: 'admin', password: PASSWORD }, { name: 'olly', role: 'operator', password: PASSWORD }],
    config: {
      notifications: {
        retryForMs: 1_000, retryMinMs: 50, retryMaxMs: 200, pollIntervalMs: 50,
        endpoints: {
          ioc: { type: 'webhook', url: `http://127.0.0.1:${port}/gridline`, secretEnv: 'GRIDLINE_TEST_HOOK_SECRET', allowPrivateNetwork: true, match: { rules: ['custom:*'] } },
          down: { type: 'webhook', url: `http://127.0.0.1:${refused}/gridline`, secretEnv: 'GRIDLINE_TEST_HOOK_SECRET', allowPrivateNetwork: true, match: { events: ['raised'] } },
        },
      },
    },
  })
  base = t.httpUrl
})

afterAll(async () => {
  await t?.stop()
  await new Promise<void>((resolve) => server?.close(() => resolve()))
  delete process.env.GRIDLINE_TEST_HOOK_SECRET
})

async function call(cookie: string, method: string, path: string, body?: unknown, headers: Record<string, string> = { origin: base, 'content-type': 'application/json' }) {
  const res = await fetch(`${base}${path}`, { method, headers: { cookie, ...(method === 'GET' ? {} : headers) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  return { status: res.status, body: await res.json().catch(() => null) as Record<string, any> }
}

async function until<T>(what: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await what()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('alarm changes made in the console reach the webhook in order, signed; admins see the deliveries and replay a dead letter, audited, under the CSRF rules', async () => {
  const olly = await t.login('olly', PASSWORD)
  const ada = await t.login('ada', PASSWORD)
  const raised = await call(olly, 'POST', '/api/alarms', { ruleId: 'air-notify', subject: 'district:Hải Châu', severity: 'major', message: 'VN_AQI 160 (bad)' })
  expect(raised.status).toBe(200)
  const alarmId = raised.body.alarm.alarmId as string
  expect((await call(olly, 'POST', `/api/alarms/${alarmId}/ack`, { comment: 'crew informed' })).status).toBe(200)
  expect((await call(olly, 'POST', '/api/alarms/clear', { ruleId: 'air-notify', subject: 'district:Hải Châu' })).status).toBe(200)

  await until(() => received.length >= 3 || undefined)
  const bodies = received.map((r) => JSON.parse(r.body))
  expect(bodies.map((b) => b.type)).toEqual(['alarm.raised', 'alarm.acknowledged', 'alarm.cleared'])
  expect(bodies[0].alarm).toMatchObject({ id: alarmId, ruleId: 'custom:air-notify', subject: 'district:Hải Châu', district: 'Hải Châu', severity: 'major', message: 'VN_AQI 160 (bad)' })
  expect(bodies[1].alarm).toMatchObject({ acknowledgedBy: 'olly', comment: 'crew informed' })
  for (const r of received) {
    const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature)!
    expect(createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex')).toBe(v1)
  }

  // The unreachable endpoint got the raise only; after the (1 s) window it is dead-lettered.
  const dead = await until(async () => {
    const r = await call(ada, 'GET', '/api/notifications/deliveries?status=dead&endpoint=down')
    return r.body.deliveries.length > 0 ? r.body.deliveries[0] : undefined
  })
  expect(dead).toMatchObject({ endpoint: 'down', alarmId, state: 'raised', status: 'dead' })
  expect(dead.deadReason).toMatch(/retry window of 1 s passed .*ECONNREFUSED/)

  // Admins only.
  expect((await call(olly, 'GET', '/api/notifications/deliveries')).status).toBe(403)
  expect((await call(olly, 'POST', `/api/notifications/deliveries/${dead.id}/replay`, {})).status).toBe(403)
  // The receiver saw the requests before their answers were recorded: wait for the rows.
  const summary = await until(async () => { const r = await call(ada, 'GET', '/api/notifications'); return r.body.endpoints.find((e: { endpoint: string; delivered: number }) => e.endpoint === 'ioc')?.delivered === 3 ? r : undefined })
  expect(summary.body.endpoints).toEqual(expect.arrayContaining([
    { endpoint: 'ioc', type: 'webhook', pending: 0, delivered: 3, dead: 0 },
    expect.objectContaining({ endpoint: 'down', dead: 1 }),
  ]))
  // The CSRF rules: no Origin, or a form body, is refused.
  const noOrigin = await call(ada, 'POST', `/api/notifications/deliveries/${dead.id}/replay`, {}, { 'content-type': 'application/json' })
  expect(noOrigin).toMatchObject({ status: 403, body: { error: { code: 'GRIDLINE_CSRF' } } })
  const form = await call(ada, 'POST', `/api/notifications/deliveries/${dead.id}/replay`, {}, { origin: base, 'content-type': 'application/x-www-form-urlencoded' })
  expect(form.status).toBe(400)
  const before = await (await fetch(`${base}/metrics`)).text()
  expect(before).toMatch(/^gridline_notifications_delivered_total\{endpoint="ioc"\} 3$/m)
  expect(before).toMatch(/^gridline_notifications_dead_lettered_total\{endpoint="down"\} 1$/m)
  expect(before).toMatch(/^gridline_notifications_queue_depth\{endpoint="down"\} 0$/m)
  expect(before).not.toContain(SECRET)
  const replay = await call(ada, 'POST', `/api/notifications/deliveries/${dead.id}/replay`, {})
  expect(replay).toMatchObject({ status: 200, body: { delivery: { id: dead.id, status: 'pending', replays: 1, idempotencyKey: dead.idempotencyKey } } })
  // Only a dead letter can be replayed: not a delivered one.
  const delivered = (await call(ada, 'GET', '/api/notifications/deliveries?status=delivered&endpoint=ioc&limit=1')).body.deliveries[0]
  const again = await call(ada, 'POST', `/api/notifications/deliveries/${delivered.id}/replay`, {})
  expect(again).toMatchObject({ status: 404, body: { error: { code: 'GRIDLINE_NOT_FOUND' } } })
  const audit = await call(ada, 'GET', '/api/audit?limit=20')
  const replays = audit.body.entries.filter((e: { action: string }) => e.action === 'notification.replay')
  expect(replays.map((e: { outcome: string }) => e.outcome)).toEqual(['refused', 'ok'])
  expect(replays[1]).toMatchObject({ actor: 'ada', target: dead.id, detail: { endpoint: 'down', alarmId } })

}, 40_000)

test('a restart of the service while the receiver answers 503 delivers the rest afterwards, in order', async () => {
  await t.restart({ notifications: { retryForMs: 60_000 } })
  received.length = 0
  answer = 503
  const engine = t.service.processing.alarms!
  const alarm = engine.raiseCustom({ ruleId: 'pump-notify', subject: 'pump-7', severity: 'critical', message: 'Pump 7 stopped' }, 'test')
  await engine.acknowledge(alarm.alarmId, 'ada', 'on it')
  engine.clearCustom({ ruleId: 'pump-notify', subject: 'pump-7' }, 'test')
  await until(() => received.length >= 2 || undefined)
  await t.restart()
  answer = 200
  const ok = await until(() => { const d = received.filter((r) => r.status === 200); return d.length >= 3 ? d : undefined })
  expect(ok.map((r) => JSON.parse(r.body).type)).toEqual(['alarm.raised', 'alarm.acknowledged', 'alarm.cleared'])
  expect(new Set(received.filter((r) => r.status === 503).map((r) => JSON.parse(r.body).type))).toEqual(new Set(['alarm.raised']))
  expect(new Set(received.map((r) => JSON.parse(r.body).id)).size).toBe(3)
}, 40_000)

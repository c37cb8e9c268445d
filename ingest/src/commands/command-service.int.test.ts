import { GridlineError } from '@gridline/core'
import { DeviceCommandSchema } from '@gridline/schemas'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { silentLogger, waitFor } from '../../../test/support.ts'
import type { IngestService } from '../app.ts'
import type { IngestMetrics } from '../metrics.ts'
import { type CommandRecord, CommandService } from './command-service.ts'
import { COMMAND_MIGRATIONS } from './migrations.ts'

// The ingest side as app.ts composes it (real PostgreSQL, real aedes, device
// logins), with mqtt.js clients acting as the devices. The end-to-end test
// with simulated devices is firmware-sim/src/commands.int.test.ts.

const PASSWORD = TEST_PASSWORD
const TIMEOUT_MS = 700

let t: TestService
let db: TestDatabase
let pool: pg.Pool
let service: IngestService
let metrics: IngestMetrics
let commands: CommandService
let url: string
const changes: CommandRecord[] = []
const clients: MqttClient[] = []

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'gw-1', kind: 'gateway' },
      ...['lamp-1', 'lamp-2', 'lamp-3', 'lamp-4', 'lamp-5'].map((id) => ({ id, domain: 'lighting' })),
      { id: 'pump-1', domain: 'water' },
      { id: 'aq-1', domain: 'environment' },
    ],
    config: {
      ingest: { minTimestamp: '1970-01-01T00:00:00Z' },
      commands: { timeoutMs: TIMEOUT_MS },
      console: { enabled: false },
    },
    start: false,
  })
  ;({ db, service } = t)
  // Until schema.ts applies COMMAND_MIGRATIONS itself; then this finds them applied.
  const { rows: applied } = await db.pool.query('SELECT version FROM gridline_migrations')
  for (const m of COMMAND_MIGRATIONS) if (!applied.some((r) => r.version === m.version)) await db.pool.query(m.sql)

  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  await t.start()
  url = t.mqttUrl
  metrics = service.metrics
  commands = service.commands
  commands.onChange((record) => changes.push(record))
})

// Each test's devices go away with it: a device left subscribed would answer the next test's commands.
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)))
})

afterAll(async () => {
  // The test's own pool first: dropping the database cuts its connections.
  await pool?.end()
  await t?.stop()
})

type Answer = (command: { id: string; action: string; params: Record<string, unknown> }) => object | null

/** A device that subscribes to its commands topic and answers each command with `answer` (null: stays silent). */
async function device(id: string, domain: string, answer: Answer = (c) => ({ id: c.id, status: 'ok', detail: 'Done.' })) {
  const client = await mqtt.connectAsync(url, { username: id, password: PASSWORD, clientId: `${id}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 4 })
  clients.push(client)
  const received: unknown[] = []
  client.on('message', (_topic, payload) => {
    const command = JSON.parse(payload.toString()) as { id: string; action: string; params: Record<string, unknown> }
    received.push(command)
    const reply = answer(command)
    if (reply) client.publish(`replies/${domain}/${id}`, JSON.stringify(reply), { qos: 1 })
  })
  const granted = await client.subscribeAsync(`commands/${domain}/${id}`, { qos: 1 })
  expect(granted[0]!.qos).toBe(1)
  return { client, received }
}

async function rejected(topic: string): Promise<{ reason: string; device_id: string | null; detail: string }[]> {
  const { rows } = await db.pool.query('SELECT reason, device_id, detail FROM rejected WHERE topic = $1 ORDER BY id', [topic])
  return rows
}

async function metric(line: string): Promise<number> {
  const text = await metrics.registry.metrics()
  const found = text.split('\n').find((l) => l.startsWith(line + ' '))
  return found === undefined ? Number.NaN : Number(found.split(' ').pop())
}

async function storedStatus(id: string): Promise<{ status: string; detail: string | null; replied_at: Date | null }> {
  const { rows } = await db.pool.query('SELECT status, detail, replied_at FROM device_commands WHERE id = $1', [id])
  return rows[0]
}

describe('a command and its reply', () => {
  test('is published to the device, stored pending, and finishes ok with the device\'s reply', async () => {
    const lamp = await device('lamp-1', 'lighting')
    const sent = await commands.send({ deviceId: 'lamp-1', action: 'dim', params: { level: 40 } }, 'alice')
    expect(sent).toMatchObject({ deviceId: 'lamp-1', domain: 'lighting', action: 'dim', params: { level: 40 }, status: 'pending', detail: null, user: 'alice', repliedAt: null })
    const result = await commands.waitForResult(sent.id)
    expect(result).toMatchObject({ id: sent.id, status: 'ok', detail: 'Done.', user: 'alice' })
    expect(result.repliedAt).toBeGreaterThanOrEqual(sent.sentAt)

    // What went on the wire is the contract's DeviceCommand.
    expect(lamp.received).toHaveLength(1)
    const wire = DeviceCommandSchema.parse(lamp.received[0])
    expect(wire).toMatchObject({ id: sent.id, action: 'dim', params: { level: 40 } })
    expect(Date.parse(wire.expiresAt!) - Date.parse(wire.ts)).toBe(TIMEOUT_MS)

    // Stored before waiters and listeners hear of it.
    expect(await commands.get(sent.id)).toEqual(result)
    expect((await storedStatus(sent.id)).status).toBe('ok')
    expect(changes.filter((c) => c.id === sent.id).map((c) => c.status)).toEqual(['pending', 'ok'])
    expect(await commands.list({ deviceId: 'lamp-1' })).toEqual([result])
  })

  test('a device that refuses or fails gives rejected or failed, with its detail', async () => {
    await device('pump-1', 'water', (c) => c.params.running
      ? { id: c.id, status: 'failed', detail: 'Motor overload.', ts: new Date().toISOString() }
      : { id: c.id, status: 'rejected', detail: 'Pump is under maintenance.' })
    const start = await commands.send({ deviceId: 'pump-1', action: 'pump', params: { running: true } }, 'bob')
    const stopCmd = await commands.send({ deviceId: 'pump-1', action: 'pump', params: { running: false } }, 'bob')
    expect(await commands.waitForResult(start.id)).toMatchObject({ status: 'failed', detail: 'Motor overload.' })
    expect(await commands.waitForResult(stopCmd.id)).toMatchObject({ status: 'rejected', detail: 'Pump is under maintenance.' })
    expect((await storedStatus(start.id)).status).toBe('failed')
    expect((await commands.list({ deviceId: 'pump-1', limit: 1 })).map((c) => c.id)).toEqual([stopCmd.id])
  })

  test.each([
    ['an unknown device', { deviceId: 'lamp-404', action: 'switch', params: { on: true } }, 'GRIDLINE_DEVICE_NOT_FOUND', /No device "lamp-404"/],
    ['a gateway', { deviceId: 'gw-1', action: 'switch', params: { on: true } }, 'GRIDLINE_COMMAND_INVALID', /is a gateway, not a device/],
    ['a domain without commands', { deviceId: 'aq-1', action: 'switch', params: { on: true } }, 'GRIDLINE_COMMAND_INVALID', /"environment" accept no commands/],
    ['an action of another domain', { deviceId: 'lamp-2', action: 'pump', params: { running: true } }, 'GRIDLINE_COMMAND_INVALID', /accept "switch", "dim", "schedule"/],
    ['bad params', { deviceId: 'lamp-2', action: 'dim', params: { level: 150 } }, 'GRIDLINE_COMMAND_INVALID', /params\.level: .*"dim" takes \{"level": number from 0 to 100/],
  ])('%s is refused before anything is sent or stored', async (_, input, code, message) => {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM device_commands')).rows[0].n
    const err = await commands.send(input, 'alice').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GridlineError)
    expect(err).toMatchObject({ code, message: expect.stringMatching(message) })
    expect((await db.pool.query('SELECT count(*)::int AS n FROM device_commands')).rows[0].n).toBe(before)
  })
})

describe('command transports', () => {
  test('a device a transport reaches gets its commands that way, settled by the transport; the others stay on MQTT', async () => {
    const sent: { deviceId: string; action: string; params: Record<string, unknown> }[] = []
    const remove = commands.addTransport({ name: 'fake', reaches: (id) => id === 'lamp-4', send: (c) => { sent.push({ deviceId: c.deviceId, action: c.action, params: c.params }) } })
    try {
      const viaTransport = await commands.send({ deviceId: 'lamp-4', action: 'dim', params: { level: 30 } }, 'tester')
      expect(sent).toEqual([{ deviceId: 'lamp-4', action: 'dim', params: { level: 30 } }])
      expect(commands.pendingFor('lamp-4').map((c) => c.id)).toEqual([viaTransport.id])
      // Another device's settle changes nothing; the right one finishes the command.
      expect(commands.settle(viaTransport.id, 'lamp-3', 'ok', null)).toBe(false)
      expect(commands.settle(viaTransport.id, 'lamp-4', 'ok', 'acknowledged by the device')).toBe(true)
      const done = await commands.waitForResult(viaTransport.id)
      expect(done).toMatchObject({ status: 'ok', detail: 'acknowledged by the device' })
      expect(done.repliedAt).not.toBeNull()
      expect(commands.settle(viaTransport.id, 'lamp-4', 'failed', null)).toBe(false)
      expect((await commands.get(viaTransport.id))?.status).toBe('ok')

      const lamp = await device('lamp-5', 'lighting')
      const viaMqtt = await commands.send({ deviceId: 'lamp-5', action: 'switch', params: { on: true } }, 'tester')
      expect((await commands.waitForResult(viaMqtt.id)).status).toBe('ok')
      expect(lamp.received).toHaveLength(1)
      expect(sent).toHaveLength(1)
    } finally {
      remove()
    }
  })

  test('a transport that cannot send fails the command with its sentence, stored', async () => {
    const remove = commands.addTransport({ name: 'fake', reaches: (id) => id === 'lamp-4', send: () => { throw new Error('no downlink mapping for lighting.switch') } })
    try {
      const record = await commands.send({ deviceId: 'lamp-4', action: 'switch', params: { on: false } }, 'tester')
      expect(record).toMatchObject({ status: 'failed', detail: 'fake: no downlink mapping for lighting.switch' })
      expect(await commands.get(record.id)).toMatchObject({ status: 'failed', detail: 'fake: no downlink mapping for lighting.switch' })
    } finally {
      remove()
    }
  })
})

describe('replies that change nothing', () => {
  test('a command nobody answers times out; the late reply is counted and changes nothing', async () => {
    const lamp = await device('lamp-2', 'lighting', () => null)
    const sent = await commands.send({ deviceId: 'lamp-2', action: 'switch', params: { on: false } }, 'alice')
    const started = Date.now()
    const result = await commands.waitForResult(sent.id)
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50)
    expect(result).toMatchObject({ status: 'timeout', detail: `The device sent no reply within ${TIMEOUT_MS} ms.`, repliedAt: null })
    expect(await storedStatus(sent.id)).toMatchObject({ status: 'timeout', replied_at: null })

    const late = commands.stats().lateReplies
    await lamp.client.publishAsync('replies/lighting/lamp-2', JSON.stringify({ id: sent.id, status: 'ok' }), { qos: 1 })
    await waitFor(() => commands.stats().lateReplies === late + 1, 5_000, 'the late reply counted')
    expect(await metric('gridline_command_replies_ignored_total{reason="late"}')).toBe(late + 1)
    expect((await storedStatus(sent.id)).status).toBe('timeout')
    expect(await rejected('replies/lighting/lamp-2')).toEqual([])
  })

  test('a reply for another device\'s command is ignored; the right device\'s reply still counts', async () => {
    let release: (() => void) | undefined
    const lamp3 = await device('lamp-3', 'lighting', (c) => {
      // Answers only once the impostor has tried.
      release = () => lamp3.client.publish('replies/lighting/lamp-3', JSON.stringify({ id: c.id, status: 'ok' }), { qos: 1 })
      return null
    })
    const other = await device('lamp-4', 'lighting', () => null)
    const sent = await commands.send({ deviceId: 'lamp-3', action: 'schedule', params: {} }, 'alice')
    await waitFor(() => release !== undefined, 5_000, 'lamp-3 to get its command')
    const unknown = commands.stats().unknownReplies
    // lamp-4, on its own topic, answers lamp-3's command: well-formed, so acknowledged and not dead-lettered.
    await other.client.publishAsync('replies/lighting/lamp-4', JSON.stringify({ id: sent.id, status: 'failed' }), { qos: 1 })
    await other.client.publishAsync('replies/lighting/lamp-4', JSON.stringify({ id: '00000000-0000-4000-8000-000000000000', status: 'ok' }), { qos: 1 })
    expect(commands.stats().unknownReplies).toBe(unknown + 2)
    expect((await commands.get(sent.id))!.status).toBe('pending')
    release!()
    expect(await commands.waitForResult(sent.id)).toMatchObject({ status: 'ok', deviceId: 'lamp-3' })
    expect(await rejected('replies/lighting/lamp-4')).toEqual([])
  })
})

describe('reply intake on the broker', () => {
  test('a malformed reply is acknowledged and dead-lettered as reply_invalid', async () => {
    const lamp = await device('lamp-5', 'lighting', () => null)
    const sent = await commands.send({ deviceId: 'lamp-5', action: 'switch', params: { on: true } }, 'alice')
    // Each PUBACK comes after the rejection is committed.
    await lamp.client.publishAsync('replies/lighting/lamp-5', '{"id": "x", "status": "ok"', { qos: 1 })
    expect(await rejected('replies/lighting/lamp-5')).toHaveLength(1)
    await lamp.client.publishAsync('replies/lighting/lamp-5', JSON.stringify({ id: sent.id, status: 'done' }), { qos: 1 })
    await lamp.client.publishAsync('replies/lighting/lamp-5', JSON.stringify({ id: sent.id, status: 'ok', battery: 3 }), { qos: 1 })
    await lamp.client.publishAsync('replies/lighting/lamp-5', JSON.stringify({ id: sent.id, status: 'ok', detail: 'x'.repeat(5000) }), { qos: 1 })
    const rows = await rejected('replies/lighting/lamp-5')
    expect(rows.map((r) => [r.reason, r.device_id])).toEqual(Array(4).fill(['reply_invalid', 'lamp-5']))
    expect(rows[0]!.detail).toMatch(/not JSON/)
    expect(rows[1]!.detail).toMatch(/^status: /)
    expect(rows[2]!.detail).toMatch(/battery/)
    expect(rows[3]!.detail).toMatch(/at most 4096 bytes/)
    // None of them answered the command.
    expect((await commands.get(sent.id))!.status).toBe('pending')
    expect(await commands.waitForResult(sent.id)).toMatchObject({ status: 'timeout' })
  })

  test('a client cannot reply on another device\'s replies topic, nor on a bad one', async () => {
    const lamp2 = await device('lamp-2', 'lighting', () => null)
    const target = await device('lamp-1', 'lighting', () => null)
    const sent = await commands.send({ deviceId: 'lamp-1', action: 'switch', params: { on: true } }, 'alice')
    await waitFor(() => target.received.length > 0, 5_000, 'lamp-1 to get its command')
    const reply = JSON.stringify({ id: sent.id, status: 'ok' })
    await lamp2.client.publishAsync('replies/lighting/lamp-1', reply, { qos: 1 })
    await lamp2.client.publishAsync('replies/water/lamp-2', reply, { qos: 1 })
    await lamp2.client.publishAsync('replies/lighting', reply, { qos: 1 })
    const gateway = await mqtt.connectAsync(url, { username: 'gw-1', password: PASSWORD, reconnectPeriod: 0, protocolVersion: 4 })
    clients.push(gateway)
    await gateway.publishAsync('replies/lighting/lamp-1', reply, { qos: 1 })

    expect(await rejected('replies/lighting/lamp-1')).toEqual([
      { reason: 'topic_not_authorized', device_id: 'lamp-1', detail: expect.stringMatching(/device "lamp-2" may not reply/) },
      { reason: 'topic_not_authorized', device_id: 'lamp-1', detail: expect.stringMatching(/gateway "gw-1" may not reply/) },
    ])
    expect((await rejected('replies/water/lamp-2')).map((r) => r.reason)).toEqual(['topic_not_authorized'])
    expect((await rejected('replies/lighting')).map((r) => r.reason)).toEqual(['topic_invalid'])
    expect((await commands.get(sent.id))!.status).toBe('pending')
    expect((await commands.waitForResult(sent.id)).status).toBe('timeout')
  })

  test('no other device may listen in on a device\'s commands or replies', async () => {
    const lamp = await device('lamp-3', 'lighting')
    const spy = await mqtt.connectAsync(url, { username: 'lamp-4', password: PASSWORD, reconnectPeriod: 0, protocolVersion: 4 })
    clients.push(spy)
    // SUBACK 0x80 [MQTT-3.9.3]; mqtt.js turns it into an error.
    await expect(spy.subscribeAsync('commands/lighting/lamp-3', { qos: 1 })).rejects.toThrow(/Subscribe error/)
    await expect(spy.subscribeAsync('replies/lighting/lamp-3', { qos: 1 })).rejects.toThrow(/Subscribe error/)
    const seen: string[] = []
    spy.on('message', (topic) => seen.push(topic))
    const sent = await commands.send({ deviceId: 'lamp-3', action: 'dim', params: { level: 10 } }, 'alice')
    expect((await commands.waitForResult(sent.id)).status).toBe('ok')
    expect(lamp.received).toHaveLength(1)
    expect(seen).toEqual([])
  })
})

describe('metrics and shutdown', () => {
  test('outcomes are counted in Prometheus and stats()', async () => {
    const s = commands.stats()
    expect(s.sent).toBe(s.ok + s.rejected + s.failed + s.timeout + s.pending)
    for (const outcome of ['sent', 'ok', 'rejected', 'failed', 'timeout'] as const) {
      expect(await metric(`gridline_commands_total{outcome="${outcome}"}`)).toBe(s[outcome])
    }
    expect(s.ok).toBeGreaterThanOrEqual(3)
    expect(s.failed).toBe(2) // a device's failed reply, and the transport that could not send
    expect(s.rejected).toBe(1)
    expect(await metric('gridline_command_replies_ignored_total{reason="unknown"}')).toBe(s.unknownReplies)
    expect(await metric('gridline_commands_pending')).toBe(s.pending)
  })

  test('stop() times out pending commands as "service stopped"; a new service sweeps what a dead one left pending', async () => {
    await device('lamp-4', 'lighting', () => null)
    const sent = await commands.send({ deviceId: 'lamp-4', action: 'switch', params: { on: true } }, 'alice')
    expect(commands.stats().pending).toBe(1)
    const waiting = commands.waitForResult(sent.id)
    // A row a crashed process left pending, older than the timeout.
    const orphan = '11111111-1111-4111-8111-111111111111'
    await db.pool.query(`INSERT INTO device_commands VALUES ($1, 'lamp-4', 'lighting', 'switch', '{"on":false}', 'pending', NULL, 'carol', now() - interval '1 hour', NULL)`, [orphan])

    await commands.stop()
    expect(await waiting).toMatchObject({ status: 'timeout', detail: 'service stopped' })
    expect(await storedStatus(sent.id)).toMatchObject({ status: 'timeout', detail: 'service stopped' })
    await expect(commands.send({ deviceId: 'lamp-4', action: 'schedule', params: {} }, 'alice')).rejects.toMatchObject({ code: 'GRIDLINE_SHUTTING_DOWN' })
    expect((await storedStatus(orphan)).status).toBe('pending')

    const next = new CommandService({ pool, publish: () => undefined, lookup: () => undefined, logger: silentLogger(), timeoutMs: TIMEOUT_MS })
    await next.start()
    expect(await storedStatus(orphan)).toMatchObject({ status: 'timeout', detail: 'The service restarted before the device replied.' })
    expect(await next.waitForResult(orphan)).toMatchObject({ status: 'timeout', user: 'carol' })
    await expect(next.waitForResult('22222222-2222-4222-8222-222222222222')).rejects.toMatchObject({ code: 'GRIDLINE_NOT_FOUND' })
    expect(await next.get('not-a-uuid')).toBeUndefined()
    await next.stop()
  })
})

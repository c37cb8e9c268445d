import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_FLEET, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../test/support.ts'
import type { IngestService } from './app.ts'
import { DeviceStore } from './devices/device-store.ts'
import { pgSqlClient } from './storage/sql-client.ts'

let t: TestService
let db: TestDatabase
let service: IngestService
let url: string
let httpBase: string
const clients: MqttClient[] = []

const PASSWORD = TEST_PASSWORD

async function connect(username: string, password = PASSWORD, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password, clientId: `${username}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 4, ...extra })
  clients.push(client)
  return client
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query(sql, params)
  return Number(rows[0].n)
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${httpBase}/metrics`)).text()
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
}

beforeAll(async () => {
  t = await startTestService({
    devices: TEST_FLEET,
  })
  ;({ db, service, mqttUrl: url, httpUrl: httpBase } = t)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
})

describe('ack after commit', () => {
  test('on each PUBACK the message\'s rows are already queryable', async () => {
    const client = await connect('aq-1')
    const base = Date.parse('2026-11-28T00:00:00Z')
    const checks = await Promise.all(Array.from({ length: 60 }, async (_, seq) => {
      await client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: base + seq * 1000, seq, values: { pm25: seq, pm10: seq * 2 } }), { qos: 1 })
      // The PUBACK has arrived: the rows must be visible to any other session now.
      return count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq = $1`, [seq])
    }))
    expect(checks).toEqual(Array(60).fill(2))
  })

  test('QoS 2 is acknowledged (PUBREC) after commit too', async () => {
    const client = await connect('aq-1')
    await client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.parse('2026-11-28T01:00:00Z'), seq: 900, values: { pm25: 1 } }), { qos: 2 })
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq = 900`)).toBe(1)
  })
})

describe('exactly once in storage', () => {
  test('a resent message (same device, metric and time) is stored once and counted as duplicate', async () => {
    const client = await connect('aq-2')
    // No seq: only the storage key can tell the resend.
    const payload = JSON.stringify({ ts: '2026-11-28T10:00:00.000+07:00', values: { pm25: 35.2, temperature: 29.1 } })
    const before = await metric('gridline_ingest_rows_duplicate_total')
    await client.publishAsync('telemetry/environment/aq-2', payload, { qos: 1 })
    await client.publishAsync('telemetry/environment/aq-2', payload, { qos: 1, dup: true })
    await client.publishAsync('telemetry/environment/aq-2', `[${payload},${payload}]`, { qos: 1 })
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time = '2026-11-28T03:00:00Z'`)).toBe(2)
    expect(await metric('gridline_ingest_rows_duplicate_total') - before).toBe(6)
  })

  test('a resend with a seq already committed is dropped before the write, at no database cost', async () => {
    const client = await connect('aq-2')
    const payload = JSON.stringify({ ts: '2026-11-28T11:00:00.000+07:00', seq: 5, values: { pm25: 35.2, temperature: 29.1 } })
    const storageBefore = await metric('gridline_ingest_rows_duplicate_total')
    const droppedBefore = await metric('gridline_seq_duplicates_dropped_total')
    await client.publishAsync('telemetry/environment/aq-2', payload, { qos: 1 })
    await client.publishAsync('telemetry/environment/aq-2', payload, { qos: 1, dup: true })
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time = '2026-11-28T04:00:00Z'`)).toBe(2)
    expect(await metric('gridline_seq_duplicates_dropped_total') - droppedBefore).toBe(1)
    expect(await metric('gridline_ingest_rows_duplicate_total') - storageBefore).toBe(0)
  })

  test('QoS 1 redelivery after a reconnect is stored once', async () => {
    // Hold commits with a table lock so the first delivery is never acknowledged.
    const unlock = await lockTelemetry()
    try {
      const client = await connect('aq-2', PASSWORD, { clientId: 'aq-2-redelivery', clean: false, reconnectPeriod: 100 })
      const payload = JSON.stringify({ ts: Date.parse('2026-11-28T05:00:00Z'), seq: 77, values: { pm25: 7 } })
      let acked = false
      client.publish('telemetry/environment/aq-2', payload, { qos: 1 }, (err) => { if (!err) acked = true })
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(acked).toBe(false)
      // The connection drops before the PUBACK; mqtt.js reconnects and sends the message again (DUP).
      // (aedes completes the session takeover only once the first delivery is settled, i.e. committed.)
      // Recognised before the write (seq already committed) or by the storage key.
      const duplicates = async () => await metric('gridline_ingest_rows_duplicate_total') + await metric('gridline_seq_duplicates_dropped_total') + await metric('gridline_seq_duplicates_in_flight_total')
      const duplicatesBefore = await duplicates()
      client.stream.destroy()
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(acked).toBe(false)
      await unlock()
      await waitFor(async () => (await duplicates()) > duplicatesBefore, 10_000, 'the redelivery to arrive and be recognised')
      await waitFor(() => acked, 10_000, 'the redelivered message to be acknowledged')
    } finally {
      await unlock()
    }
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND seq = 77`)).toBe(1)
  })
})

/** Takes an ACCESS EXCLUSIVE lock on telemetry so no batch can commit; returns the idempotent release. */
async function lockTelemetry(): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: db.url })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE telemetry IN ACCESS EXCLUSIVE MODE')
  let released = false
  return async () => {
    if (released) return
    released = true
    await locker.query('COMMIT')
    await locker.end()
  }
}

describe('bad input', () => {
  test('each bad message is dead-lettered with its reason; the connection and the good readings carry on', async () => {
    const client = await connect('aq-1')
    const topic = 'telemetry/environment/aq-1'
    const ts = Date.parse('2026-11-28T02:00:00Z')
    const sends: [string, string][] = [
      [topic, '{"values": {"pm25": 1}'],
      [topic, '[]'],
      [topic, JSON.stringify({ ts, seq: 5000, values: { pm25: 'high' } })],
      [topic, JSON.stringify({ ts: 'not a time', values: { pm25: 2 } })],
      [topic, JSON.stringify([{ ts: ts + 1, seq: 5001, values: { pm25: 3 } }, { ts: Date.now() + 86_400_000, values: { pm25: 4 } }])],
      ['telemetry/environment/aq-2', JSON.stringify({ ts, values: { pm25: 5 } })],
      ['sensors/aq-1', JSON.stringify({ ts, values: { pm25: 6 } })],
    ]
    for (const [t, p] of sends) await client.publishAsync(t, p, { qos: 1 })
    expect(client.connected).toBe(true)
    const { rows } = await db.pool.query(`SELECT reason, client_id, topic, payload_bytes FROM rejected WHERE client_id = $1 ORDER BY id`, [client.options.clientId])
    expect(rows.map((r) => r.reason)).toEqual(['json_malformed', 'batch_empty', 'value_invalid', 'ts_invalid', 'ts_in_future', 'topic_not_authorized', 'topic_invalid'])
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq = 5001`)).toBe(1)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time = $1`, [new Date(ts)])).toBe(0)
    expect(await metric('gridline_ingest_rejected_total{reason="json_malformed"}')).toBeGreaterThanOrEqual(1)
  })

  test('U+0000 in a topic is dead-lettered like any bad topic and does not stall the pipeline', async () => {
    const client = await connect('aq-1')
    await client.publishAsync('telemetry/environment/aq\u00001', JSON.stringify({ values: { pm25: 1 } }), { qos: 1 })
    await client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.parse('2026-11-28T02:10:00Z'), seq: 6000, values: { 'pm\u000025': 1, pm10: 2 } }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT reason, topic FROM rejected WHERE client_id = $1 ORDER BY id`, [client.options.clientId])
    expect(rows).toEqual([
      { reason: 'device_id_invalid', topic: 'telemetry/environment/aq\uFFFD1' },
      { reason: 'metric_name_invalid', topic: 'telemetry/environment/aq-1' },
    ])
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq = 6000`)).toBe(1)
  })

  test('rows the database refuses are isolated and dead-lettered; the rest of the batch is stored', async () => {
    // A constraint the wire contract does not know about stands in for any data error.
    await db.pool.query('ALTER TABLE telemetry ADD CONSTRAINT test_refuse_minus_42 CHECK (value <> -42)')
    try {
      const client = await connect('aq-1')
      const ts = Date.parse('2026-11-28T02:20:00Z')
      const sends = [1, 2, -42, 4, 5].map((v, i) => client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: ts + i, seq: 7000 + i, values: { pm25: v } }), { qos: 1 }))
      await Promise.all(sends)
      expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq BETWEEN 7000 AND 7004`)).toBe(4)
      const { rows } = await db.pool.query(`SELECT reason, convert_from(payload, 'UTF8')::json->'values'->>'pm25' AS v FROM rejected WHERE reason = 'storage_rejected'`)
      expect(rows).toEqual([{ reason: 'storage_rejected', v: '-42' }])
    } finally {
      await db.pool.query('ALTER TABLE telemetry DROP CONSTRAINT test_refuse_minus_42')
    }
  })

  test('a packet announcing more than the largest allowed size is refused before it is read', async () => {
    const client = await connect('aq-1')
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.publish('telemetry/environment/aq-1', Buffer.alloc(1_200_000, 0x20), { qos: 1 })
    await closed
    await waitFor(async () => (await count(`SELECT count(*) AS n FROM rejected WHERE client_id = $1 AND reason = 'payload_too_large'`, [client.options.clientId])) === 1, 5_000, 'the refusal to be recorded')
    expect(await metric('gridline_ingest_oversized_packets_total')).toBe(1)
  })

  test('values outside the plausible range are stored with quality 1', async () => {
    const client = await connect('aq-1')
    await client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.parse('2026-11-28T02:30:00Z'), values: { humidity: 180 } }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT quality FROM telemetry WHERE device_id = 'aq-1' AND metric = 'humidity'`)
    expect(rows).toEqual([{ quality: 1 }])
  })
})

describe('devices and security', () => {
  test('a wrong password is refused at CONNECT with return code 4 and counted', async () => {
    const before = await metric('gridline_ingest_auth_failures_total')
    await expect(mqtt.connectAsync(url, { username: 'aq-1', password: 'wrong', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })
    await expect(mqtt.connectAsync(url, { username: 'nobody', password: 'x', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })
    await expect(mqtt.connectAsync(url, { reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })
    expect(await metric('gridline_ingest_auth_failures_total') - before).toBe(3)
  })

  test('a device may subscribe to its own command topic only', async () => {
    const client = await connect('aq-1')
    // mqtt.js reports a SUBACK with any 0x80 as an error carrying the packet.
    const suback = await client.subscribeAsync(['commands/environment/aq-1', 'telemetry/#', 'commands/environment/aq-2'], { qos: 1 })
      .then(() => undefined, (err: { packet?: { granted: number[] } }) => err.packet)
    expect(suback?.granted).toEqual([1, 128, 128])
  })

  test('an integration account may subscribe to alarm topics only, and may publish nothing', async () => {
    const store = new DeviceStore(pgSqlClient(db.pool))
    await store.add({ id: 'ops-bridge', kind: 'integration', password: PASSWORD })
    // The service learns of the new account by NOTIFY, a moment after the insert.
    let client: MqttClient | undefined
    await waitFor(async () => (client = await connect('ops-bridge').catch(() => undefined)) !== undefined, 10_000, 'the new account to be known')
    if (!client) throw new Error('unreachable')
    const suback = await client.subscribeAsync(['alarms/#', 'commands/environment/aq-1', '#'], { qos: 1 })
      .then(() => undefined, (err: { packet?: { granted: number[] } }) => err.packet)
    expect(suback?.granted).toEqual([1, 128, 128])
    await client.publishAsync('telemetry/environment/ops-bridge', JSON.stringify({ values: { pm25: 1 } }), { qos: 1 })
    await client.publishAsync('status/environment/ops-bridge', '{"state":"online"}', { qos: 1 })
    const { rows } = await db.pool.query(`SELECT reason FROM rejected WHERE client_id = $1 ORDER BY id`, [client.options.clientId])
    expect(rows.map((r: { reason: string }) => r.reason)).toEqual(['topic_not_authorized', 'topic_not_authorized'])
    await expect(store.add({ id: 'ops-2', kind: 'integration', gateway: 'gw-1', password: PASSWORD })).rejects.toThrow('cannot sit behind a gateway')
  })

  test('a gateway publishes for the devices behind it, and only for those', async () => {
    const gw = await connect('gw-1')
    const ts = Date.parse('2026-11-28T03:00:00Z')
    await gw.publishAsync('gateways/gw-1/telemetry', JSON.stringify({ readings: [
      { device: 'pump-1', domain: 'water', ts, seq: 1, values: { pressure: 3.2, flow: 120 } },
      { device: 'lamp-1', domain: 'lighting', ts, seq: 1, values: { lamp_on: true }, backfill: true },
      { device: 'aq-1', domain: 'environment', ts, values: { pm25: 3 } },
    ] }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT device_id, metric, value, flags FROM telemetry WHERE time = $1 AND device_id IN ('pump-1', 'lamp-1', 'aq-1') ORDER BY device_id, metric`, [new Date(ts)])
    expect(rows).toEqual([
      { device_id: 'lamp-1', metric: 'lamp_on', value: 1, flags: 2 },
      { device_id: 'pump-1', metric: 'flow', value: 120, flags: 0 },
      { device_id: 'pump-1', metric: 'pressure', value: 3.2, flags: 0 },
    ])
    expect(await count(`SELECT count(*) AS n FROM rejected WHERE reason = 'device_not_behind_gateway' AND device_id = 'aq-1'`)).toBe(1)
  })

  test('only validated telemetry reaches subscribers: a device cannot reach another device\'s topics', async () => {
    // A second, auth-free service on the same database lets a test subscriber see everything it forwards.
    const watcher = await startTestService({ database: db, config: { auth: { mode: 'none' }, processors: { onSecondInstance: 'warn' } } })
    const ports = { mqttPort: watcher.mqttPort }
    try {
      const watch = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqttPort}`, { reconnectPeriod: 0 })
      const seen: string[] = []
      watch.on('message', (topic) => seen.push(topic))
      await watch.subscribeAsync('#', { qos: 0 })
      const attacker = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqttPort}`, { reconnectPeriod: 0 })
      await attacker.publishAsync('commands/lighting/lamp-1', '{"dim": 0}', { qos: 1 })
      await attacker.publishAsync('telemetry/environment/aq-9', '{"values": {"pm25": 1}}', { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 200))
      // Besides the valid telemetry, only the Sparkplug host's retained STATE announcement (docs/sparkplug.md).
      expect(seen.filter((topic) => !topic.startsWith('spBv1.0/STATE/'))).toEqual(['telemetry/environment/aq-9'])
      expect(seen).toContain('spBv1.0/STATE/gridline')
      await Promise.all([watch.endAsync(), attacker.endAsync()])
    } finally {
      await watcher.stop()
    }
  })

  test('a removed device loses its open connection', async () => {
    const store = new DeviceStore(pgSqlClient(db.pool))
    await store.add({ id: 'doomed-1', domain: 'traffic', password: PASSWORD })
    let client: MqttClient | undefined
    await waitFor(async () => (client = await connect('doomed-1').catch(() => undefined)) !== undefined, 5_000, 'the device to be accepted')
    const closed = new Promise<void>((resolve) => client!.once('close', () => resolve()))
    await store.remove('doomed-1')
    await closed
    await expect(mqtt.connectAsync(url, { username: 'doomed-1', password: PASSWORD, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 })
  })

  test('a device registered while the service runs can connect at once (LISTEN/NOTIFY)', async () => {
    await new DeviceStore(pgSqlClient(db.pool)).add({ id: 'late-1', domain: 'traffic', password: PASSWORD })
    let client: MqttClient | undefined
    await waitFor(async () => {
      client = await connect('late-1').catch(() => undefined)
      return client !== undefined
    }, 5_000, 'the new device to be accepted')
    await client!.publishAsync('telemetry/traffic/late-1', JSON.stringify({ values: { vehicle_count: 12 } }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT flags FROM telemetry WHERE device_id = 'late-1'`)
    expect(rows).toEqual([{ flags: 1 }])
  })
})

describe('device status and wills', () => {
  test('an online report is stored on PUBACK, and the will marks the device offline when its connection dies', async () => {
    const will = { topic: 'status/environment/aq-2', payload: Buffer.from('{"state":"offline"}'), qos: 1 as const, retain: true }
    const client = await connect('aq-2', PASSWORD, { will })
    await client.publishAsync('status/environment/aq-2', JSON.stringify({ state: 'online', ts: '2026-11-28T08:00:00+07:00' }), { qos: 1, retain: true })
    const current = async () => (await db.pool.query(`SELECT state, since FROM device_status WHERE device_id = 'aq-2'`)).rows[0]
    expect(await current()).toEqual({ state: 'online', since: new Date('2026-11-28T01:00:00Z') })

    // Kill the socket without DISCONNECT: the broker publishes the will.
    ;(client as unknown as { stream: { destroy(): void } }).stream.destroy()
    await waitFor(async () => (await current())?.state === 'offline', 10_000, 'the will to be stored')
    const history = await db.pool.query(`SELECT state FROM device_status_history WHERE device_id = 'aq-2' ORDER BY received_at`)
    expect(history.rows.map((r: { state: string }) => r.state)).toEqual(['online', 'offline'])
    expect(await metric('gridline_ingest_status_reports_total{state="offline"}')).toBeGreaterThanOrEqual(1)
  })

  test('an older report never moves the current state back', async () => {
    const client = await connect('aq-1')
    await client.publishAsync('status/environment/aq-1', JSON.stringify({ state: 'offline', ts: '2026-11-28T10:00:00Z' }), { qos: 1 })
    await client.publishAsync('status/environment/aq-1', JSON.stringify({ state: 'online', ts: '2026-11-28T09:00:00Z' }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT state FROM device_status WHERE device_id = 'aq-1'`)
    expect(rows[0].state).toBe('offline')
  })

  test('another device\'s status and malformed reports are dead-lettered with their reason', async () => {
    const client = await connect('aq-1')
    await client.publishAsync('status/environment/aq-2', '{"state":"offline"}', { qos: 1 })
    await client.publishAsync('status/environment/aq-1', '{"state":"sleeping"}', { qos: 1 })
    await client.publishAsync('status/environment/aq-1', '{"state":"online","battery":3}', { qos: 1 })
    const { rows } = await db.pool.query(`SELECT reason, detail FROM rejected WHERE topic LIKE 'status/%' AND client_id = $1 ORDER BY id`, [client.options.clientId])
    expect(rows.map((r: { reason: string }) => r.reason)).toEqual(['topic_not_authorized', 'status_invalid', 'status_invalid'])
    expect(rows[1].detail).toContain('"sleeping"')
    expect(rows[2].detail).toContain('battery')
  })
})

describe('backpressure', () => {
  test('while the database cannot commit nothing is acknowledged and intake is held; afterwards it catches up', async () => {
    const client = await connect('aq-2')
    const unlock = await lockTelemetry()
    const base = Date.parse('2026-11-28T06:00:00Z')
    let acked = 0
    const payload = (seq: number) => JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ ts: base + seq * 100 + i, seq: seq * 100 + i, values: { pm25: i, pm10: i } })))
    const all = Array.from({ length: 400 }, (_, seq) => client.publishAsync('telemetry/environment/aq-2', payload(seq), { qos: 1 }).then(() => { acked++ }))
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(acked).toBe(0)
    const held = await service.snapshot()
    // 400 messages x 50 readings x 2 metrics were sent. The broker read on while they waited
    // for the commit (read-ahead) until the connection's share, ingest.maxPendingRowsPerConnection
    // (10,000 by default), was uncommitted; then it stopped reading, one socket read later at most.
    expect(held.pendingRows).toBeGreaterThanOrEqual(10_000)
    expect(held.pendingRows).toBeLessThan(10_000 + 100 * 20)
    expect(await metric('gridline_ingest_backpressure')).toBe(0) // a lock is slowness, not failure, and pending is under the limit
    await unlock()
    await Promise.all(all)
    expect(acked).toBe(400)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time >= $1 AND time < $2`, [new Date(base), new Date(base + 400 * 100)])).toBe(40_000)
  })
})

describe('read-ahead', () => {
  test('messages read ahead of their commit get no PUBACK when the service stops first; their late commit writes nothing to the closed connection', async () => {
    const short = await startTestService({ database: db, config: { processors: { onSecondInstance: 'warn' }, ingest: { shutdownTimeoutMs: 300 } } })
    const unlock = await lockTelemetry()
    let stopping: Promise<void> | undefined
    try {
      const client = await mqtt.connectAsync(short.mqttUrl, { username: 'aq-1', password: PASSWORD, clientId: 'aq-1-ra', reconnectPeriod: 0, protocolVersion: 4 })
      const acks: number[] = []
      client.on('packetreceive', (p) => { if (p.cmd === 'puback') acks.push(p.messageId!) })
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
      const base = Date.parse('2026-11-27T07:00:00Z')
      for (let k = 0; k < 5; k++) client.publish('telemetry/environment/aq-1', JSON.stringify({ ts: base + k, values: { pm25: k } }), { qos: 1 })
      // All five were read although none is committed (holding the callback would have stopped at the first read).
      await waitFor(async () => (await short.service.snapshot()).pendingRows === 5, 5_000, 'five messages taken in')
      stopping = short.stop()
      await closed
      await unlock()
      await stopping
      expect(acks).toEqual([])
      client.end(true)
    } finally {
      await unlock()
      await (stopping ?? short.stop())
    }
  })
})

describe('global backpressure', () => {
  test('at maxPendingRows the backpressure gauge rises and intake stays bounded; once the database commits again all is acknowledged and stored, and the gauge falls', async () => {
    const small = await startTestService({
      database: db,
      config: { auth: { mode: 'none' }, processors: { onSecondInstance: 'warn' }, ingest: { maxPendingRows: 400, shedAtPendingRows: 100_000 } },
    })
    const ports = { mqttPort: small.mqttPort, httpPort: small.httpPort }
    const gauge = async () => {
      const text = await (await fetch(`http://127.0.0.1:${ports.httpPort}/metrics`)).text()
      return Number(/^gridline_ingest_backpressure (\S+)/m.exec(text)![1])
    }
    const unlock = await lockTelemetry()
    try {
      const publishers = await Promise.all(Array.from({ length: 8 }, (_, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqttPort}`, { clientId: `bp-${i}`, reconnectPeriod: 0 })))
      const base = Date.parse('2026-11-28T08:00:00Z')
      let acked = 0
      const all = publishers.flatMap((p, i) => Array.from({ length: 200 }, (_, k) =>
        p.publishAsync(`telemetry/environment/bp-${i}`, JSON.stringify({ ts: base + k, values: { pm25: k, pm10: k } }), { qos: 1 }).then(() => { acked++ })))
      await waitFor(async () => (await gauge()) === 1, 5_000, 'the backpressure gauge to rise')
      await new Promise((resolve) => setTimeout(resolve, 300))
      const held = await small.service.snapshot()
      // 8 x 200 messages x 2 rows were sent; what was read is bounded by the sockets' reads, not the load.
      expect(held.pendingRows).toBeGreaterThanOrEqual(400)
      expect(held.pendingRows).toBeLessThan(3_200)
      await unlock()
      await Promise.all(all)
      expect(acked).toBe(1_600)
      expect(await gauge()).toBe(0)
      await Promise.all(publishers.map((p) => p.endAsync()))
    } finally {
      await unlock()
      await small.stop()
    }
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id LIKE 'bp-%'`)).toBe(3_200)
  })
})

describe('database connections lost', () => {
  test('a write whose connection dies is retried; every acknowledged message is stored once', async () => {
    const client = await connect('aq-1')
    const retriesBefore = await metric('gridline_ingest_write_retries_total')
    const base = Date.parse('2026-11-28T07:00:00Z')
    const unlock = await lockTelemetry()
    let acked = 0
    try {
      const sends = Array.from({ length: 300 }, (_, seq) => client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: base + seq, seq: 90_000 + seq, values: { pm25: seq } }), { qos: 1 }).then(() => { acked++ }))
      // The writers now wait on the lock in the middle of a COPY: cut exactly those connections.
      await waitFor(async () => (await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY telemetry%' AND wait_event_type = 'Lock'`)) > 0, 5_000, 'a COPY to wait on the lock')
      await db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY telemetry%'`)
      await waitFor(async () => (await metric('gridline_ingest_write_retries_total')) > retriesBefore, 5_000, 'the write to be retried')
      expect(acked).toBe(0)
      await unlock()
      await Promise.all(sends)
    } finally {
      await unlock()
    }
    expect(acked).toBe(300)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND seq BETWEEN 90000 AND 90299`)).toBe(300)
  })
})

describe('http', () => {
  test('/healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${httpBase}/healthz`)).status).toBe(200)
    const ready = await fetch(`${httpBase}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, broker: true, sources: { mqtt: true } } })
    const text = await (await fetch(`${httpBase}/metrics`)).text()
    for (const name of ['gridline_ingest_readings_received_total', 'gridline_ingest_rows_stored_total', 'gridline_ingest_commit_seconds_bucket', 'gridline_ingest_batch_rows_bucket', 'gridline_ingest_connected_clients', 'gridline_ingest_messages_acked_total']) {
      expect(text).toContain(name)
    }
    expect(await metric('gridline_ingest_rows_stored_total')).toBeGreaterThan(100)
  })
})

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../test/support.ts'

// Issue 11's critical findings, with real clients: input that once killed the
// service, and readings that were acknowledged and then lost.

const run = promisify(execFile)
const PASSWORD = TEST_PASSWORD
const DEEP = '['.repeat(5000) + ']'.repeat(5000)

let t: TestService
let db: TestDatabase
let mqttPort: number
let httpPort: number
const dir = mkdtempSync(join(tmpdir(), 'gridline-hostile-'))

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query(sql, params)
  return Number(rows[0].n)
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
}

async function mosquittoPub(device: string, domain: string, file: string, qos: 0 | 1): Promise<void> {
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-u', device, '-P', PASSWORD, '-q', String(qos), '-t', `telemetry/${domain}/${device}`, '-f', file], { timeout: 10_000 })
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      ...['aq-1', 'aq-2', 'aq-3', 'aq-4', 'aq-5', 'aq-6'].map((id) => ({ id, domain: 'environment' })),
      { id: 'gw-1', kind: 'gateway' },
      { id: 'pump-1', domain: 'water', gateway: 'gw-1' },
    ],
    config: { console: { enabled: false } },
  })
  ;({ db, mqttPort, httpPort } = t)
})

afterAll(async () => {
  await t?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('a 10 KB message of 5,000 nested arrays', () => {
  test.each([
    ['bare, QoS 0', DEEP, 0, 'reading_not_object'],
    ['bare, QoS 1', DEEP, 1, 'reading_not_object'],
    ['in a readings array, QoS 1', `[${DEEP}]`, 1, 'reading_not_object'],
    ['as a value, QoS 1', `{"values":{"pm25":${DEEP}}}`, 1, 'value_invalid'],
  ] as const)('%s is dead-lettered and the service keeps storing (mosquitto_pub)', async (_name, body, qos, reason) => {
    const file = join(dir, 'nest.json')
    writeFileSync(file, body)
    const before = await count(`SELECT count(*) AS n FROM rejected WHERE device_id = 'aq-1' AND reason = $1`, [reason])
    await mosquittoPub('aq-1', 'environment', file, qos)
    await waitFor(async () => (await count(`SELECT count(*) AS n FROM rejected WHERE device_id = 'aq-1' AND reason = $1`, [reason])) === before + 1, 10_000, 'the dead letter')
    const good = join(dir, 'good.json')
    const ts = Date.now() - Math.floor(Math.random() * 1e9)
    writeFileSync(good, JSON.stringify({ ts, values: { pm25: 7 } }))
    await mosquittoPub('aq-1', 'environment', good, 1)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-1' AND time = $1`, [new Date(ts)])).toBe(1)
  })

  test('in a gateway batch, and on the status and replies topics', async () => {
    const gw = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'gw-1', password: PASSWORD, reconnectPeriod: 0 })
    await gw.publishAsync('gateways/gw-1/telemetry', `{"readings":[${DEEP},{"device":"pump-1","domain":"water","ts":${Date.now()},"values":{"pressure":3}}]}`, { qos: 1 })
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'pump-1'`)).toBe(1)
    await gw.endAsync()
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-2', password: PASSWORD, reconnectPeriod: 0 })
    // Status messages may have 1,024 bytes and replies 4,096: nested as deep as fits, and the full 10 KB too.
    const nest = (levels: number) => '['.repeat(levels) + ']'.repeat(levels)
    await device.publishAsync('status/environment/aq-2', `{"state":${nest(490)}}`, { qos: 1 })
    await device.publishAsync('status/environment/aq-2', `{"state":"online","ts":${nest(480)}}`, { qos: 1 })
    await device.publishAsync('status/environment/aq-2', `{"state":${DEEP}}`, { qos: 1 })
    await device.publishAsync('replies/environment/aq-2', `{"id":${nest(2000)},"status":"ok"}`, { qos: 1 })
    await device.publishAsync('replies/environment/aq-2', nest(2040), { qos: 1 })
    await device.publishAsync('replies/environment/aq-2', DEEP, { qos: 1 })
    const { rows } = await db.pool.query(`SELECT reason FROM rejected WHERE device_id = 'aq-2' OR topic LIKE '%/aq-2' ORDER BY id`)
    expect(rows.map((r) => r.reason)).toEqual(['status_invalid', 'ts_invalid', 'payload_too_large', 'reply_invalid', 'reply_invalid', 'reply_invalid'])
    await device.publishAsync('telemetry/environment/aq-2', JSON.stringify({ values: { pm25: 1 } }), { qos: 1 })
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2'`)).toBe(1)
    await device.endAsync()
  })

  test('resent by a persistent session across a restart, it is refused once and the backlog behind it is stored', async () => {
    const clientId = 'aq-3-persistent'
    const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-3', password: PASSWORD, clientId, clean: false, reconnectPeriod: 200, protocolVersion: 4 })
    client.on('error', () => undefined)
    await new Promise<void>((resolve) => client.once('connect', () => resolve()))
    // The service stops; the client queues the poison message and a good one, and resends both when it is back.
    let acked: Promise<unknown>[] = []
    // The kit starts the new service on the same MQTT port.
    await t.restart({}, async () => {
      acked = [
        client.publishAsync('telemetry/environment/aq-3', DEEP, { qos: 1 }),
        client.publishAsync('telemetry/environment/aq-3', JSON.stringify({ ts: Date.parse('2026-12-01T00:00:00Z'), values: { pm25: 3 } }), { qos: 1 }),
      ]
    })
    ;({ httpPort } = t)
    await Promise.all(acked)
    expect(await count(`SELECT count(*) AS n FROM rejected WHERE device_id = 'aq-3' AND reason = 'reading_not_object'`)).toBe(1)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-3'`)).toBe(1)
    await client.endAsync(true)
  })
})

describe('readings without ts', () => {
  test('1,000 in one TCP write are 1,000 rows, each acknowledged after its commit', async () => {
    const socket = tcpConnect(mqttPort, '127.0.0.1')
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    const acks: number[] = []
    let connack = -1
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') connack = p.returnCode ?? -1
      if (p.cmd === 'puback') acks.push(p.messageId!)
    })
    socket.on('data', (b) => parser.parse(b))
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'aq-4-burst', keepalive: 60, username: 'aq-4', password: Buffer.from(PASSWORD) }))
    await waitFor(() => connack === 0, 5_000, 'CONNACK')
    const packets = Array.from({ length: 1000 }, (_, i) => mqttPacket.generate({
      cmd: 'publish', topic: 'telemetry/environment/aq-4', payload: Buffer.from(JSON.stringify({ values: { pm25: i } })), qos: 1, messageId: i + 1, retain: false, dup: false,
    }))
    socket.write(Buffer.concat(packets))
    await waitFor(() => acks.length === 1000, 20_000, '1,000 PUBACKs')
    socket.destroy()
    expect(acks).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-4'`)).toBe(1000)
    expect(await count(`SELECT count(DISTINCT time) AS n FROM telemetry WHERE device_id = 'aq-4'`)).toBe(1000)
    expect(await count(`SELECT count(DISTINCT value) AS n FROM telemetry WHERE device_id = 'aq-4' AND flags & 1 = 1`)).toBe(1000)
  })

  test('acknowledged equals stored for a 500 msg/s QoS 1 stream (mqtt.js)', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-5', password: PASSWORD, reconnectPeriod: 0 })
    const sends: Promise<unknown>[] = []
    for (let i = 0; i < 1000; i++) {
      sends.push(client.publishAsync('telemetry/environment/aq-5', JSON.stringify({ values: { pm25: i } }), { qos: 1 }))
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await Promise.all(sends)
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-5'`)).toBe(1000)
    await client.endAsync()
  })
})

describe('the same ts twice', () => {
  test('the same reading again is a duplicate; another value at that ts is refused as ts_conflict, never dropped silently', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-6', password: PASSWORD, reconnectPeriod: 0 })
    const ts = '2026-11-30T10:00:00.000Z'
    const duplicatesBefore = await metric('gridline_ingest_rows_duplicate_total')
    await client.publishAsync('telemetry/environment/aq-6', JSON.stringify({ ts, values: { pm25: 35, pm10: 50 } }), { qos: 1 })
    await client.publishAsync('telemetry/environment/aq-6', JSON.stringify({ ts, values: { pm25: 35, pm10: 50 } }), { qos: 1 })
    await client.publishAsync('telemetry/environment/aq-6', JSON.stringify({ ts, values: { pm25: 36, pm10: 50 } }), { qos: 1 })
    // Two readings with one ts in one message: the second conflicts with the first.
    await client.publishAsync('telemetry/environment/aq-6', JSON.stringify([{ ts: '2026-11-30T11:00:00Z', values: { pm25: 1 } }, { ts: '2026-11-30T11:00:00Z', values: { pm25: 2 } }]), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT metric, value FROM telemetry WHERE device_id = 'aq-6' ORDER BY time, metric`)
    expect(rows).toEqual([{ metric: 'pm10', value: 50 }, { metric: 'pm25', value: 35 }, { metric: 'pm25', value: 1 }])
    const rejected = await db.pool.query(`SELECT reason, detail FROM rejected WHERE device_id = 'aq-6' ORDER BY id`)
    expect(rejected.rows.map((r) => r.reason)).toEqual(['ts_conflict', 'ts_conflict'])
    expect(rejected.rows[0].detail).toContain('pm25 at 2026-11-30T10:00:00.000Z: 36 refused, 35 is stored')
    expect(await metric('gridline_ingest_rows_duplicate_total') - duplicatesBefore).toBe(3)
    expect(await metric('gridline_ingest_rejected_total{reason="ts_conflict"}')).toBe(2)
    await client.endAsync()
  })
})

describe('dead letters stay in proportion', () => {
  test('one message of 10,000 bad values is one rejected row, counted by reason', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-2', password: PASSWORD, reconnectPeriod: 0 })
    const values = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`Bad${i}`, i]))
    const readings = Array.from({ length: 50 }, (_, i) => ({ ts: Date.parse('2026-11-29T00:00:00Z') + i, values: { ...values, pm25: i } }))
    const before = await metric('gridline_ingest_rejected_total{reason="metric_name_invalid"}')
    await client.publishAsync('telemetry/environment/aq-2', JSON.stringify(readings), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT reason, detail, payload_bytes FROM rejected WHERE device_id = 'aq-2' AND reason = 'metric_name_invalid'`)
    expect(rows).toHaveLength(1)
    expect(rows[0].detail).toMatch(/^10000 refusals in this message \(metric_name_invalid x10000\)/)
    expect(await metric('gridline_ingest_rejected_total{reason="metric_name_invalid"}') - before).toBe(10_000)
    // The good value of every reading is stored.
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time >= '2026-11-29' AND time < '2026-11-30'`)).toBe(50)
    await client.endAsync()
  })

  test('a metric typo is refused as metric_unknown and its reading\'s other values stored', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-2', password: PASSWORD, reconnectPeriod: 0 })
    await client.publishAsync('telemetry/environment/aq-2', JSON.stringify({ ts: '2026-11-29T05:00:00Z', values: { pm2_5: 12, pm10: 20 } }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT detail FROM rejected WHERE device_id = 'aq-2' AND reason = 'metric_unknown'`)
    expect(rows).toHaveLength(1)
    expect(rows[0].detail).toContain('"pm2_5" is not in the catalogue')
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'aq-2' AND time = '2026-11-29T05:00:00Z'`)).toBe(1)
    await client.endAsync()
  })

  test('past its budget a device\'s refusals are counted, not kept one by one, and its next kept row says so', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'aq-5', password: PASSWORD, reconnectPeriod: 0 })
    const before = await count(`SELECT count(*) AS n FROM rejected WHERE device_id = 'aq-5'`)
    // The default budget: bursts of 100, then 5 a second.
    await Promise.all(Array.from({ length: 300 }, () => client.publishAsync('telemetry/environment/aq-5', '{"values":{"pm25":"high"}}', { qos: 1 })))
    const kept = await count(`SELECT count(*) AS n FROM rejected WHERE device_id = 'aq-5'`) - before
    expect(kept).toBeGreaterThanOrEqual(100)
    expect(kept).toBeLessThan(150)
    expect(await metric('gridline_ingest_rejected_messages_unkept_total')).toBe(300 - kept)
    await new Promise((resolve) => setTimeout(resolve, 400))
    await client.publishAsync('telemetry/environment/aq-5', '{"values":{"pm25":"high"}}', { qos: 1 })
    const { rows } = await db.pool.query(`SELECT detail FROM rejected WHERE device_id = 'aq-5' ORDER BY id DESC LIMIT 1`)
    expect(rows[0].detail).toMatch(/\(\d+ earlier rejected messages from this sender were counted but not kept/)
    await client.endAsync()
  })
})

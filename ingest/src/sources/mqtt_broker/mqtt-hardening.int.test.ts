import { execFile as execFileCb } from 'node:child_process'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../../test/support.ts'
import type { IngestService } from '../../app.ts'
import { RawConnection, connectPacket, publishPacket, remainingLength, subscribePacket, tryConnect } from './raw-mqtt.ts'

// The embedded broker under hostile and careless clients, against the real
// app (issue 11 items 3, 4, 6 and 10): client ids bound to logins, password
// guessing throttled, unauthenticated connections bounded, and the MQTT
// 3.1.1 rules aedes and mqtt-packet let through. Each test uses its own
// devices and loopback source addresses (127.0.0.0/8 is all local), so the
// throttle's counts of one test do not reach another.

const execFile = promisify(execFileCb)
const PASSWORD = TEST_PASSWORD
const WRONG = 'wrong horse battery staple'

let t: TestService
let db: TestDatabase
let service: IngestService
let port: number
let url: string
let httpBase: string
const clients: MqttClient[] = []

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${httpBase}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line ? Number(line.split(' ').pop()) : 0
}

function connect(username: string, clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username, password: PASSWORD, clientId, reconnectPeriod: 0, protocolVersion: 4, ...extra }).then((client) => {
    clients.push(client)
    return client
  })
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      ...['aq-1', 'aq-2', 'aq-3', 'aq-4', 'aq-5'].map((id) => ({ id, domain: 'environment' })),
      ...['lamp-2', 'lamp-3'].map((id) => ({ id, domain: 'lighting' })),
    ],
    config: {
      mqtt: { connectTimeoutMs: 500, maxPendingConnectionsPerAddress: 5 },
      commands: { timeoutMs: 20_000 },
    },
  })
  ;({ db, service, mqttPort: port, mqttUrl: url, httpUrl: httpBase } = t)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
})

describe('client ids belong to the login that made the session', () => {
  test('another login cannot take over a connected or a persistent session; the queued command still reaches its device', async () => {
    const lamp = await connect('lamp-2', 'lamp-2', { clean: false })
    await lamp.subscribeAsync('commands/lighting/lamp-2', { qos: 1 })
    let lampClosed = false
    lamp.on('close', () => { lampClosed = true })

    // aq-1 with lamp-2's client id while lamp-2 is connected: CONNACK 2, lamp-2 stays.
    const inUse = await metric('gridline_ingest_client_id_rejected_total', '{reason="in_use"}')
    await expect(connect('aq-1', 'lamp-2', { clean: false })).rejects.toMatchObject({ code: 2 })
    expect(await metric('gridline_ingest_client_id_rejected_total', '{reason="in_use"}')).toBe(inUse + 1)
    await lamp.publishAsync('status/lighting/lamp-2', JSON.stringify({ state: 'online' }), { qos: 1 })
    expect(lampClosed).toBe(false)

    // lamp-2 goes away and leaves its persistent session; a command is queued in it.
    await lamp.endAsync()
    const sent = await service.commands.send({ deviceId: 'lamp-2', action: 'dim', params: { level: 40 } }, 'alice')
    const held = await metric('gridline_ingest_client_id_rejected_total', '{reason="session_held"}')
    await expect(connect('aq-1', 'lamp-2', { clean: false })).rejects.toMatchObject({ code: 2 })
    expect(await metric('gridline_ingest_client_id_rejected_total', '{reason="session_held"}')).toBe(held + 1)

    // lamp-2 comes back to its session and gets the command it missed.
    const back = mqtt.connect(url, { username: 'lamp-2', password: PASSWORD, clientId: 'lamp-2', clean: false, reconnectPeriod: 0, protocolVersion: 4 })
    clients.push(back)
    const command = await new Promise<{ id: string }>((resolve) => back.on('message', (_t, payload) => resolve(JSON.parse(payload.toString()))))
    expect(command.id).toBe(sent.id)
    back.publish('replies/lighting/lamp-2', JSON.stringify({ id: sent.id, status: 'ok', detail: 'Dimmed.' }), { qos: 1 })
    expect((await service.commands.waitForResult(sent.id)).status).toBe('ok')
    await back.endAsync()
  })

  test('the same login may take its own client id over [MQTT-3.1.4-2]', async () => {
    const first = await connect('lamp-3', 'lamp-3')
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    const second = await connect('lamp-3', 'lamp-3')
    await closed
    await second.publishAsync('status/lighting/lamp-3', JSON.stringify({ state: 'online' }), { qos: 1 })
    expect(second.connected).toBe(true)
  })

  test('mosquitto_pub with its default random client id keeps working', async () => {
    const reading = JSON.stringify({ ts: Date.parse('2026-11-28T00:00:00Z'), seq: 1, values: { pm25: 3 } })
    await execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'aq-2', '-P', PASSWORD, '-q', '1', '-t', 'telemetry/environment/aq-2', '-m', reading])
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'aq-2' AND seq = 1`)
    expect(rows[0].n).toBe(1)
  })
})

describe('password guessing is throttled', () => {
  test('after 5 failures from one address the next attempt is refused unchecked; the right password works from elsewhere meanwhile and from there after the delay', async () => {
    // aq-3 has not connected yet; ghost-1 is not registered: both are throttled alike.
    for (const id of ['aq-3', 'ghost-1']) {
      const before = await metric('gridline_ingest_auth_throttled_total', '{scope="device_address"}')
      for (let i = 0; i < 6; i++) expect(await tryConnect(port, { username: id, password: WRONG }, '127.0.1.1')).toBe(4)
      expect(await tryConnect(port, { username: id, password: WRONG }, '127.0.1.1')).toBe(3)
      expect(await metric('gridline_ingest_auth_throttled_total', '{scope="device_address"}')).toBe(before + 1)
    }
    // Throttled from 127.0.1.1 even with the right password; not from another address.
    expect(await tryConnect(port, { username: 'aq-3', password: PASSWORD }, '127.0.1.1')).toBe(3)
    expect(await tryConnect(port, { username: 'aq-3', password: PASSWORD }, '127.0.1.2')).toBe(0)
    // The sixth failure blocked for 1 s: once the attacker stops, the right password works again.
    await new Promise((r) => setTimeout(r, 1_100))
    expect(await tryConnect(port, { username: 'aq-3', password: PASSWORD }, '127.0.1.1')).toBe(0)
  })

  test('a flood of one id from many addresses throttles new addresses, never the device\'s own', async () => {
    expect(await tryConnect(port, { username: 'aq-4', password: PASSWORD }, '127.0.2.1')).toBe(0)
    for (let i = 1; i <= 21; i++) expect(await tryConnect(port, { username: 'aq-4', password: WRONG }, `127.0.3.${i}`)).toBe(4)
    const before = await metric('gridline_ingest_auth_throttled_total', '{scope="device"}')
    expect(await tryConnect(port, { username: 'aq-4', password: PASSWORD }, '127.0.3.100')).toBe(3)
    expect(await metric('gridline_ingest_auth_throttled_total', '{scope="device"}')).toBe(before + 1)
    // The address aq-4 logged in from before is exempt from the per-device count.
    expect(await tryConnect(port, { username: 'aq-4', password: PASSWORD }, '127.0.2.1')).toBe(0)
  })

  test('spraying ids from one address throttles that address, not the devices that logged in from it', async () => {
    expect(await tryConnect(port, { username: 'aq-5', password: PASSWORD }, '127.0.4.1')).toBe(0)
    for (let i = 1; i <= 21; i++) expect(await tryConnect(port, { username: `spray-${i}`, password: WRONG }, '127.0.4.1')).toBe(4)
    const before = await metric('gridline_ingest_auth_throttled_total', '{scope="address"}')
    expect(await tryConnect(port, { username: 'spray-99', password: WRONG }, '127.0.4.1')).toBe(3)
    expect(await metric('gridline_ingest_auth_throttled_total', '{scope="address"}')).toBe(before + 1)
    expect(await tryConnect(port, { username: 'aq-5', password: PASSWORD }, '127.0.4.1')).toBe(0)
  })
})

describe('connections that have not logged in are bounded', () => {
  test('a CONNECT announcing 1 MB is refused before it is buffered', async () => {
    const before = await metric('gridline_ingest_connections_closed_total', '{reason="connect_too_large"}')
    const conn = new RawConnection(port, '127.0.5.1')
    await conn.write(Buffer.concat([Buffer.from([0x10]), remainingLength(1_048_576), Buffer.alloc(1024)]))
    await conn.whenClosed()
    expect(conn.received.length).toBe(0)
    expect(await metric('gridline_ingest_connections_closed_total', '{reason="connect_too_large"}')).toBe(before + 1)
  })

  test('a connection that sends no CONNECT is closed after mqtt.connectTimeoutMs', async () => {
    const before = await metric('gridline_ingest_connections_closed_total', '{reason="connect_timeout"}')
    const conn = new RawConnection(port, '127.0.5.2')
    await conn.write(Buffer.from([0x10, 0x20])) // a CONNECT header, then nothing
    await conn.whenClosed()
    expect(await metric('gridline_ingest_connections_closed_total', '{reason="connect_timeout"}')).toBe(before + 1)
  })

  test('past mqtt.maxPendingConnectionsPerAddress a new connection from that address is closed at once', async () => {
    const before = await metric('gridline_ingest_connections_closed_total', '{reason="too_many_pending"}')
    const pending = Array.from({ length: 5 }, () => new RawConnection(port, '127.0.5.3'))
    await Promise.all(pending.map((c) => c.write(Buffer.from([0x10]))))
    const sixth = new RawConnection(port, '127.0.5.3')
    await sixth.whenClosed()
    expect(await metric('gridline_ingest_connections_closed_total', '{reason="too_many_pending"}')).toBe(before + 1)
    // Another address is not affected, and a logged-in connection no longer counts.
    expect(await tryConnect(port, { username: 'aq-1', password: PASSWORD }, '127.0.5.4')).toBe(0)
    expect(pending.some((c) => c.closed)).toBe(false)
    pending.forEach((c) => c.close())
    await Promise.all(pending.map((c) => c.whenClosed()))
    await waitFor(async () => (await tryConnect(port, { username: 'aq-1', password: PASSWORD }, '127.0.5.3')) === 0, 5_000, 'the address to be admitted again')
  })
})

describe('MQTT 3.1.1 rules aedes and mqtt-packet let through', () => {
  const login = { username: 'aq-1', password: PASSWORD }
  test.each([
    { name: 'zero-length client id, clean session off [MQTT-3.1.3-8]', fields: { ...login, clientId: '', clean: false }, connack: 2, reason: null },
    { name: 'zero-length client id, clean session on [MQTT-3.1.3-6]', fields: { ...login, clientId: '', clean: true }, connack: 0, reason: null },
    { name: 'MQIsdp with level 4 [MQTT-3.1.2-1]', fields: { ...login, protocol: 'MQIsdp', level: 4 }, connack: null, reason: 'protocol_name' },
    { name: 'MQTT with level 3 [MQTT-3.1.2-1]', fields: { ...login, protocol: 'MQTT', level: 3 }, connack: null, reason: 'protocol_name' },
    { name: 'MQIsdp with level 3 (MQTT 3.1) is accepted', fields: { ...login, protocol: 'MQIsdp', level: 3, clientId: 'mqtt31' }, connack: 0, reason: null },
    { name: 'will QoS 3 [MQTT-3.1.2-14]', fields: { ...login, will: { topic: 'status/environment/aq-1', payload: '{"state":"offline"}', qos: 3 } }, connack: null, reason: 'will_qos' },
    { name: 'invalid UTF-8 client id [MQTT-1.5.3-1]', fields: { ...login, clientId: Buffer.from([0x61, 0xc3, 0x28]) }, connack: null, reason: 'utf8_invalid' },
    { name: 'U+0000 in the client id [MQTT-1.5.3-2]', fields: { ...login, clientId: 'a\u0000b' }, connack: null, reason: 'utf8_invalid' },
    { name: 'invalid UTF-8 username [MQTT-1.5.3-1]', fields: { ...login, username: Buffer.from([0x61, 0x71, 0xff]) }, connack: null, reason: 'utf8_invalid' },
  ])('$name', async ({ fields, connack, reason }) => {
    const before = reason ? await metric('gridline_ingest_connections_closed_total', `{reason="${reason}"}`) : 0
    expect(await tryConnect(port, fields)).toBe(connack)
    if (reason) expect(await metric('gridline_ingest_connections_closed_total', `{reason="${reason}"}`)).toBe(before + 1)
  })

  test.each([
    { name: 'QoS 1 PUBLISH with packet id 0 [MQTT-2.3.1-1]', packet: publishPacket('telemetry/environment/aq-1', '{"values":{"pm25":1}}', 1, 0), closes: true },
    { name: 'SUBSCRIBE with packet id 0 [MQTT-2.3.1-1]', packet: subscribePacket('commands/environment/aq-1', 0), closes: true },
    { name: 'QoS 1 PUBLISH with packet id 1 is acknowledged', packet: publishPacket('telemetry/environment/aq-1', '{"values":{"pm25":1}}', 1, 1), closes: false },
  ])('$name', async ({ packet, closes }) => {
    const before = await metric('gridline_ingest_connections_closed_total', '{reason="packet_id_zero"}')
    const conn = new RawConnection(port)
    await conn.write(connectPacket(login))
    expect(await conn.connack()).toBe(0)
    await conn.write(packet)
    if (closes) {
      await conn.whenClosed()
      expect(conn.received.length).toBe(4) // the CONNACK, nothing after it
      expect(await metric('gridline_ingest_connections_closed_total', '{reason="packet_id_zero"}')).toBe(before + 1)
    } else {
      await waitFor(() => conn.received.length >= 8, 5_000, 'the PUBACK')
      expect([...conn.received.subarray(4, 8)]).toEqual([0x40, 0x02, 0x00, 0x01])
      conn.close()
    }
  })
})

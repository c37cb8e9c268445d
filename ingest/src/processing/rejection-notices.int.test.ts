import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_FLEET, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'

const run = promisify(execFile)
const PASSWORD = TEST_PASSWORD
let t: TestService
let db: TestDatabase
let port: number
const clients: MqttClient[] = []

async function connect(username: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password: PASSWORD, clientId: `${username}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 4 })
  clients.push(client)
  return client
}

/** Resolves with the next message on `topic`. */
function nextMessage(client: MqttClient, topic: string): Promise<{ payload: Record<string, unknown>; qos: number; retain: boolean }> {
  return new Promise((resolve) => {
    const onMessage = (t: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
      if (t !== topic) return
      client.off('message', onMessage)
      resolve({ payload: JSON.parse(payload.toString('utf8')), qos: packet.qos, retain: packet.retain })
    }
    client.on('message', onMessage)
  })
}

beforeAll(async () => {
  t = await startTestService({
    devices: TEST_FLEET,
  })
  ;({ db, mqttPort: port } = t)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
})

test('a device subscribed to its rejections topic hears why its message was refused, after the refusal is stored', async () => {
  const aq1 = await connect('aq-1')
  const granted = await aq1.subscribeAsync('rejections/environment/aq-1', { qos: 1 })
  expect(granted.map((g) => g.qos)).toEqual([1])
  const notice = nextMessage(aq1, 'rejections/environment/aq-1')
  await aq1.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { pm25: 'twelve' } }), { qos: 1 })
  const { payload, qos, retain } = await notice
  expect({ qos, retain }).toEqual({ qos: 1, retain: false })
  expect(payload).toMatchObject({ reason: 'value_invalid', topic: 'telemetry/environment/aq-1', rejections: 1 })
  expect(typeof payload.detail).toBe('string')
  expect(Date.parse(payload.receivedAt as string)).toBeGreaterThan(Date.now() - 60_000)
  const { rows } = await db.pool.query(`SELECT reason FROM rejected WHERE device_id = 'aq-1'`)
  expect(rows.map((r) => r.reason)).toContain('value_invalid')
})

test('a device may not subscribe to another device\'s rejections, nor to a wildcard over them', async () => {
  const aq2 = await connect('aq-2')
  const heard: string[] = []
  aq2.on('message', (topic) => heard.push(topic))
  for (const topic of ['rejections/environment/aq-1', 'rejections/#', 'rejections/environment/+', '#']) {
    // SUBACK 0x80 [MQTT-3.9.3]; mqtt.js rejects the promise with it.
    await expect(aq2.subscribeAsync(topic, { qos: 1 }), topic).rejects.toThrow(/Subscribe error/)
  }
  const aq1 = await connect('aq-1')
  await aq1.subscribeAsync('rejections/environment/aq-1', { qos: 1 })
  const notice = nextMessage(aq1, 'rejections/environment/aq-1')
  await aq1.publishAsync('telemetry/environment/aq-1', 'not json', { qos: 1 })
  expect((await notice).payload).toMatchObject({ reason: 'json_malformed' })
  // aq-1's notice was delivered; aq-2, on the same broker, heard nothing.
  await aq2.publishAsync('telemetry/environment/aq-2', JSON.stringify({ ts: Date.now(), values: { pm25: 1 } }), { qos: 1 })
  expect(heard).toEqual([])
})

test('mosquitto_sub, as a device, receives the notice for its publish to another device\'s topic', async () => {
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'aq-2', '-P', PASSWORD, '-q', '1', '-t', 'rejections/environment/aq-2', '-C', '1', '-W', '20'])
  // mosquitto_sub prints nothing until its SUBACK: publish until the notice arrives.
  const aq2 = await connect('aq-2')
  let received = false
  sub.then(() => { received = true }, () => { received = true })
  for (let i = 0; i < 100 && !received; i++) {
    await aq2.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { pm25: 1 } }), { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const { stdout } = await sub
  expect(JSON.parse(stdout)).toMatchObject({ reason: 'topic_not_authorized', topic: 'telemetry/environment/aq-1' })
})

test('a gateway hears of the refused readings it forwarded on gateways/{id}/rejections', async () => {
  const gw = await connect('gw-1')
  expect((await gw.subscribeAsync('gateways/gw-1/rejections', { qos: 1 })).map((g) => g.qos)).toEqual([1])
  const notice = nextMessage(gw, 'gateways/gw-1/rejections')
  await gw.publishAsync('gateways/gw-1/telemetry', JSON.stringify({ readings: [
    { device: 'pump-1', domain: 'water', ts: Date.now(), values: { pressure: 3.1 } },
    { device: 'aq-2', domain: 'environment', ts: Date.now(), values: { pm25: 1 } },
  ] }), { qos: 1 })
  expect((await notice).payload).toMatchObject({ reason: 'device_not_behind_gateway', topic: 'gateways/gw-1/telemetry', rejections: 1 })
})

import { randomBytes, randomUUID } from 'node:crypto'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { until } from '../../../../test/support.ts'
import { type TestService, startTestService } from '../../testing/index.ts'
import { mosquittoPub } from './test-helpers.ts'

// ChirpStack v4 through its MQTT integration on the machine's Mosquitto
// (127.0.0.1:1883): an mqtt.js client plays ChirpStack (it takes the
// DownlinkCommands gridline publishes on .../command/down and answers with
// txack and ack events), mosquitto_pub the devices' status events. Topics,
// application ids and client ids are unique per run.

const RUN = `cs${randomBytes(4).toString('hex')}`
const APP = randomUUID()
const APP_META = randomUUID()
const hex = () => randomBytes(8).toString('hex')
const LAMP = { id: `lamp-${RUN}`, eui: hex() }
const LAMP_META = { id: `lampm-${RUN}`, eui: hex() }
const LAMP_UNSEEN = { id: `lampu-${RUN}`, eui: hex() }
const METER = { id: `wm-${RUN}`, eui: hex() }
const PLAIN = `lampg-${RUN}`
let t: TestService
let chirpstack: mqtt.MqttClient
const downs: { topic: string; body: Record<string, unknown> }[] = []

const event = (eui: string, type: string, body: Record<string, unknown>, app = APP) =>
  mosquittoPub(['-h', '127.0.0.1', '-p', '1883', '-i', `${RUN}-pub-${randomBytes(2).toString('hex')}`], `application/${app}/device/${eui}/event/${type}`, [JSON.stringify(body)])

/** The DownlinkCommand ChirpStack got for command `id`. */
const downFor = (id: string) => until(async () => downs.find((d) => d.body.id === id), (d) => d !== undefined, 5_000)

async function power(deviceId: string) {
  const { rows } = await t.db.pool.query('SELECT state, battery_percent, external_power, margin_db FROM device_status WHERE device_id = $1', [deviceId])
  return rows[0] as { state: string; battery_percent: number | null; external_power: boolean; margin_db: number } | undefined
}

async function rejected(reason: string) {
  const { rows } = await t.db.pool.query<{ topic: string; detail: string; device_id: string | null }>('SELECT topic, detail, device_id FROM rejected WHERE reason = $1 ORDER BY id', [reason])
  return rows
}

const send = (deviceId: string, action: string, params: Record<string, unknown>) => t.service.commands.send({ deviceId, action, params }, 'tests')

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: LAMP.id, domain: 'lighting', metadata: { devEui: LAMP.eui.toUpperCase() } },
      { id: LAMP_META.id, domain: 'lighting', metadata: { devEui: LAMP_META.eui, chirpstackApplicationId: APP_META } },
      { id: LAMP_UNSEEN.id, domain: 'lighting', metadata: { devEui: LAMP_UNSEEN.eui } },
      { id: METER.id, domain: 'water', metadata: { devEui: METER.eui } },
      { id: PLAIN, domain: 'lighting' },
    ],
    users: [{ name: 'vic', role: 'viewer' }],
    config: {
      commands: { timeoutMs: 20_000 },
      sources: {
        lns: {
          type: 'mqtt_client',
          url: 'mqtt://127.0.0.1:1883',
          protocolVersion: 5,
          clientId: RUN,
          sessionExpirySeconds: 60,
          subscriptions: [{
            filter: `application/${APP}/device/+/event/+`,
            decoder: 'chirpstack',
            chirpstack: { downlinks: { 'lighting.dim': { fPort: 10, confirmed: true }, 'lighting.switch': { fPort: 11 } } },
          }],
        },
      },
      processors: { onSecondInstance: 'warn' },
    },
  })
  chirpstack = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-chirpstack`, clean: true, reconnectPeriod: 0 })
  chirpstack.on('message', (topic, payload) => downs.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }))
  await chirpstack.subscribeAsync([`application/${APP}/device/+/command/down`, `application/${APP_META}/device/+/command/down`], { qos: 1 })
}, 30_000)

afterAll(async () => {
  await chirpstack?.endAsync()
  await t?.stop()
  const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-0`, clean: true, protocolVersion: 5, reconnectPeriod: 0 })
  await c.endAsync()
})

describe('ChirpStack status events', () => {
  test('a status event sets the device online with its battery (%), external power and margin (dB); external power clears the battery', async () => {
    await event(METER.eui, 'status', { deduplicationId: randomUUID(), time: new Date(Date.now() - 1_000).toISOString(), deviceInfo: { applicationId: APP, devEui: METER.eui }, margin: 7, batteryLevel: 88.58 })
    expect(await until(() => power(METER.id), (p) => p !== undefined)).toEqual({ state: 'online', battery_percent: 88.58, external_power: false, margin_db: 7 })
    await event(METER.eui, 'status', { deduplicationId: randomUUID(), time: new Date().toISOString(), deviceInfo: { devEui: METER.eui }, margin: -2, externalPowerSource: true })
    expect(await until(() => power(METER.id), (p) => p?.margin_db === -2)).toEqual({ state: 'online', battery_percent: null, external_power: true, margin_db: -2 })
  })

  test('the console\'s device API shows the battery and margin', async () => {
    const cookie = await t.login('vic')
    const view = await until(async () => {
      const res = await fetch(`${t.httpUrl}/api/devices?q=${METER.id}`, { headers: { cookie } })
      return ((await res.json()) as { devices: { id: string; power?: unknown }[] }).devices.find((d) => d.id === METER.id)
    }, (d) => d?.power !== undefined, 12_000)
    expect(view?.power).toEqual({ batteryPercent: null, externalPower: true, marginDb: -2, time: expect.any(Number) })
  })

  test('a status event with a wrong type, or for a DevEUI no device has, is dead-lettered with its reason', async () => {
    const ghost = hex()
    await event(METER.eui, 'status', { deviceInfo: { devEui: METER.eui }, margin: 'good', batteryLevel: 50 })
    await event(ghost, 'status', { deviceInfo: { devEui: ghost }, margin: 3, batteryLevel: 50 })
    const bad = await until(() => rejected('status_invalid'), (r) => r.length >= 1)
    expect(bad).toEqual([{ topic: `application/${APP}/device/${METER.eui}/event/status`, detail: expect.stringContaining('margin is the string "good"'), device_id: METER.id }])
    const unknown = await until(() => rejected('device_unknown'), (r) => r.some((x) => x.topic.includes(ghost)))
    expect(unknown.map((r) => r.topic)).toContain(`application/${APP}/device/${ghost}/event/status`)
    expect((await power(METER.id))?.margin_db).toBe(-2)
  })
})

describe('ChirpStack downlinks', () => {
  beforeAll(async () => {
    // The lamp's first event teaches the source its application.
    await event(LAMP.eui, 'status', { deviceInfo: { applicationId: APP, devEui: LAMP.eui }, margin: 5, batteryLevel: 70 })
    await until(() => power(LAMP.id), (p) => p !== undefined)
  })

  test('an unconfirmed downlink is a DownlinkCommand on command/down for the codec, ok once a gateway takes it (txack)', async () => {
    const command = await send(LAMP.id, 'switch', { on: true })
    const down = await downFor(command.id)
    expect(down).toEqual({ topic: `application/${APP}/device/${LAMP.eui}/command/down`, body: { id: command.id, devEui: LAMP.eui, confirmed: false, fPort: 11, object: { action: 'switch', on: true } } })
    await event(LAMP.eui, 'txack', { downlinkId: 4242, time: new Date().toISOString(), deviceInfo: { devEui: LAMP.eui }, queueItemId: command.id, fCntDown: 3, gatewayId: '0016c001ff10a235' })
    const result = await t.service.commands.waitForResult(command.id, 5_000)
    expect(result).toMatchObject({ status: 'ok', detail: expect.stringContaining('gateway 0016c001ff10a235') })
  })

  test('a confirmed downlink waits past the txack for the device\'s ack: acknowledged is ok, not acknowledged failed', async () => {
    const first = await send(LAMP.id, 'dim', { level: 40 })
    expect((await downFor(first.id))?.body).toMatchObject({ confirmed: true, fPort: 10, object: { action: 'dim', level: 40 } })
    await event(LAMP.eui, 'txack', { deviceInfo: { devEui: LAMP.eui }, queueItemId: first.id, gatewayId: '0016c001ff10a235' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(t.service.commands.pendingFor(LAMP.id).map((c) => c.id)).toContain(first.id)
    await event(LAMP.eui, 'ack', { deviceInfo: { devEui: LAMP.eui }, queueItemId: first.id, acknowledged: true, fCntDown: 4 })
    expect(await t.service.commands.waitForResult(first.id, 5_000)).toMatchObject({ status: 'ok', detail: expect.stringContaining('acknowledged') })

    const second = await send(LAMP.id, 'dim', { level: 10 })
    await downFor(second.id)
    // ChirpStack's json marshaler leaves out a false acknowledged.
    await event(LAMP.eui, 'ack', { deviceInfo: { devEui: LAMP.eui }, queueItemId: second.id, fCntDown: 5 })
    expect(await t.service.commands.waitForResult(second.id, 5_000)).toMatchObject({ status: 'failed', detail: expect.stringContaining('did not acknowledge') })
    expect(await until(async () => {
      const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
      return Number(text.split('\n').find((l) => l.startsWith('gridline_mqtt_client_events_total{component_id="lns",event="ack"}'))?.split(' ').pop() ?? 0)
    }, (n) => n >= 2)).toBe(2)
  })

  test('an action with no downlink mapping fails with the config key to set', async () => {
    const command = await send(LAMP.id, 'schedule', {})
    expect(command).toMatchObject({ status: 'failed', detail: expect.stringContaining('sources.lns.subscriptions[0].chirpstack.downlinks."lighting.schedule"') })
  })

  test('a device whose application the source has not seen goes by its chirpstackApplicationId metadata; with neither it fails', async () => {
    const byMeta = await send(LAMP_META.id, 'switch', { on: false })
    expect((await downFor(byMeta.id))?.topic).toBe(`application/${APP_META}/device/${LAMP_META.eui}/command/down`)
    const unseen = await send(LAMP_UNSEEN.id, 'switch', { on: false })
    expect(unseen).toMatchObject({ status: 'failed', detail: expect.stringMatching(/^chirpstack:lns: the ChirpStack application of DevEUI .* chirpstackApplicationId/) })
    expect(downs.some((d) => d.body.id === unseen.id)).toBe(false)
  })

  test('a device without a DevEUI still gets its commands on gridline\'s own commands topic', async () => {
    const device = await t.connect(PLAIN)
    const got: string[] = []
    device.on('message', (_topic, payload) => got.push(payload.toString()))
    await device.subscribeAsync(`commands/lighting/${PLAIN}`, { qos: 1 })
    const command = await send(PLAIN, 'switch', { on: true })
    expect(await until(async () => got, (g) => g.length >= 1, 5_000)).toHaveLength(1)
    expect(JSON.parse(got[0]!)).toMatchObject({ id: command.id, action: 'switch', params: { on: true } })
    expect(downs.some((d) => d.body.id === command.id)).toBe(false)
  })
})

import { randomBytes } from 'node:crypto'
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type EdgeNode, bornOnRequest, edgeNode, mqttOf, soon, storedBy } from '../../sparkplug/test-helpers.ts'
import { type TestService, startTestService } from '../../testing/index.ts'

// gridline as the Sparkplug B host application on another broker: the
// machine's Mosquitto (127.0.0.1:1883), with Eclipse Tahu's JavaScript edge
// node (npm sparkplug-client) on it and gridline's mqtt_client source
// subscribed to the group. Rebirth requests and the host's STATE go out
// through Mosquitto. Group, host id and client ids are unique per run.

const RUN = randomBytes(3).toString('hex')
const GROUP = `Water${RUN}`
const HOST = `gl-${RUN}`
const NODE = `ps-${RUN}`
const PLC = `plc-${RUN}`
const T0 = Date.now() - 60_000
let t: TestService
let node: EdgeNode | undefined
const { rows, status, rejected, metric } = storedBy(() => t)

/** The retained STATE Mosquitto holds for the host now (null: none). */
async function retainedState(): Promise<{ online: boolean; timestamp: number } | null> {
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-state-${randomBytes(2).toString('hex')}`, reconnectPeriod: 0 })
  try {
    const got = new Promise<{ online: boolean; timestamp: number } | null>((resolve) => {
      client.on('message', (_topic, payload) => resolve(payload.length === 0 ? null : JSON.parse(payload.toString())))
      setTimeout(() => resolve(null), 1_000)
    })
    await client.subscribeAsync(`spBv1.0/STATE/${HOST}`, { qos: 1 })
    return await got
  } finally {
    await client.endAsync()
  }
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: NODE, kind: 'gateway' },
      { id: PLC, domain: 'water', gateway: NODE, metadata: { sparkplugDevice: 'PLC1' } },
    ],
    config: {
      sources: {
        scada: {
          type: 'mqtt_client',
          url: 'mqtt://127.0.0.1:1883',
          clientId: RUN,
          subscriptions: [{ filter: `spBv1.0/${GROUP}/#`, decoder: 'sparkplug', sparkplug: { hostId: HOST, rebirthIntervalMs: 200, metrics: { 'Outputs/Pump Running': 'pump_on' }, commands: { 'water.pump': { metric: 'Outputs/Pump Running' } } } }],
        },
      },
    },
  })
}, 60_000)

afterAll(async () => {
  if (node) mqttOf(node).end(true)
  await t?.stop()
  // Mosquitto keeps retained messages: clear this run's STATE.
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { reconnectPeriod: 0 })
  await client.publishAsync(`spBv1.0/STATE/${HOST}`, '', { qos: 1, retain: true })
  await client.endAsync()
})

describe('Sparkplug B through the MQTT client source, on Mosquitto', () => {
  test('births, data by alias, the host STATE, a rebirth requested through the broker after gridline restarts, and the NDEATH will', async () => {
    expect(await retainedState()).toMatchObject({ online: true })
    let clock = T0
    node = await edgeNode('mqtt://127.0.0.1:1883', GROUP, NODE)
    bornOnRequest(node, 'PLC1', () => clock)
    await soon(() => status(PLC), (s) => s === 'online')
    expect(await status(NODE)).toBe('online')
    node.publishDeviceData('PLC1', { timestamp: T0 + 1_000, metrics: [{ alias: 1, type: 'Double', value: 121.75 }, { alias: 3, type: 'Boolean', value: false }] })
    expect(await soon(() => rows(PLC), (r) => r.length >= 5)).toEqual([
      { metric: 'discharge_pressure', value: 3.25, ts: T0 },
      { metric: 'flow', value: 120.5, ts: T0 },
      { metric: 'pump_on', value: 1, ts: T0 },
      { metric: 'flow', value: 121.75, ts: T0 + 1_000 },
      { metric: 'pump_on', value: 0, ts: T0 + 1_000 },
    ])
    expect(await metric('gridline_sparkplug_messages_total', 'component_id="scada",type="DBIRTH"')).toBe(1)

    // Stopped, gridline leaves its STATE offline on the broker; started again, online, and it knows no birth.
    let whileAway: unknown
    await t.restart({}, async () => { whileAway = await retainedState() })
    expect(whileAway).toMatchObject({ online: false })
    expect(await retainedState()).toMatchObject({ online: true })
    clock = T0 + 3_000 // the births that answer the rebirth request
    node.publishDeviceData('PLC1', { timestamp: T0 + 2_000, metrics: [{ alias: 1, type: 'Double', value: 7 }] })
    await soon(() => rejected('sparkplug_no_birth'), (r) => r.length >= 1)
    await soon(async () => (await rows(PLC)).some((r) => r.ts === T0 + 3_000), (v) => v)
    node.publishDeviceData('PLC1', { timestamp: T0 + 4_000, metrics: [{ alias: 2, type: 'Float', value: 4.5 }] })
    const after = await soon(() => rows(PLC), (r) => r.some((x) => x.ts === T0 + 4_000))
    expect(after.filter((r) => r.ts >= T0 + 2_000)).toEqual([
      { metric: 'discharge_pressure', value: 3.25, ts: T0 + 3_000 },
      { metric: 'flow', value: 120.5, ts: T0 + 3_000 },
      { metric: 'pump_on', value: 1, ts: T0 + 3_000 },
      { metric: 'discharge_pressure', value: 4.5, ts: T0 + 4_000 },
    ])
    expect(await metric('gridline_sparkplug_rebirth_requests_total', 'component_id="scada",reason="no_birth"')).toBe(1)

    // A device command becomes a DCMD through Mosquitto; the PLC reports the value and the command is ok.
    node.on('dcmd', (device: string, payload: UPayload) => {
      node!.publishDeviceData(device, { timestamp: T0 + 5_000, metrics: (payload.metrics ?? []).map((m) => ({ alias: Number(m.alias), type: 'Boolean', value: m.value })) })
    })
    const sent = await t.service.commands.send({ deviceId: PLC, action: 'pump', params: { running: false } }, 'operator')
    expect(await t.service.commands.waitForResult(sent.id)).toMatchObject({ status: 'ok', detail: 'The device reported Outputs/Pump Running = false.' })
    // The command settles when the host reads the DDATA; its rows are committed just after.
    expect((await soon(() => rows(PLC), (r) => r.some((x) => x.ts === T0 + 5_000))).filter((r) => r.ts === T0 + 5_000)).toEqual([{ metric: 'pump_on', value: 0, ts: T0 + 5_000 }])

    // The edge node's connection cut: Mosquitto publishes its NDEATH will, gridline sets it and its device offline.
    mqttOf(node).stream.destroy()
    await soon(() => status(NODE), (s) => s === 'offline')
    expect(await status(PLC)).toBe('offline')
  }, 60_000)
})

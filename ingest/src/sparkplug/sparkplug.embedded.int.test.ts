import { randomBytes } from 'node:crypto'
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TEST_PASSWORD, type TestService, startTestService } from '../testing/index.ts'
import { type EdgeNode, bornOnRequest, edgeNode as connectEdgeNode, mqttOf, nodeBirth, plcBirth, soon, storedBy } from './test-helpers.ts'

// gridline as the Sparkplug B host application on its embedded broker, proven
// with Eclipse Tahu's JavaScript edge node (npm sparkplug-client 3.2.4), which
// gridline did not write: births with aliases, data by alias, deaths (its
// NDEATH will and a DDEATH), a rebirth asked for by gridline after gridline
// restarted, and the rules an edge node is held to (only as itself, only for
// its own devices).

const RUN = randomBytes(3).toString('hex')
const NODE = `ps-${RUN}` // the edge node: a registered gateway
const OTHER_NODE = `ps2-${RUN}`
const PLC = `plc-${RUN}` // registered behind NODE, Sparkplug name "PLC1"
const FAR = `far-${RUN}` // registered behind OTHER_NODE
const CMD_NODE = `ps3-${RUN}` // the edge node of the command tests
const PUMP = `pump-${RUN}` // behind CMD_NODE, Sparkplug name "PUMP1": takes water.pump as a DCMD
const GROUP = 'Water'
const T0 = Date.now() - 60_000
let t: TestService
const nodes: EdgeNode[] = []
const { rows, status, rejected, metric } = storedBy(() => t)

/** An edge node logged in as `login` (the gateway), publishing as `edgeNodeId`. */
async function edgeNode(edgeNodeId: string, login = edgeNodeId): Promise<EdgeNode> {
  const node = await connectEdgeNode(t.mqttUrl, GROUP, edgeNodeId, { username: login, password: TEST_PASSWORD })
  nodes.push(node)
  return node
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: NODE, kind: 'gateway' },
      { id: OTHER_NODE, kind: 'gateway' },
      { id: PLC, domain: 'water', gateway: NODE, metadata: { sparkplugDevice: 'PLC1' } },
      { id: FAR, domain: 'water', gateway: OTHER_NODE },
      { id: CMD_NODE, kind: 'gateway' },
      { id: PUMP, domain: 'water', gateway: CMD_NODE, metadata: { sparkplugDevice: 'PUMP1' } },
    ],
    config: {
      sparkplug: { hostId: `gl-${RUN}`, metrics: { 'Outputs/Pump Running': 'pump_on' }, rebirthIntervalMs: 200, commands: { 'water.pump': { metric: 'Outputs/Pump Running' } } },
      commands: { timeoutMs: 3_000 },
    },
  })
}, 60_000)

afterAll(async () => {
  for (const n of nodes) mqttOf(n)?.end(true)
  await t?.stop()
})

describe('Sparkplug B host application on the embedded broker, with Tahu\'s edge node', () => {
  test('births define aliases, data by alias is stored under the registered device, statuses follow births and deaths', async () => {
    let clock = T0
    const node = await edgeNode(NODE)
    bornOnRequest(node, 'PLC1', () => clock)
    await soon(() => status(PLC), (s) => s === 'online')
    expect(await status(NODE)).toBe('online')
    // Data by alias only: no names, the datatypes as born.
    clock = T0 + 1_000
    node.publishDeviceData('PLC1', { timestamp: clock, metrics: [{ alias: 1, type: 'Double', value: 121.75 }, { alias: 2, type: 'Float', value: 3.5 }, { alias: 3, type: 'Boolean', value: false }] })
    const stored = await soon(() => rows(PLC), (r) => r.length >= 6)
    expect(stored).toEqual([
      { metric: 'discharge_pressure', value: 3.25, ts: T0 },
      { metric: 'flow', value: 120.5, ts: T0 },
      { metric: 'pump_on', value: 1, ts: T0 },
      { metric: 'discharge_pressure', value: 3.5, ts: T0 + 1_000 },
      { metric: 'flow', value: 121.75, ts: T0 + 1_000 },
      { metric: 'pump_on', value: 0, ts: T0 + 1_000 },
    ])
    // The string metric and the control metric were read and not stored, and counted.
    expect(await metric('gridline_sparkplug_metrics_skipped_total', 'component_id="mqtt",reason="datatype"')).toBeGreaterThanOrEqual(1)
    expect(await metric('gridline_sparkplug_messages_total', 'component_id="mqtt",type="DDATA"')).toBe(1)

    node.publishDeviceDeath('PLC1', { timestamp: clock })
    await soon(() => status(PLC), (s) => s === 'offline')
    clock = T0 + 3_000 // the births that answer the rebirth request below
    expect(await status(NODE)).toBe('online')
    // Data after the device's death is not stored: it is kept with its reason, and a rebirth is asked for.
    node.publishDeviceData('PLC1', { timestamp: T0 + 2_000, metrics: [{ alias: 1, type: 'Double', value: 1 }] })
    await soon(() => rejected('sparkplug_no_birth'), (r) => r.length >= 1)
    // The edge node answers the rebirth request with new births: online again.
    await soon(() => status(PLC), (s) => s === 'online')
    node.stop() // publishDeath: an NDEATH, then the connection ends
    await soon(() => status(NODE), (s) => s === 'offline')
    expect(await status(PLC)).toBe('offline')
    expect((await rows(PLC)).filter((r) => r.ts === T0 + 2_000)).toEqual([])
  }, 30_000)

  test('after gridline restarts, data before a birth is refused, a rebirth is requested, and what follows is stored once', async () => {
    let clock = T0 + 10_000
    const node = await edgeNode(NODE)
    bornOnRequest(node, 'PLC1', () => clock)
    await soon(() => status(PLC), (s) => s === 'online')
    const noBirthBefore = (await rejected('sparkplug_no_birth')).length
    await t.restart()
    // The edge node reconnects by itself (mqtt.js) and does not know the host restarted: it sends data.
    await soon(async () => mqttOf(node).connected, (c) => c, 20_000)
    clock = T0 + 12_000 // the births that answer the rebirth request
    node.publishDeviceData('PLC1', { timestamp: T0 + 11_000, metrics: [{ alias: 1, type: 'Double', value: 7 }] })
    await soon(() => rejected('sparkplug_no_birth'), (r) => r.length > noBirthBefore)
    expect(await metric('gridline_sparkplug_rebirth_requests_total', 'component_id="mqtt",reason="no_birth"')).toBeGreaterThanOrEqual(1)
    // The births it sent on the rebirth request are stored, and the data after them.
    await soon(async () => (await rows(PLC)).some((r) => r.ts === T0 + 12_000), (v) => v)
    node.publishDeviceData('PLC1', { timestamp: T0 + 13_000, metrics: [{ alias: 1, type: 'Double', value: 9 }] })
    const after = await soon(() => rows(PLC), (r) => r.some((x) => x.ts === T0 + 13_000))
    expect(after.filter((r) => r.ts === T0 + 13_000)).toEqual([{ metric: 'flow', value: 9, ts: T0 + 13_000 }])
    expect(after.filter((r) => r.ts === T0 + 11_000)).toEqual([])
    // Its will (NDEATH) when the connection drops without a DISCONNECT: offline.
    mqttOf(node).stream.destroy()
    await soon(() => status(NODE), (s) => s === 'offline')
    expect(await status(PLC)).toBe('offline')
    mqttOf(node).end(true)
  }, 60_000)

  test('an edge node speaks only as itself and only for the devices behind it', async () => {
    const intruder = await edgeNode(NODE, OTHER_NODE) // logs in as OTHER_NODE, publishes as NODE
    intruder.publishNodeBirth(nodeBirth(T0 + 20_000))
    await soon(() => rejected('topic_not_authorized'), (r) => r.some((x) => x.topic === `spBv1.0/${GROUP}/NBIRTH/${NODE}`))
    const other = await edgeNode(OTHER_NODE)
    other.publishNodeBirth(nodeBirth(T0 + 20_000))
    other.publishDeviceBirth(PLC, plcBirth(T0 + 20_000)) // PLC is behind NODE, not OTHER_NODE
    other.publishDeviceBirth('nobody', plcBirth(T0 + 20_000))
    await soon(() => rejected('device_not_behind_gateway'), (r) => r.some((x) => x.topic === `spBv1.0/${GROUP}/DBIRTH/${OTHER_NODE}/${PLC}`))
    await soon(() => rejected('device_unknown'), (r) => r.some((x) => x.topic === `spBv1.0/${GROUP}/DBIRTH/${OTHER_NODE}/nobody`))
    expect((await rows(PLC)).filter((r) => r.ts === T0 + 20_000)).toEqual([])
    // Its own device, named by its registry id (no sparkplugDevice metadata), is stored.
    other.publishDeviceBirth(FAR, plcBirth(T0 + 20_000))
    await soon(() => rows(FAR), (r) => r.length >= 3)
    other.stop()
    intruder.stop()
  }, 30_000)

  test('the host\'s retained STATE says online, and an edge node may read it but not publish it', async () => {
    const client: MqttClient = await t.connect(NODE)
    const state = await new Promise<{ topic: string; body: unknown }>((resolve) => {
      client.on('message', (topic, payload) => resolve({ topic, body: JSON.parse(payload.toString()) }))
      client.subscribe(`spBv1.0/STATE/gl-${RUN}`, { qos: 1 })
    })
    expect(state.topic).toBe(`spBv1.0/STATE/gl-${RUN}`)
    expect(state.body).toMatchObject({ online: true, timestamp: expect.any(Number) })
    await client.publishAsync(`spBv1.0/STATE/gl-${RUN}`, JSON.stringify({ online: false, timestamp: Date.now() }), { qos: 1 })
    await soon(() => rejected('topic_not_authorized'), (r) => r.some((x) => x.topic === `spBv1.0/STATE/gl-${RUN}`))
  }, 30_000)
})

describe('device commands as Sparkplug writes, to Tahu\'s edge node', () => {
  test('water.pump becomes a DCMD of the mapped metric by alias; ok once the device reports the value; failed when it cannot go or the device dies', async () => {
    const node = await edgeNode(CMD_NODE)
    const dcmds: { device: string; metrics: unknown[] }[] = []
    let acts = true
    // The PLC does what it is told, and reports it as a real edge node would: a DDATA by alias.
    node.on('dcmd', (device: string, payload: UPayload) => {
      const metrics = (payload.metrics ?? []).map((m) => ({ alias: Number(m.alias), value: m.value }))
      dcmds.push({ device, metrics })
      if (acts) node.publishDeviceData(device, { timestamp: Date.now(), metrics: metrics.map((m) => ({ alias: m.alias, type: 'Boolean', value: m.value })) })
    })
    bornOnRequest(node, 'PUMP1', () => Date.now())
    await soon(() => status(PUMP), (s) => s === 'online')
    const commands = t.service.commands

    const sent = await commands.send({ deviceId: PUMP, action: 'pump', params: { running: false } }, 'operator')
    const done = await commands.waitForResult(sent.id)
    expect(done).toMatchObject({ status: 'ok', detail: 'The device reported Outputs/Pump Running = false.' })
    // By alias only (the birth gave one), as Sparkplug 3.0 asks.
    expect(dcmds).toEqual([{ device: 'PUMP1', metrics: [{ alias: 3, value: false }] }])
    // The command settles when the host reads the DDATA; its rows are committed just after.
    await soon(() => rows(PUMP), (r) => r.some((x) => x.metric === 'pump_on' && x.value === 0))

    // An action with no write configured fails at once with the key to set.
    const unmapped = await commands.send({ deviceId: PUMP, action: 'schedule', params: {} }, 'operator')
    expect(unmapped.status).toBe('failed')
    expect(unmapped.detail).toContain('sparkplug.commands["water.schedule"]')

    // A device that takes the write and never reports it: timeout; one that dies first: failed.
    acts = false
    const silent = await commands.send({ deviceId: PUMP, action: 'pump', params: { running: true } }, 'operator')
    expect((await commands.waitForResult(silent.id)).status).toBe('timeout')
    const dying = await commands.send({ deviceId: PUMP, action: 'pump', params: { running: true } }, 'operator')
    node.publishDeviceDeath('PUMP1', { timestamp: Date.now() })
    expect(await commands.waitForResult(dying.id)).toMatchObject({ status: 'failed', detail: expect.stringContaining('went offline') })
    await soon(() => status(PUMP), (s) => s === 'offline')
    // Not born now: refused with the reason, nothing published.
    const offline = await commands.send({ deviceId: PUMP, action: 'pump', params: { running: true } }, 'operator')
    expect(offline).toMatchObject({ status: 'failed', detail: expect.stringContaining('is not born') })
    expect(dcmds).toHaveLength(3)
    node.stop()
  }, 30_000)
})

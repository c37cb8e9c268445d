import '@gridline/edge-agent/testing/quiet-opcua'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PumpStation, startPumpStation } from '@gridline/firmware-sim/plc'
import { type TestDatabase, createTestDatabase, silentLogger, waitFor } from '../../test/support.ts'
import { type EdgeAgent, buildEdgeAgent, edgeConfig } from '@gridline/edge-agent'
import { CuttableProxy, baseConfig, deviceRows, temporaryDir } from '@gridline/edge-agent/testing'
import { registerGateway, startIngest } from './edge-testing.ts'

// Proof 1 (partition) and proof 3 (ingest restarted mid-drain), with the real
// ingest service, PostgreSQL, the PLC simulator and a device on the local MQTT broker.

const PLC_DEVICES = [
  { id: 'ps-01', domain: 'water' },
  { id: 'ps-01-p1', domain: 'water' },
]
const LAN_DEVICE = { id: 'lan-level-1', domain: 'water' }
const BULK_DEVICE = { id: 'bulk-1', domain: 'water' }

let db: TestDatabase
let ingest: Awaited<ReturnType<typeof startIngest>>
let proxy: CuttableProxy
let station: PumpStation
let data: Awaited<ReturnType<typeof temporaryDir>>
let agent: EdgeAgent
let lanPublisher: MqttClient | undefined

beforeAll(async () => {
  db = await createTestDatabase()
  ingest = await startIngest(db)
  await registerGateway(db, 'gw-edge-1', [...PLC_DEVICES, LAN_DEVICE, BULK_DEVICE])
  proxy = new CuttableProxy(ingest.mqttPort)
  await proxy.start()
  data = await temporaryDir()
  station = await startPumpStation({ port: 0, pkiDir: `${data.dir}/plc-pki`, updateIntervalMs: 50, seed: 7 })
  const ids = station.nodeIds
  agent = buildEdgeAgent(edgeConfig(baseConfig(`${data.dir}/agent`, proxy.port, {
    uplink: { ...(baseConfig('', proxy.port).uplink as object), drainReadingsPerSec: 4_000, batchMaxReadings: 500 },
    opcua: [{
      name: 'ps-01',
      endpointUrl: station.endpointUrl,
      publishingIntervalMs: 100,
      defaults: { samplingIntervalMs: 50, queueSize: 20 },
      nodes: [
        { nodeId: ids.tankLevel, device: 'ps-01', domain: 'water', metric: 'level' },
        { nodeId: ids.inflow, device: 'ps-01', domain: 'water', metric: 'inflow' },
        { nodeId: ids.dischargePressure, device: 'ps-01', domain: 'water', metric: 'discharge_pressure' },
        { nodeId: ids['pump1.speed'], device: 'ps-01-p1', domain: 'water', metric: 'pump_speed' },
        { nodeId: ids['pump1.current'], device: 'ps-01-p1', domain: 'water', metric: 'pump_current' },
        { nodeId: ids.outflow, device: 'ps-01', domain: 'water', metric: 'outflow' },
      ],
    }],
    mqtt: [{
      name: 'lan',
      broker: { type: 'embedded', host: '127.0.0.1', port: 0 },
      subscriptions: [{ topic: 'lan/+/state', device: '{1}', domain: 'water', values: { level: 'level' }, ts: 'ts' }],
    }],
  })), silentLogger())
  await agent.start()
})

afterAll(async () => {
  await lanPublisher?.endAsync(true).catch(() => undefined)
  await agent?.stop()
  await station?.stop()
  await proxy?.stop()
  await ingest?.service.stop()
  await db?.drop()
  await data?.remove()
})

/** A LAN device publishing QoS 1 readings to the agent's embedded broker; returns the number acknowledged so far. */
function startLanDevice(port: number): { acked: () => number; published: () => number; stop: () => void } {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'lan-level-1', protocolVersion: 4, reconnectPeriod: 0 })
  lanPublisher = client
  let seq = 0
  let acked = 0
  const base = Date.now() - 600_000
  const timer = setInterval(() => {
    if (!client.connected) return
    const n = seq++
    client.publish('lan/lan-level-1/state', JSON.stringify({ ts: base + n * 10, level: 2 + (n % 100) / 100 }), { qos: 1 }, (err) => { if (!err) acked++ })
  }, 10)
  return { acked: () => acked, published: () => seq, stop: () => clearInterval(timer) }
}

describe('store-and-forward through an uplink partition', () => {
  test('every reading produced during a cut is stored exactly once, per-device order kept, backlog marked backfill', async () => {
    const port = portOfEmbeddedBroker(agent)
    const lan = startLanDevice(port)
    await waitFor(() => agent.health().uplink.connected && agent.counters.sentLive > 50, 15_000, 'live readings to flow')

    proxy.cutLink()
    await waitFor(() => !agent.health().uplink.connected, 5_000, 'the uplink to notice the cut')
    const sentAtCut = agent.counters.sentLive + agent.counters.sentBackfill
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    // Nothing went up meanwhile, and the readings are waiting on disk.
    expect(agent.counters.sentLive + agent.counters.sentBackfill).toBe(sentAtCut)
    expect(agent.health().queue.readings).toBeGreaterThan(100)

    proxy.restore()
    await waitFor(() => agent.counters.sentBackfill > 0, 10_000, 'the backlog to drain')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    lan.stop()
    await waitFor(() => lan.acked() === lan.published(), 5_000, 'the LAN device to have every reading acknowledged')
    await station.stop()
    await waitFor(() => agent.health().queue.readings === 0, 15_000, 'the queue to empty')

    const accepted = agent.counters.accepted
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = ANY($1)`, [[...PLC_DEVICES, LAN_DEVICE].map((d) => d.id)])
    expect(rows[0].n).toBe(accepted)
    for (const device of [...PLC_DEVICES, LAN_DEVICE]) {
      const r = await deviceRows(db, device.id)
      // Exactly once: one row per seq, seqs 0..n-1 with no gap, and time order equals seq order.
      expect(r.rows, device.id).toBeGreaterThan(10)
      expect(r.distinctSeq, device.id).toBe(r.rows)
      expect([r.minSeq, r.maxSeq], device.id).toEqual([0, r.rows - 1])
      expect(r.ordered, device.id).toBe(true)
      expect(r.backfilled, device.id).toBeGreaterThan(0)
    }
    expect((await deviceRows(db, LAN_DEVICE.id)).rows).toBe(lan.published())
    expect(agent.health().queue.dropped).toEqual({ queue_full: 0, expired: 0, corrupt: 0, disk_error: 0 })
  })

  test('restarting the ingest service in the middle of a drain loses and duplicates nothing', async () => {
    proxy.cutLink()
    await waitFor(() => !agent.health().uplink.connected, 5_000, 'the uplink to notice the cut')
    const base = Date.now() - 3_600_000
    const total = 12_000
    await Promise.all(Array.from({ length: total }, (_, i) => agent.accept({ device: BULK_DEVICE.id, domain: 'water', ts: base + i, values: { level: i % 50 }, quality: 'good' })))
    const backfillBefore = agent.counters.sentBackfill
    proxy.restore()
    // The drain is limited to 4,000 readings/s, so the service goes down a second or so into it.
    await waitFor(() => agent.counters.sentBackfill - backfillBefore > 2_000, 10_000, 'the drain to be under way')
    await ingest.service.stop()
    expect(agent.counters.sentBackfill - backfillBefore).toBeLessThan(total)
    ingest = await startIngest(db)
    proxy.retarget(ingest.mqttPort)
    await waitFor(() => agent.health().queue.readings === 0, 20_000, 'the rest of the backlog to drain into the new service')

    const r = await deviceRows(db, BULK_DEVICE.id)
    expect(r.rows).toBe(total)
    expect(r.distinctSeq).toBe(total)
    expect([r.minSeq, r.maxSeq]).toEqual([0, total - 1])
    expect(r.ordered).toBe(true)
    expect(r.backfilled).toBe(total)
  })
})

function portOfEmbeddedBroker(a: EdgeAgent): number {
  const health = a.health().sources['mqtt:lan'] as { port?: number }
  if (!health.port) throw new Error('The embedded broker reports no port.')
  return health.port
}

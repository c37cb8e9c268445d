import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { until } from '../../../../test/support.ts'
import { type TestService, startTestService } from '../../testing/index.ts'
import { mosquittoPub } from './test-helpers.ts'

// The MQTT client source against the machine's Mosquitto 2.0 (127.0.0.1:1883),
// with mosquitto_pub publishing: gridline JSON on a topic that names the
// device at a level, InfluxDB line protocol as Telegraf's MQTT output sends
// it, and ChirpStack v4 integration events; MQTT 5 and two connections on a
// shared subscription. Topics, client ids and share group are unique per run.

const RUN = `gl${randomBytes(4).toString('hex')}`
const APP = `app-${RUN}`
const EUI = '70b3d57ed0051a2b'
const T0 = Date.parse('2026-12-07T01:00:00Z')
let t: TestService

const publish = (topic: string, lines: string[]) => mosquittoPub(['-h', '127.0.0.1', '-p', '1883', '-i', `${RUN}-pub-${randomBytes(2).toString('hex')}`], topic, lines)

const count = async (device: string): Promise<number> =>
  Number((await t.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [device])).rows[0]!.n)

async function rejected(reason: string): Promise<{ topic: string; detail: string }[]> {
  const { rows } = await t.db.pool.query<{ topic: string; detail: string }>('SELECT topic, detail FROM rejected WHERE reason = $1 ORDER BY id', [reason])
  return rows
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
  return line ? Number(line.split(' ').pop()) : 0
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: `wm-${RUN}`, domain: 'water', metadata: { devEui: EUI.toUpperCase() } },
      { id: `aq-${RUN}`, domain: 'environment' },
      { id: `lp-${RUN}`, domain: 'environment' },
    ],
    config: {
      sources: {
        city: {
          type: 'mqtt_client',
          url: 'mqtt://127.0.0.1:1883',
          protocolVersion: 5,
          clientId: RUN,
          connections: 2,
          shareGroup: RUN,
          sessionExpirySeconds: 60,
          subscriptions: [
            { filter: `${RUN}/sensors/+/data`, device: { topicLevel: 2 } },
            { filter: `${RUN}/telegraf/#`, decoder: 'line_protocol' },
            { filter: `application/${APP}/device/+/event/+`, decoder: 'chirpstack', chirpstack: { fields: { waterPressure: 'pressure' } } },
          ],
        },
      },
      processors: { onSecondInstance: 'warn' },
    },
  })
}, 30_000)

afterAll(async () => {
  await t?.stop()
  // Leave no persistent session behind in the shared broker.
  for (const i of [0, 1]) {
    const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-${i}`, clean: true, protocolVersion: 5, reconnectPeriod: 0 })
    await c.endAsync()
  }
})

describe('MQTT client source on Mosquitto', () => {
  test('both connections are logged in and subscribed; /readyz says so', async () => {
    const ready = await (await fetch(`${t.httpUrl}/readyz`)).json()
    expect(ready).toMatchObject({ status: 'ready', checks: { sources: { mqtt: true, city: true } } })
    expect(await metric('gridline_mqtt_client_connections', 'component_id="city"')).toBe(2)
    expect(await metric('gridline_mqtt_client_connects_total', 'component_id="city"')).toBe(2)
  })

  test('500 gridline JSON readings from mosquitto_pub, the device named by a topic level, are stored once each', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ ts: T0 + i * 1_000, seq: i, values: { pm25: i % 90 } }))
    await publish(`${RUN}/sensors/aq-${RUN}/data`, lines)
    expect(await until(() => count(`aq-${RUN}`), (n) => n >= 500)).toBe(500)
    const { rows } = await t.db.pool.query<{ n: string }>('SELECT count(DISTINCT seq) AS n FROM telemetry WHERE device_id = $1', [`aq-${RUN}`])
    expect(Number(rows[0]!.n)).toBe(500)
    expect(await metric('gridline_mqtt_client_messages_total', 'component_id="city",decoder="gridline"')).toBeGreaterThanOrEqual(500)
  })

  test('InfluxDB line protocol payloads (Telegraf\'s MQTT output, ns timestamps) are stored per point', async () => {
    await publish(`${RUN}/telegraf/cabinet-7`, [
      `env,host=lp-${RUN} pm25=11.5,pm10=20 ${BigInt(T0) * 1_000_000n}`,
      `env,host=lp-${RUN} pm25=12.5,pm10=21 ${BigInt(T0 + 60_000) * 1_000_000n}`,
    ])
    expect(await until(() => count(`lp-${RUN}`), (n) => n >= 4)).toBe(4)
  })

  test('a ChirpStack uplink is stored for the device with its DevEUI; join and status events are counted, not stored', async () => {
    const up = {
      deduplicationId: 'c9dd4a4c-3c6f-4b2c-8a7d-7d2b1f0e9a11', time: new Date(T0).toISOString(),
      deviceInfo: { tenantName: 'Da Nang Water', applicationId: APP, applicationName: 'dma-meters', deviceProfileName: 'pressure', deviceName: 'hc-01', devEui: EUI, tags: {} },
      devAddr: '00f1a2b3', fCnt: 7, fPort: 2, data: 'CRA=', object: { waterPressure: 3.4, flow: 18.2 },
      rxInfo: [{ gatewayId: 'a840411d2a1c4150', rssi: -101, snr: 4.2 }], txInfo: { frequency: 923400000 },
    }
    await publish(`application/${APP}/device/${EUI}/event/up`, [JSON.stringify(up)])
    await publish(`application/${APP}/device/${EUI}/event/join`, [JSON.stringify({ deviceInfo: { devEui: EUI }, devAddr: '00f1a2b3' })])
    await publish(`application/${APP}/device/${EUI}/event/status`, [JSON.stringify({ deviceInfo: { devEui: EUI }, margin: 9, batteryLevel: 88.5 })])
    expect(await until(() => count(`wm-${RUN}`), (n) => n >= 2)).toBe(2)
    const { rows } = await t.db.pool.query<{ metric: string; value: number; seq: string }>('SELECT metric, value, seq FROM telemetry WHERE device_id = $1 ORDER BY metric', [`wm-${RUN}`])
    expect(rows.map((r) => [r.metric, Number(r.value), Number(r.seq)])).toEqual([['flow', 18.2, 7], ['pressure', 3.4, 7]])
    expect(await until(() => metric('gridline_mqtt_client_events_total', 'component_id="city",event="status"'), (n) => n >= 1)).toBe(1)
    expect(await metric('gridline_mqtt_client_events_total', 'component_id="city",event="join"')).toBe(1)
  })

  test('a device no registry entry matches is dead-lettered with its topic and reason, and the good ones still stored', async () => {
    await publish(`${RUN}/sensors/ghost-${RUN}/data`, [JSON.stringify({ ts: T0, values: { pm25: 1 } })])
    await publish(`application/${APP}/device/0000000000000bad/event/up`, [JSON.stringify({ deviceInfo: { devEui: '0000000000000bad' }, object: { flow: 1 } })])
    const unknown = await until(() => rejected('device_unknown'), (r) => r.length >= 2)
    expect(unknown.map((r) => r.topic).sort()).toEqual([`${RUN}/sensors/ghost-${RUN}/data`, `application/${APP}/device/0000000000000bad/event/up`].sort())
    expect(unknown.map((r) => r.detail).join('\n')).toMatch(/ghost-.*not|no registered device/)
  })

  test('a bad payload is dead-lettered and acknowledged: the broker does not send it again', async () => {
    await publish(`${RUN}/sensors/aq-${RUN}/data`, ['{"ts": 1, "values": '])
    const bad = await until(() => rejected('json_malformed'), (r) => r.length >= 1)
    expect(bad).toHaveLength(1)
    const before = await metric('gridline_mqtt_client_redeliveries_total', 'component_id="city"')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await metric('gridline_mqtt_client_redeliveries_total', 'component_id="city"')).toBe(before)
    expect(await rejected('json_malformed')).toHaveLength(1)
  })
})

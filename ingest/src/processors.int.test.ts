import mqtt, { type MqttClient } from 'mqtt'
import { type StreamEvent, minuteRollupsSql } from '@gridline/processors'
import { Quality } from '@gridline/schemas'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../test/support.ts'
import type { IngestService } from './app.ts'

// The stream processors inside the real ingest service: quality flags before
// the write, rollups and alarms after the commit, the live stream, and alarm
// events on the broker for an integration login.

let t: TestService
let db: TestDatabase
let service: IngestService
let url: string
const clients: MqttClient[] = []
const PASSWORD = TEST_PASSWORD
const events: StreamEvent[] = []

async function connect(username: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password: PASSWORD, clientId: `${username}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 4 })
  clients.push(client)
  return client
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'aq-1', domain: 'environment', metadata: { district: 'Hai Chau' } },
      { id: 'gw-1', kind: 'gateway' },
      { id: 'aq-9', domain: 'environment', gateway: 'gw-1' },
      { id: 'ops', kind: 'integration' },
    ],
    config: {
      processors: {
        rollups: { allowedLatenessMs: 0, flushIntervalMs: 50 },
        alarms: {
          rules: [{ id: 'pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 100, clearBelow: 50, severity: 'major' }],
        },
      },
    },
  })
  ;({ db, service, mqttUrl: url } = t)
  service.processing.hub.subscribe({ name: 'test', devices: ['aq-*'] }, (event) => { events.push(event) })
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
})

const minute = (m: number, s = 0) => Date.parse('2026-11-28T02:00:00Z') + m * 60_000 + s * 1000

describe('processors in the ingest service', () => {
  test('a saturated value is stored with quality SATURATED before anything else sees it', async () => {
    const device = await connect('aq-1')
    await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: minute(0, 5), seq: 1, values: { pm25: 999.9, pm10: 40 } }), { qos: 1 })
    const { rows } = await db.pool.query(`SELECT metric, quality FROM telemetry WHERE device_id = 'aq-1' ORDER BY metric`)
    expect(rows).toEqual([{ metric: 'pm10', quality: Quality.GOOD }, { metric: 'pm25', quality: Quality.SATURATED }])
  })

  test('a threshold crossing raises one alarm: in the database, on the live stream and on the broker', async () => {
    const ops = await connect('ops')
    const onBroker: { topic: string; payload: string }[] = []
    ops.on('message', (topic, payload) => onBroker.push({ topic, payload: payload.toString() }))
    await ops.subscribeAsync('alarms/#', { qos: 1 })

    const device = await connect('aq-1')
    for (const [i, pm25] of [20, 150, 160].entries()) {
      await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: minute(1, i), seq: 2 + i, values: { pm25 } }), { qos: 1 })
    }
    await waitFor(async () => (await db.pool.query(`SELECT 1 FROM alarms WHERE rule_id = 'pm25-high'`)).rows.length === 1, 10_000, 'the alarm to be stored')
    const { rows } = await db.pool.query(`SELECT subject, severity, state, raised_value FROM alarms WHERE rule_id = 'pm25-high'`)
    expect(rows).toEqual([{ subject: 'aq-1', severity: 'major', state: 'raised', raised_value: 150 }])
    await waitFor(() => onBroker.some((m) => m.topic === 'alarms/events/major/pm25-high/aq-1'), 10_000, 'the alarm event on the broker')
    expect(JSON.parse(onBroker.find((m) => m.topic === 'alarms/events/major/pm25-high/aq-1')!.payload)).toMatchObject({ state: 'raised', value: 150 })
    await waitFor(() => events.some((e) => e.kind === 'alarm' && e.state === 'raised'), 10_000, 'the alarm event on the live stream')
    expect(events.filter((e) => e.kind === 'alarm')).toHaveLength(1)
    expect(events.some((e) => e.kind === 'reading' && e.deviceId === 'aq-1' && e.metric === 'pm25' && e.value === 150)).toBe(true)
  })

  test('a backfilled reading above the threshold never raises a live alarm', async () => {
    const gateway = await connect('gw-1')
    const batch = { readings: [{ device: 'aq-9', domain: 'environment', ts: minute(2), seq: 1, values: { pm25: 400 }, backfill: true }] }
    await gateway.publishAsync('gateways/gw-1/telemetry', JSON.stringify(batch), { qos: 1 })
    expect((await db.pool.query(`SELECT flags FROM telemetry WHERE device_id = 'aq-9'`)).rows).toEqual([{ flags: 2 }])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM alarms WHERE subject = 'aq-9'`)).rows[0].n).toBe(0)
    expect(service.processing.alarms?.stats().skipped.backfill).toBeGreaterThan(0)
  })

  test('closed minutes are rolled up into telemetry_1m from good readings only', async () => {
    const device = await connect('aq-1')
    // A reading two minutes on moves the device's watermark past minute 1.
    await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: minute(4), seq: 10, values: { pm25: 30 } }), { qos: 1 })
    await waitFor(async () => (await db.pool.query(`SELECT 1 FROM telemetry_1m WHERE device_id = 'aq-1' AND metric = 'pm25' AND bucket = $1`, [new Date(minute(1))])).rows.length === 1, 10_000, 'rollups to be written')
    // As queries read minutes: telemetry_1m, and minutes of one reading from telemetry (docs/rollups.md#single-reading-minutes).
    const all = minuteRollupsSql({ device: (col) => `${col} = 'aq-1'`, metric: `'pm25'`, from: `to_timestamp(${minute(0) / 1000})`, to: `to_timestamp(${minute(2) / 1000})` })
    const { rows } = await db.pool.query(`SELECT bucket, count, min, max, non_good FROM ${all} AS m ORDER BY bucket`)
    expect(rows).toEqual([
      { bucket: new Date(minute(0)), count: 1, min: null, max: null, non_good: 1 },
      { bucket: new Date(minute(1)), count: 3, min: 20, max: 160, non_good: 0 },
    ])
    await waitFor(() => events.some((e) => e.kind === 'rollup' && e.resolution === '1m'), 10_000, 'rollup events on the live stream')
  })
})

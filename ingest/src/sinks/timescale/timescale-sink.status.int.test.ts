import { type Envelope, Rows, type StatusChange } from '@gridline/core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase, silentLogger } from '../../../../test/support.ts'
import { TimescaleSink } from './timescale-sink.ts'

// Device status with battery and link margin (a ChirpStack status event) on
// the real PostgreSQL: the newest report wins, a plain online/offline change
// keeps the last battery and margin, and every report is in the history.

let db: TestDatabase
let pool: pg.Pool
let sink: TimescaleSink
const T0 = Date.parse('2026-12-07T01:00:00Z')

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  sink = new TimescaleSink(pool, silentLogger(), { rejectedPayloadMaxBytes: 4096 })
})

afterAll(async () => {
  await pool?.end()
  await db?.drop()
})

function envelope(...statuses: StatusChange[]): Envelope {
  return {
    source: 'test', topic: 'application/a/device/x/event/status', clientId: null, receivedAt: T0, payload: Buffer.from('{}'),
    decoded: { rows: new Rows(), readings: 0, rejections: [], unknownMetrics: 0, outOfRange: 0 }, statuses, ack: null,
  }
}
const change = (deviceId: string, state: 'online' | 'offline', time: number, power?: StatusChange['power']): StatusChange =>
  ({ deviceId, domain: 'water', state, time, receivedAt: time, ...(power ? { power } : {}) })

async function current(deviceId: string) {
  const { rows } = await db.pool.query('SELECT state, battery_percent, external_power, margin_db, power_reported_at FROM device_status WHERE device_id = $1', [deviceId])
  return rows[0]
}

describe('device status with battery and margin', () => {
  test('a report sets them; a later plain change keeps them; an older report does not replace a newer one', async () => {
    await sink.write([envelope(change('wm-p1', 'online', T0, { batteryPercent: 88.5, externalPower: false, marginDb: 9 }))])
    expect(await current('wm-p1')).toEqual({ state: 'online', battery_percent: 88.5, external_power: false, margin_db: 9, power_reported_at: new Date(T0) })
    await sink.write([envelope(change('wm-p1', 'offline', T0 + 60_000))])
    expect(await current('wm-p1')).toMatchObject({ state: 'offline', battery_percent: 88.5, margin_db: 9 })
    await sink.write([envelope(change('wm-p1', 'online', T0 - 60_000, { batteryPercent: 99, externalPower: false, marginDb: 20 }))])
    expect(await current('wm-p1')).toMatchObject({ state: 'offline', battery_percent: 88.5, margin_db: 9, power_reported_at: new Date(T0) })
    const { rows } = await db.pool.query('SELECT state, battery_percent, margin_db FROM device_status_history WHERE device_id = $1 ORDER BY time', ['wm-p1'])
    expect(rows).toEqual([
      { state: 'online', battery_percent: 99, margin_db: 20 },
      { state: 'online', battery_percent: 88.5, margin_db: 9 },
      { state: 'offline', battery_percent: null, margin_db: null },
    ])
  })

  test('external power: battery null; of two reports in one batch the newer wins', async () => {
    await sink.write([envelope(
      change('wm-p2', 'online', T0 + 1_000, { batteryPercent: null, externalPower: true, marginDb: -3 }),
      change('wm-p2', 'online', T0, { batteryPercent: 50, externalPower: false, marginDb: 4 }),
    )])
    expect(await current('wm-p2')).toMatchObject({ state: 'online', battery_percent: null, external_power: true, margin_db: -3 })
  })
})

import { InfluxDB, Point } from '@influxdata/influxdb-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TokenStore } from '../../devices/tokens.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type TestDatabase, type TestService, createMigratedTestDatabase, startTestService } from '../../testing/index.ts'
import { basic } from './test-helpers.ts'

// autoRegister against a real service and PostgreSQL: writes that name
// unregistered devices, from the gateway the config names, register them
// behind it first and are stored; any other login's are refused as before.
// Clients: the official InfluxDB client, and requests shaped as Telegraf's
// influxdb output and the airrohr firmware send them.

let db: TestDatabase
let t: TestService
let url: string
let autoToken: string
let otherToken: string

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  t = await startTestService({
    database: db,
    devices: [
      { id: 'gw-auto', kind: 'gateway' as const },
      { id: 'gw-other', kind: 'gateway' as const },
      { id: 'aq-known', domain: 'environment', gateway: 'gw-other' },
    ],
    config: {
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, lineProtocol: { deviceTags: ['device', 'host', 'node'] }, autoRegister: { domain: 'environment', gateway: 'gw-auto', maxPerHour: 8 } } },
      processors: { onSecondInstance: 'warn' },
    },
  })
  url = t.sourceUrl('http')
  const tokens = new TokenStore(pgSqlClient(db.pool))
  autoToken = (await tokens.create('gw-auto', 'tests')).token
  otherToken = (await tokens.create('gw-other', 'tests')).token
})

afterAll(async () => {
  await t?.stop()
  await db?.drop()
})

const post = (path: string, body: string, headers: Record<string, string>) => fetch(`${url}${path}`, { method: 'POST', body, headers })

async function device(id: string): Promise<{ kind: string; domain: string | null; gateway: string | null; credentials_hash: string | null; metadata: Record<string, unknown> } | undefined> {
  const { rows } = await db.pool.query('SELECT kind, domain, gateway, credentials_hash, metadata FROM devices WHERE id = $1', [id])
  return rows[0]
}

async function stored(id: string): Promise<{ metric: string; value: number }[]> {
  const { rows } = await db.pool.query<{ metric: string; value: number }>('SELECT metric, value FROM telemetry WHERE device_id = $1 ORDER BY time, metric', [id])
  return rows.map((r) => ({ metric: r.metric, value: Number(r.value) }))
}

async function counted(outcome: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`gridline_http_auto_registered_total{component_id="http",outcome="${outcome}"}`))
  return Number(line?.split(' ').pop() ?? 0)
}

describe('autoRegister', () => {
  test('the official client, with the gateway\'s token, writes for a new device: it is registered behind the gateway (no password of its own) and the point stored', async () => {
    const write = new InfluxDB({ url, token: autoToken }).getWriteApi('city', 'telemetry', 'ms', { maxRetries: 0, flushInterval: 0 })
    write.writePoint(new Point('env').tag('device', 'aq-new-1').floatField('pm25', 17.5).timestamp(new Date(1764982800000)))
    await write.close()
    expect(await device('aq-new-1')).toMatchObject({ kind: 'device', domain: 'environment', gateway: 'gw-auto', credentials_hash: null })
    expect(await stored('aq-new-1')).toEqual([{ metric: 'pm25', value: 17.5 }])
    // It writes only through the gateway: it has no login of its own.
    const own = await post('/write?db=x', 'env pm25=1 1764982801000000000', { Authorization: basic('aq-new-1', '') })
    expect(own.status).toBe(401)
    expect(await counted('registered')).toBeGreaterThanOrEqual(1)
  })

  test('a Telegraf-shaped write names two new hosts: both registered, every line stored', async () => {
    const body = 'env,host=tg-a temperature=30.5 1764982800\nenv,host=tg-b temperature=29.5 1764982800\nenv,host=tg-a temperature=30.75 1764982810\n'
    const res = await post('/write?db=telegraf&precision=s', body, { 'Content-Type': 'text/plain; charset=utf-8', 'User-Agent': 'Telegraf/1.32.0 Go/1.23.1', Authorization: basic('gw-auto', autoToken) })
    expect(res.status).toBe(204)
    expect(await stored('tg-a')).toEqual([{ metric: 'temperature', value: 30.5 }, { metric: 'temperature', value: 30.75 }])
    expect(await stored('tg-b')).toEqual([{ metric: 'temperature', value: 29.5 }])
  })

  test('an airrohr POST from a new chip registers esp8266-<chip> with its sensorCommunityId; its next POST finds it by the chip', async () => {
    const firmware = (values: Record<string, string>) => ({
      body: JSON.stringify({ esp8266id: '5550001', software_version: 'NRZ-2024-135', sensordatavalues: Object.entries(values).map(([value_type, value]) => ({ value_type, value })) }),
      headers: { 'Content-Type': 'application/json', 'X-Sensor': 'esp8266-5550001', 'X-MAC-ID': 'esp8266-a1:b2:c3:d4:e5:f6', Authorization: basic('gw-auto', autoToken) },
    })
    const first = firmware({ SDS_P1: '20.10', SDS_P2: '11.40' })
    expect((await post('/sensor-community', first.body, first.headers)).status).toBe(204)
    expect(await device('esp8266-5550001')).toMatchObject({ gateway: 'gw-auto', domain: 'environment', metadata: { sensorCommunityId: '5550001' } })
    const second = firmware({ SDS_P2: '12.00' })
    expect((await post('/sensor-community', second.body, second.headers)).status).toBe(204)
    expect((await stored('esp8266-5550001')).filter((r) => r.metric === 'pm25').map((r) => r.value)).toEqual([11.4, 12])
  })

  test('a gateway batch in gridline JSON registers the devices it names', async () => {
    const body = JSON.stringify({ readings: [{ device: 'aq-batch-1', domain: 'environment', ts: 1764982800000, values: { pm10: 40 } }] })
    expect((await post('/v1/telemetry', body, { Authorization: `Token ${autoToken}` })).status).toBe(204)
    expect(await device('aq-batch-1')).toMatchObject({ gateway: 'gw-auto' })
    expect(await stored('aq-batch-1')).toEqual([{ metric: 'pm10', value: 40 }])
  })

  test('another gateway\'s login registers nothing: its unknown device is device_unknown, its known one stored', async () => {
    const res = await post('/api/v2/write?org=city&bucket=t&precision=ms', 'env,device=aq-stranger pm25=1 1764982800000\nenv,device=aq-known pm25=2 1764982800000', { Authorization: `Token ${otherToken}` })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'invalid', message: expect.stringContaining('partial write: line 1: device "aq-stranger" is not registered') })
    expect(await device('aq-stranger')).toBeUndefined()
    expect(await stored('aq-known')).toEqual([{ metric: 'pm25', value: 2 }])
  })

  test('when the registry cannot be written the write is answered 503 with Retry-After and nothing of it stored; sent again once it can, it is', async () => {
    // A real failure in PostgreSQL: a trigger refuses these ids.
    await db.pool.query(`CREATE FUNCTION refuse_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`)
    await db.pool.query(`CREATE TRIGGER refuse_fail BEFORE INSERT ON devices FOR EACH ROW WHEN (NEW.id LIKE 'aq-fail%') EXECUTE FUNCTION refuse_fail()`)
    const body = 'env,device=aq-fail-1 pm25=7 1764982800000\nenv,device=aq-batch-1 pm25=8 1764982860000'
    const res = await post('/api/v2/write?org=city&bucket=t&precision=ms', body, { Authorization: `Token ${autoToken}` })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(await device('aq-fail-1')).toBeUndefined()
    expect(await stored('aq-batch-1')).not.toContainEqual({ metric: 'pm25', value: 8 })
    await db.pool.query('DROP TRIGGER refuse_fail ON devices; DROP FUNCTION refuse_fail()')
    const again = await post('/api/v2/write?org=city&bucket=t&precision=ms', body, { Authorization: `Token ${autoToken}` })
    expect(again.status).toBe(204)
    expect(await stored('aq-fail-1')).toEqual([{ metric: 'pm25', value: 7 }])
    expect(await stored('aq-batch-1')).toContainEqual({ metric: 'pm25', value: 8 })
  })

  test('past maxPerHour new devices are refused as device_unknown and counted; the rest of the body is stored', async () => {
    // 6 of the 8 registrations are spent above (the failed one was given back); this body names 4 new devices.
    const before = await counted('over_limit')
    const res = await post('/api/v2/write?org=city&bucket=t&precision=ms', 'env,device=aq-l1 pm25=1 1764982800000\nenv,device=aq-l2 pm25=2 1764982800000\nenv,device=aq-l3 pm25=3 1764982800000\nenv,device=aq-l4 pm25=4 1764982800000', { Authorization: `Token ${autoToken}` })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/^partial write: line 3: device "aq-l3" is not registered.* dropped=2$/) })
    expect(await stored('aq-l1')).toEqual([{ metric: 'pm25', value: 1 }])
    expect(await stored('aq-l2')).toEqual([{ metric: 'pm25', value: 2 }])
    expect(await device('aq-l3')).toBeUndefined()
    expect(await counted('over_limit')).toBe(before + 2)
  })
})

import { gzipSync } from 'node:zlib'
import { InfluxDB, Point } from '@influxdata/influxdb-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TokenStore } from '../../devices/tokens.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { TEST_PASSWORD, type TestDatabase, type TestService, createMigratedTestDatabase, startTestService } from '../../testing/index.ts'
import { basic, deadLetters as deadLettersOf, lockTable, telemetryRows } from './test-helpers.ts'

// The http source against a real service and PostgreSQL, written to by
// clients gridline did not write: the official InfluxDB client library
// (@influxdata/influxdb-client, its WriteApi with gzip and retries), and
// requests shaped byte for byte as Telegraf's influxdb output and the airrohr
// firmware send them.

let db: TestDatabase
let t: TestService
let gatewayToken: string
let url: string

const DEVICES = [
  { id: 'aq-1', domain: 'environment' },
  { id: 'aq-nhabe', domain: 'environment', metadata: { sensorCommunityId: '12779556' } },
  { id: 'gw-1', kind: 'gateway' as const },
  { id: 'pump-1', domain: 'water', gateway: 'gw-1' },
  { id: 'aq-behind', domain: 'environment', gateway: 'gw-1', metadata: { sensorCommunityId: '424242' } },
  { id: 'telegraf-host-1', domain: 'environment', gateway: 'gw-1' },
  { id: 'grafana', kind: 'integration' as const },
]

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  t = await startTestService({
    database: db,
    devices: DEVICES,
    config: {
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, maxBodyBytes: 65_536, lineProtocol: { deviceTags: ['device', 'host'] } } },
      processors: { onSecondInstance: 'warn' },
    },
  })
  url = t.sourceUrl('http')
  gatewayToken = (await new TokenStore(pgSqlClient(db.pool)).create('gw-1', 'tests')).token
})

afterAll(async () => {
  await t?.stop()
  await db?.drop()
})

const rows = (deviceId: string) => telemetryRows(db.pool, deviceId)
const deadLetters = (deviceId: string | null, reason: string) => deadLettersOf(db.pool, deviceId, reason)

const lockTelemetry = () => lockTable(db.url, 'telemetry')

const post = (path: string, body: string | Buffer, headers: Record<string, string>) => fetch(`${url}${path}`, { method: 'POST', body, headers })

describe('InfluxDB clients', () => {
  test('the official client\'s WriteApi (gzip, a gateway token) stores every point exactly as sent, for the devices behind the gateway', async () => {
    const influx = new InfluxDB({ url, token: gatewayToken })
    const write = influx.getWriteApi('city', 'telemetry', 'ms', { gzipThreshold: 0, maxRetries: 2, flushInterval: 0 })
    const base = Date.parse('2026-12-06T01:00:00Z')
    for (let i = 0; i < 50; i++) {
      write.writePoint(new Point('water').tag('device', 'pump-1').floatField('flow', 100 + i / 4).timestamp(new Date(base + i * 1000)))
    }
    write.writePoint(new Point('env').tag('device', 'aq-behind').floatField('pm25', 17.25).intField('humidity', 71).timestamp(new Date(base)))
    await write.close()
    const pump = await rows('pump-1')
    expect(pump.length).toBe(50)
    expect(pump.every((r, i) => r.metric === 'flow' && r.time === base + i * 1000 && r.value === 100 + i / 4)).toBe(true)
    expect(await rows('aq-behind')).toEqual([{ metric: 'humidity', time: base, value: 71 }, { metric: 'pm25', time: base, value: 17.25 }])
  })

  test('a Telegraf-shaped 1.x write (gzip, Basic with the gateway\'s token, host tag, precision s) is stored', async () => {
    const body = gzipSync('env,host=telegraf-host-1 temperature=31.5,humidity=80i 1764982800\nenv,host=telegraf-host-1 temperature=31.75 1764982810\n')
    const res = await post('/write?db=telegraf&rp=autogen&precision=s', body, { 'Content-Encoding': 'gzip', 'Content-Type': 'text/plain; charset=utf-8', 'User-Agent': 'Telegraf/1.32.0 Go/1.23.1', Authorization: basic('gw-1', gatewayToken) })
    expect(res.status).toBe(204)
    expect(await rows('telegraf-host-1')).toEqual([
      { metric: 'humidity', time: 1764982800000, value: 80 },
      { metric: 'temperature', time: 1764982800000, value: 31.5 },
      { metric: 'temperature', time: 1764982810000, value: 31.75 },
    ])
  })

  test('nothing is answered before the commit: with telemetry locked no 204 comes; after, it does and the rows are there', async () => {
    const unlock = await lockTelemetry()
    let status: number | undefined
    const pending = post('/api/v2/write?org=city&bucket=b&precision=ms', 'env,device=aq-1 pm25=5 1764982800000', { Authorization: basic('aq-1') }).then((r) => { status = r.status })
    try {
      await new Promise((resolve) => setTimeout(resolve, 700))
      expect(status).toBeUndefined()
    } finally {
      await unlock()
    }
    await pending
    expect(status).toBe(204)
    expect(await rows('aq-1')).toContainEqual({ metric: 'pm25', time: 1764982800000, value: 5 })
  })

  test('a partial write: the good lines stored, 400 in InfluxDB\'s shape with the line, the bad line kept with its reason', async () => {
    const body = 'env,device=aq-1 pm25=6 1764982801000\nenv,device=aq-1 pm25= 1764982802000\nenv,device=aq-1 pm25=7 1764982803000'
    const v2 = await post('/api/v2/write?org=city&bucket=b&precision=ms', body, { Authorization: basic('aq-1') })
    expect(v2.status).toBe(400)
    const answer = await v2.json() as { code: string; message: string; line: number }
    expect(answer.code).toBe('invalid')
    expect(answer.line).toBe(2)
    expect(answer.message).toBe("partial write: line 2: unable to parse 'env,device=aq-1 pm25= 1764982802000': missing field value dropped=1")
    const stored = await rows('aq-1')
    expect(stored).toContainEqual({ metric: 'pm25', time: 1764982801000, value: 6 })
    expect(stored).toContainEqual({ metric: 'pm25', time: 1764982803000, value: 7 })
    expect((await deadLetters('aq-1', 'line_invalid')).map((r) => r.topic)).toContain('/api/v2/write')
    // 1.x's shape, from the same refusal.
    const v1 = await post('/write?db=x&precision=ms', 'env,device=aq-1 pm25=x 1764982804000', { Authorization: basic('aq-1') })
    expect(v1.status).toBe(400)
    expect(await v1.json()).toEqual({ error: expect.stringMatching(/^line 1: unable to parse .*: invalid number$/) })
  })

  test('a device writes only for itself; a gateway only for the devices behind it', async () => {
    const own = await post('/write?precision=ms&u=aq-1&p=' + encodeURIComponent(TEST_PASSWORD), 'env,device=pump-1 flow=1 1764982805000', {})
    expect(own.status).toBe(400)
    expect(await deadLetters('pump-1', 'device_not_authorized')).toHaveLength(1)
    const gw = await post('/api/v2/write?precision=ms', 'env,device=aq-1 pm25=1 1764982805000', { Authorization: `Token ${gatewayToken}` })
    expect(gw.status).toBe(400)
    expect(((await gw.json()) as { message: string }).message).toContain('is not registered behind gateway "gw-1"')
  })
})

describe('logins and limits', () => {
  test('no credentials, a wrong password, a made-up or revoked token: 401; an integration: 403', async () => {
    const line = 'env,device=aq-1 pm25=1 1764982806000'
    expect((await post('/api/v2/write', line, {})).status).toBe(401)
    expect((await post('/api/v2/write', line, { Authorization: basic('aq-1', 'wrong password') })).status).toBe(401)
    expect((await post('/api/v2/write', line, { Authorization: 'Token glt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status).toBe(401)
    const store = new TokenStore(pgSqlClient(db.pool))
    const { token, record } = await store.create('gw-1')
    await store.revoke(record.id)
    expect((await post('/api/v2/write', 'env,device=pump-1 flow=1 1764982806000', { Authorization: `Token ${token}` })).status).toBe(401)
    const integration = await store.create('grafana')
    const forbidden = await post('/api/v2/write', line, { Authorization: `Token ${integration.token}` })
    expect(forbidden.status).toBe(403)
    expect(await rows('pump-1').then((r) => r.some((x) => x.time === 1764982806000))).toBe(false)
  })

  test('a body over maxBodyBytes is 413, before or after gunzip; bad gzip and unknown encodings are refused', async () => {
    const big = `env,device=aq-1 pm25=1 ${'x'.repeat(70_000)}`
    expect((await post('/api/v2/write', big, { Authorization: basic('aq-1') })).status).toBe(413)
    const bomb = gzipSync(Buffer.alloc(10_000_000, 'a'))
    expect(bomb.length).toBeLessThan(65_536)
    expect((await post('/api/v2/write', bomb, { Authorization: basic('aq-1'), 'Content-Encoding': 'gzip' })).status).toBe(413)
    expect((await post('/api/v2/write', 'not gzip at all', { Authorization: basic('aq-1'), 'Content-Encoding': 'gzip' })).status).toBe(400)
    expect((await post('/api/v2/write', 'x', { Authorization: basic('aq-1'), 'Content-Encoding': 'br' })).status).toBe(415)
    // The service is still well.
    expect((await fetch(`${url}/ping`)).status).toBe(204)
  })

  test('/ping and /health answer as InfluxDB clients expect; unknown paths and methods are refused', async () => {
    expect((await fetch(`${url}/ping`)).status).toBe(204)
    const health = await fetch(`${url}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'pass' })
    expect((await fetch(`${url}/query?q=show+databases`)).status).toBe(404)
    expect((await fetch(`${url}/write`)).status).toBe(405)
  })
})

describe('Sensor.Community (airrohr firmware)', () => {
  const firmware = (chip: string, values: Record<string, string>) => ({
    body: JSON.stringify({ esp8266id: chip, software_version: 'NRZ-2024-135', sensordatavalues: Object.entries(values).map(([value_type, value]) => ({ value_type, value })) }),
    headers: { 'Content-Type': 'application/json', 'X-Sensor': `esp8266-${chip}`, 'X-MAC-ID': 'esp8266-5ccf7f3a1b2c', 'User-Agent': 'NRZ-2024-135/12779556/15.00' },
  })

  test('the firmware\'s POST, logged in as the device: string values stored as catalogue metrics at the receive time', async () => {
    const before = Date.now()
    const { body, headers } = firmware('12779556', { SDS_P1: '31.52', SDS_P2: '27.22', temperature: '27.70', humidity: '93.60', samples: '642046', min_micro: '216', max_micro: '43243', signal: '-53' })
    const res = await post('/sensor-community', body, { ...headers, Authorization: basic('aq-nhabe') })
    expect(res.status).toBe(204)
    const stored = await rows('aq-nhabe')
    expect(stored.map((r) => [r.metric, r.value]).sort()).toEqual([['humidity', 93.6], ['pm10', 31.52], ['pm25', 27.22], ['temperature', 27.7]])
    expect(stored[0]!.time).toBeGreaterThanOrEqual(before)
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/gridline_http_ignored_values_total\{component_id="http",field="signal"\} 1/)
  })

  test('a gateway token posts for the chips behind it; an unknown chip is dead-lettered as device_unknown and answered 400', async () => {
    const behind = firmware('424242', { SDS_P2: '8.5' })
    expect((await post('/sensor-community', behind.body, { ...behind.headers, Authorization: basic('gw-1', gatewayToken) })).status).toBe(204)
    expect((await rows('aq-behind')).some((r) => r.metric === 'pm25' && r.value === 8.5)).toBe(true)
    const stranger = firmware('99999999', { SDS_P2: '8.5' })
    const res = await post('/sensor-community', stranger.body, { ...stranger.headers, Authorization: basic('gw-1', gatewayToken) })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ stored: 0, rejected: [{ reason: 'device_unknown' }] })
    expect((await deadLetters(null, 'device_unknown')).map((r) => r.detail)).toContainEqual(expect.stringContaining('sensorCommunityId 99999999'))
  })

  test('without a login it is refused (requireAuth is on by default)', async () => {
    const { body, headers } = firmware('12779556', { SDS_P2: '1' })
    expect((await post('/sensor-community', body, headers)).status).toBe(401)
  })
})

describe('gridline JSON over HTTP', () => {
  test('a device\'s readings: 204 when all are stored; 200 with the refusals and their reasons when some are not', async () => {
    const ok = await post('/v1/telemetry', JSON.stringify([{ ts: 1764982900000, values: { pm25: 3 } }, { ts: 1764982901000, values: { pm25: 4 } }]), { Authorization: basic('aq-1'), 'Content-Type': 'application/json' })
    expect(ok.status).toBe(204)
    const some = await post('/v1/telemetry', JSON.stringify([{ ts: 1764982902000, values: { pm25: 5, pm2_5: 1 } }]), { Authorization: basic('aq-1') })
    expect(some.status).toBe(200)
    expect(await some.json()).toMatchObject({ stored: 1, readings: 1, refused: 1, rejected: [{ reason: 'metric_unknown', device: 'aq-1' }] })
    const bad = await post('/v1/telemetry', '{"values":', { Authorization: basic('aq-1') })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ stored: 0, rejected: [{ reason: 'json_malformed' }] })
  })

  test('a gateway batch with its token', async () => {
    const res = await post('/v1/telemetry', JSON.stringify({ readings: [{ device: 'pump-1', domain: 'water', ts: 1764982903000, values: { flow: 42 } }] }), { Authorization: `Token ${gatewayToken}` })
    expect(res.status).toBe(204)
    expect(await rows('pump-1')).toContainEqual({ metric: 'flow', time: 1764982903000, value: 42 })
  })
})

describe('backpressure', () => {
  test('while the pipeline is congested, writes get 503 with Retry-After and are not stored; the one taken in is answered after its commit', async () => {
    const small = await startTestService({
      database: db,
      config: { sources: { http: { type: 'http', host: '127.0.0.1', port: 0 } }, processors: { onSecondInstance: 'warn' }, ingest: { maxPendingRows: 3 } },
    })
    const unlock = await lockTelemetry()
    try {
      const surl = small.sourceUrl('http')
      const first = fetch(`${surl}/api/v2/write?precision=ms`, { method: 'POST', body: 'env,device=aq-1 pm25=1,pm10=2,temperature=3,humidity=4 1764983000000', headers: { Authorization: basic('aq-1') } })
      await new Promise((resolve) => setTimeout(resolve, 300))
      const second = await fetch(`${surl}/api/v2/write?precision=ms`, { method: 'POST', body: 'env,device=aq-1 pm25=9 1764983001000', headers: { Authorization: basic('aq-1') } })
      expect(second.status).toBe(503)
      expect(second.headers.get('retry-after')).toBe('1')
      await unlock()
      expect((await first).status).toBe(204)
      expect((await rows('aq-1')).some((r) => r.time === 1764983001000)).toBe(false)
    } finally {
      await unlock()
      await small.stop()
    }
  })
})

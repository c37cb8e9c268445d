import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TokenStore } from '../../devices/tokens.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type TestDatabase, type TestService, createMigratedTestDatabase, startTestService } from '../../testing/index.ts'
import { deadLetters, lockTable, telemetryRowsWithSeq } from './test-helpers.ts'

// The Things Stack v3 webhook against a real service and PostgreSQL: bodies
// as TTS's Application Server posts them (JSON format, the message type's
// path appended to the base URL, the token in an additional header).

let db: TestDatabase
let t: TestService
let token: string
let url: string

const DEVICES = [
  { id: 'tts-danang', kind: 'gateway' as const },
  { id: 'gw-other', kind: 'gateway' as const },
  // DevEUIs registered as the TTS console shows them (upper case) and as some people type them (lower case).
  { id: 'wm-hai-chau-01', domain: 'water', gateway: 'tts-danang', metadata: { devEui: '70B3D57ED005B89A' } },
  { id: 'wm-son-tra-02', domain: 'water', gateway: 'tts-danang', metadata: { devEui: '70b3d57ed005b8aa' } },
  { id: 'wm-elsewhere', domain: 'water', gateway: 'gw-other', metadata: { devEui: '70B3D57ED005B8BB' } },
]

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  t = await startTestService({
    database: db,
    devices: DEVICES,
    config: {
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, thingsStack: { fields: { water_pressure_bar: 'pressure', 'meter.flowRate': 'flow' } } } },
      processors: { onSecondInstance: 'warn' },
    },
  })
  url = t.sourceUrl('http')
  token = (await new TokenStore(pgSqlClient(db.pool)).create('tts-danang', 'The Things Stack webhook')).token
})

afterAll(async () => {
  await t?.stop()
  await db?.drop()
})

/** RFC 3339 with nanoseconds, as TTS writes its times. */
const nanos = (ms: number, rest = '456789') => `${new Date(ms).toISOString().slice(0, -1)}${rest}Z`

/** A whole uplink_message webhook body as The Things Stack v3 posts it. */
function uplink(devEui: string, deviceId: string, fCnt: number, gatewayMs: number, decoded: Record<string, unknown>): Record<string, unknown> {
  return {
    end_device_ids: { device_id: deviceId, application_ids: { application_id: 'danang-water-meters' }, dev_eui: devEui, join_eui: '70B3D57ED0000001', dev_addr: '260BABCD' },
    correlation_ids: ['as:up:01JEKPQ9ZQ8YF7M3K2W1V0T9SR', 'gs:conn:01JEKN1B0V4X6Z8A0C2E4G6J8L', 'gs:up:host:01JEKN1B0W2Y4A6C8E0G2J4L6N', 'gs:uplink:01JEKPQ9ZJ4N6B8C0D2E4F6G8H', 'ns:uplink:01JEKPQ9ZK3M5P7R9T1V3X5Z7B', 'rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01JEKPQ9ZK0A2C4E6G8J0L2N4Q', 'rpc:/ttn.lorawan.v3.NsAs/HandleUplink:01JEKPQA1D8F0H2K4M6P8R0T2V'],
    received_at: nanos(gatewayMs + 290),
    uplink_message: {
      session_key_id: 'AZOyxCsYxkqEcwY9bFZq7w==',
      f_port: 2,
      f_cnt: fCnt,
      frm_payload: 'AUABBAAxAg==',
      decoded_payload: decoded,
      decoded_payload_warnings: [],
      rx_metadata: [
        {
          gateway_ids: { gateway_id: 'eui-a840411d0d4c4150', eui: 'A840411D0D4C4150' },
          time: nanos(gatewayMs, '000000'),
          timestamp: 2954823011,
          rssi: -97,
          channel_rssi: -97,
          snr: 7.25,
          location: { latitude: 16.0544, longitude: 108.2022, altitude: 12, source: 'SOURCE_REGISTRY' },
          uplink_token: 'CiIKIAoUZXVpLWE4NDA0MTFkMGQ0YzQxNTASCKhAQR0NTEFQEOP4ru8KGgwIhYvDugYQgOKNqwIgmJHCnIHYCQ==',
          channel_index: 3,
          received_at: nanos(gatewayMs + 40, '118000'),
        },
        {
          gateway_ids: { gateway_id: 'danang-son-tra-rooftop', eui: '00800000A0001F2B' },
          timestamp: 118349208,
          rssi: -112,
          channel_rssi: -112,
          snr: -4.5,
          uplink_token: 'CiQKIgoWZGFuYW5nLXNvbi10cmEtcm9vZnRvcBIIAIAAAKAAHysQmJ/3OBoMCIWLw7oGEJCm96wCIMCB8ozVBg==',
          channel_index: 3,
          received_at: nanos(gatewayMs + 52, '904000'),
        },
      ],
      settings: {
        data_rate: { lora: { bandwidth: 125000, spreading_factor: 9, coding_rate: '4/5' } },
        frequency: '923400000',
        timestamp: 2954823011,
        time: nanos(gatewayMs, '000000'),
      },
      received_at: nanos(gatewayMs + 61, '221983'),
      consumed_airtime: '0.205824s',
      network_ids: { net_id: '000013', ns_id: 'EC656E0000000181', tenant_id: 'ttn', cluster_id: 'au1', cluster_address: 'au1.cloud.thethings.network' },
    },
  }
}

const post = (path: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'User-Agent': 'TheThingsStack/3.33.1 (linux/amd64)', ...headers } })
const header = () => ({ 'X-Gridline-Token': token })

describe('The Things Stack v3 webhook', () => {
  test('an uplink with the token in the additional header is stored: the device by DevEUI, decoded_payload as metrics, the gateway time as ts, f_cnt as seq', async () => {
    const at = Date.now() - 120_000
    const res = await post('/things-stack/uplink', uplink('70B3D57ED005B89A', 'wm-hai-chau-01', 1834, at, { water_pressure_bar: 3.2, level: 1.25, meter: { flowRate: 12.5 } }), header())
    expect(res.status).toBe(204)
    expect(await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).toEqual([
      { metric: 'flow', time: at, value: 12.5, seq: 1834 },
      { metric: 'level', time: at, value: 1.25, seq: 1834 },
      { metric: 'pressure', time: at, value: 3.2, seq: 1834 },
    ])
  })

  test('Authorization: Bearer works too, on the bare base URL; the same uplink sent again (a TTS retry) is stored once', async () => {
    const at = Date.now() - 110_000
    const body = uplink('70B3D57ED005B89A', 'wm-hai-chau-01', 1835, at, { level: 1.5 })
    expect((await post('/things-stack', body, { Authorization: `Bearer ${token}` })).status).toBe(204)
    expect((await post('/things-stack/uplink', body, header())).status).toBe(204)
    expect((await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).filter((r) => r.time === at)).toEqual([{ metric: 'level', time: at, value: 1.5, seq: 1835 }])
  })

  test('the DevEUI matches in either case: upper case against a lower-case registration and the other way round', async () => {
    const at = Date.now() - 100_000
    expect((await post('/things-stack/uplink', uplink('70B3D57ED005B8AA', 'wm-son-tra-02', 7, at, { level: 2.25 }), header())).status).toBe(204)
    expect((await post('/things-stack/uplink', uplink('70b3d57ed005b89a', 'wm-hai-chau-01', 1836, at, { level: 1.75 }), header())).status).toBe(204)
    expect(await telemetryRowsWithSeq(db.pool, 'wm-son-tra-02')).toEqual([{ metric: 'level', time: at, value: 2.25, seq: 7 }])
    expect((await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).filter((r) => r.time === at)).toEqual([{ metric: 'level', time: at, value: 1.75, seq: 1836 }])
  })

  test('a wrong or absent secret is 401 and nothing is stored', async () => {
    const at = Date.now() - 90_000
    const body = uplink('70B3D57ED005B89A', 'wm-hai-chau-01', 1837, at, { level: 9 })
    const wrong = await post('/things-stack/uplink', body, { 'X-Gridline-Token': 'glt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
    expect(wrong.status).toBe(401)
    const none = await post('/things-stack/uplink', body, {})
    expect(none.status).toBe(401)
    expect(((await none.json()) as { message: string }).message).toContain('X-Gridline-Token')
    expect((await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).some((r) => r.time === at)).toBe(false)
  })

  test('a DevEUI registered behind another gateway is refused: 200 (TTS would resend anything else) with the reason in the body and in rejected', async () => {
    const res = await post('/things-stack/uplink', uplink('70B3D57ED005B8BB', 'wm-elsewhere', 3, Date.now() - 80_000, { level: 4 }), header())
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ stored: 0, refused: 1, rejected: [{ reason: 'device_not_behind_gateway', device: 'wm-elsewhere' }] })
    expect(await deadLetters(db.pool, 'wm-elsewhere', 'device_not_behind_gateway')).toEqual([{ detail: expect.stringContaining('not registered behind gateway "tts-danang"'), topic: '/things-stack/uplink' }])
    expect(await telemetryRowsWithSeq(db.pool, 'wm-elsewhere')).toEqual([])
  })

  test('an unknown DevEUI is dead-lettered with the command that registers it', async () => {
    const res = await post('/things-stack/uplink', uplink('70B3D57ED005B8CC', 'wm-new-09', 0, Date.now() - 70_000, { level: 4 }), header())
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ rejected: [{ reason: 'device_unknown' }] })
    expect((await deadLetters(db.pool, null, 'device_unknown')).map((r) => r.detail)).toContainEqual(expect.stringContaining(`gridline devices add wm-new-09 --domain <domain> --gateway tts-danang --metadata '{"devEui": "70B3D57ED005B8CC"}'`))
  })

  test('a join_accept is answered 204, stores nothing and is counted', async () => {
    const before = await db.pool.query<{ n: string }>('SELECT (SELECT count(*) FROM telemetry) + (SELECT count(*) FROM rejected) AS n')
    const join = {
      end_device_ids: { device_id: 'wm-hai-chau-01', application_ids: { application_id: 'danang-water-meters' }, dev_eui: '70B3D57ED005B89A', join_eui: '70B3D57ED0000001', dev_addr: '260B1F2E' },
      correlation_ids: ['as:up:01JEKQ0A1B2C3D4E5F6G7H8J9K', 'ns:uplink:01JEKQ0A0Z9Y8X7W6V5T4S3R2Q'],
      received_at: nanos(Date.now() - 1_000),
      join_accept: { session_key_id: 'AZOyxCsYxkqEcwY9bFZq7w==', received_at: nanos(Date.now() - 1_200) },
    }
    expect((await post('/things-stack/join-accept', join, header())).status).toBe(204)
    const after = await db.pool.query<{ n: string }>('SELECT (SELECT count(*) FROM telemetry) + (SELECT count(*) FROM rejected) AS n')
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n)
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/gridline_http_things_stack_events_total\{component_id="http",event="join_accept"\} 1/)
  })

  test('nothing is answered before the commit: with telemetry locked no 2xx comes; after, it does and the rows are there', async () => {
    const at = Date.now() - 60_000
    const unlock = await lockTable(db.url, 'telemetry')
    let status: number | undefined
    const pending = post('/things-stack/uplink', uplink('70B3D57ED005B89A', 'wm-hai-chau-01', 1838, at, { level: 1.8 }), header()).then((r) => { status = r.status })
    try {
      await new Promise((resolve) => setTimeout(resolve, 700))
      expect(status).toBeUndefined()
    } finally {
      await unlock()
    }
    await pending
    expect(status).toBe(204)
    expect((await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).some((r) => r.time === at && r.seq === 1838)).toBe(true)
  })

  test('while the pipeline holds writes back, an uplink is 503 with Retry-After and not stored (TTS, with retries on, sends it again)', async () => {
    const small = await startTestService({
      database: db,
      config: { sources: { http: { type: 'http', host: '127.0.0.1', port: 0 } }, processors: { onSecondInstance: 'warn' }, ingest: { maxPendingRows: 3 } },
    })
    const unlock = await lockTable(db.url, 'telemetry')
    const at = Date.now() - 40_000
    try {
      const surl = small.sourceUrl('http')
      const send = (fCnt: number, ms: number, decoded: Record<string, unknown>) => fetch(`${surl}/things-stack/uplink`, { method: 'POST', body: JSON.stringify(uplink('70B3D57ED005B89A', 'wm-hai-chau-01', fCnt, ms, decoded)), headers: header() })
      const first = send(1840, at, { level: 1.1, pressure: 3.1, flow: 10, ph: 7.1 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      const second = await send(1841, at + 1_000, { level: 1.2 })
      expect(second.status).toBe(503)
      expect(second.headers.get('retry-after')).toBe('1')
      await unlock()
      expect((await first).status).toBe(204)
      expect((await telemetryRowsWithSeq(db.pool, 'wm-hai-chau-01')).some((r) => r.seq === 1841)).toBe(false)
    } finally {
      await unlock()
      await small.stop()
    }
  })

  test('a device login is 403: the webhook logs in as the gateway', async () => {
    const deviceToken = (await new TokenStore(pgSqlClient(db.pool)).create('wm-hai-chau-01')).token
    const res = await post('/things-stack/uplink', uplink('70B3D57ED005B89A', 'wm-hai-chau-01', 1839, Date.now() - 50_000, { level: 1 }), { 'X-Gridline-Token': deviceToken })
    expect(res.status).toBe(403)
  })
})

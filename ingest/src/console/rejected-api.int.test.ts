import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

// The refusals in the console API: /api/rejected (operator and admin) and a
// device's summary (/api/devices/:id/rejections, any role), against the real
// service, PostgreSQL and a real MQTT client.

let t: TestService
let base: string
let device: MqttClient
const cookies: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' }
const DEVICE_PASSWORD = 'device secret 0123456789'

async function get(cookie: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { headers: { cookie } })
  return { status: res.status, body: await res.json() }
}

beforeAll(async () => {
  const passwords = { admin: 'ada-admin-password-1', operator: 'olly-operator-pass-2', viewer: 'vic-viewer-password-3' }
  t = await startTestService({
    devices: [
      { id: 'aq-1', domain: 'environment', password: DEVICE_PASSWORD },
      { id: 'aq-2', domain: 'environment', password: DEVICE_PASSWORD },
    ],
    users: (['admin', 'operator', 'viewer'] as const).map((role) => ({ name: role, password: passwords[role], role })),
  })
  base = t.httpUrl
  for (const role of ['admin', 'operator', 'viewer'] as const) {
    const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ username: role, password: passwords[role] }) })
    expect(res.status).toBe(200)
    cookies[role] = (res.headers.get('set-cookie') ?? '').split(';')[0]!
  }
  device = await mqtt.connectAsync(t.mqttUrl, { username: 'aq-1', password: DEVICE_PASSWORD, reconnectPeriod: 0 })
  // A value as a string, a typo'd metric name, markup and bytes that are not UTF-8.
  await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { pm25: 'twelve' } }), { qos: 1 })
  await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { 'PM2.5': 3 } }), { qos: 1 })
  await device.publishAsync('telemetry/environment/aq-1', '<img src=x onerror=alert(1)>', { qos: 1 })
  await device.publishAsync('telemetry/environment/aq-1', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { qos: 1 })
})

afterAll(async () => {
  await device?.endAsync(true).catch(() => undefined)
  await t?.stop()
})

test('operators and admins list refusals with their payload as text, newest first; viewers are refused', async () => {
  for (const role of ['operator', 'admin'] as const) {
    const { status, body } = await get(cookies[role], '/api/rejected')
    expect(status).toBe(200)
    expect(body.entries.map((e: any) => e.reason)).toEqual(['payload_not_utf8', 'json_malformed', 'metric_name_invalid', 'value_invalid'])
    expect(body.entries[1]).toMatchObject({ deviceId: 'aq-1', topic: 'telemetry/environment/aq-1', payloadText: '<img src=x onerror=alert(1)>', payloadBytes: 28, payloadTruncated: false })
    expect(body.entries[0].payloadText).toBe('{\uFFFD\uFFFD}')
    expect(body.entries[3].payloadText).toContain('"pm25":"twelve"')
    expect(typeof body.entries[3].detail).toBe('string')
    expect(body.next).toBeUndefined()
  }
  expect(await get(cookies.viewer, '/api/rejected')).toMatchObject({ status: 403, body: { error: { code: 'GRIDLINE_FORBIDDEN' } } })
  expect((await get('', '/api/rejected')).status).toBe(401)
})

test('filters by device, reason and since, and pages back with next', async () => {
  const op = cookies.operator
  expect((await get(op, '/api/rejected?reason=json_malformed')).body.entries.map((e: any) => e.reason)).toEqual(['json_malformed'])
  expect((await get(op, '/api/rejected?device=aq-2')).body.entries).toEqual([])
  expect((await get(op, '/api/rejected?device=aq-1&since=1h')).body.entries).toHaveLength(4)
  expect((await get(op, `/api/rejected?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.entries).toEqual([])
  const first = (await get(op, '/api/rejected?limit=3')).body
  expect(first.entries).toHaveLength(3)
  const second = (await get(op, `/api/rejected?limit=3&before=${first.next}`)).body
  expect(second.entries.map((e: any) => e.reason)).toEqual(['value_invalid'])
  expect(second.next).toBeUndefined()
  expect(await get(op, '/api/rejected?since=yesterday')).toMatchObject({ status: 400, body: { error: { code: 'GRIDLINE_BAD_REQUEST' } } })
  expect((await get(op, '/api/rejected?limit=0')).status).toBe(400)
})

test('a device\'s summary counts its refusals by reason for any role, without payloads', async () => {
  await waitFor(async () => (await get(cookies.viewer, '/api/devices/aq-1/rejections')).body.total === 4, 5_000, 'four refusals')
  const { status, body } = await get(cookies.viewer, '/api/devices/aq-1/rejections?since=1h&latest=2')
  expect(status).toBe(200)
  expect(body.total).toBe(4)
  expect(body.byReason).toHaveLength(4)
  expect(body.latest.map((e: any) => e.reason)).toEqual(['payload_not_utf8', 'json_malformed'])
  expect(Object.keys(body.latest[0]).sort()).toEqual(['detail', 'id', 'reason', 'receivedAt', 'topic'])
  expect((await get(cookies.viewer, '/api/devices/aq-2/rejections')).body).toMatchObject({ total: 0, byReason: [], latest: [] })
  expect((await get(cookies.viewer, '/api/devices/nope/rejections')).status).toBe(404)
})

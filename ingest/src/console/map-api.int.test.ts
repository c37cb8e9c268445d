import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

// The console map's API against the real service and PostgreSQL: GET /api/map
// (who may read it, its columns, the base map from console.map), the live
// stream's `map` events when a device comes online or raises an alarm, the
// admin's location edit (POST /api/devices/:id/metadata) and the policy that
// lets the browser reach the configured tile server and nothing else.

let t: TestService
let base: string
const cookies: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' }
const TILES = 'https://gis.danang.example/tiles/{z}/{x}/{y}.png'

async function call(cookie: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { cookie, ...(method === 'GET' ? {} : { origin: base, 'content-type': 'application/json' }) },
    ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers }
}

/** Reads the live stream until `until` says stop. */
async function readLive(cookie: string, query: string, until: (events: any[]) => boolean, timeoutMs = 10_000): Promise<any[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const res = await fetch(`${base}/api/live?${query}`, { headers: { cookie }, signal: controller.signal })
  const events: any[] = []
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer.slice(0, end).split('\n').find((l) => l.startsWith('data: '))
        buffer = buffer.slice(end + 2)
        if (data) events.push(JSON.parse(data.slice(6)))
      }
      if (until(events)) break
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  return events
}

beforeAll(async () => {
  t = await startTestService({
    config: { console: { map: { tileUrl: TILES, attribution: '© Đà Nẵng GIS' } } },
    devices: [
      { id: 'aq-hc', domain: 'environment', metadata: { district: 'Hải Châu', latitude: 16.0544, longitude: 108.2022 } },
      { id: 'tc-st', domain: 'traffic', metadata: { district: 'Sơn Trà', lat: 16.08, lon: 108.24 } },
      { id: 'wm-x', domain: 'water', metadata: { district: 'Cẩm Lệ' } },
    ],
    users: (['admin', 'operator', 'viewer'] as const).map((role) => ({ name: role, password: `${role}-password-map-1`, role })),
  })
  base = t.httpUrl
  for (const role of ['admin', 'operator', 'viewer'] as const) cookies[role] = await t.login(role, `${role}-password-map-1`)
}, 120_000)

afterAll(async () => {
  await t?.stop()
})

test('GET /api/map needs a session; a viewer gets every placed device as columns and the base map', async () => {
  expect((await call('', 'GET', '/api/map')).status).toBe(401)
  const { status, body, headers } = await call(cookies.viewer, 'GET', '/api/map')
  expect(status).toBe(200)
  expect(headers.get('cache-control')).toBe('no-store')
  expect(body.ids).toEqual(['aq-hc', 'tc-st'])
  expect(body.lon).toEqual([108.2022, 108.24])
  expect(body.lat).toEqual([16.0544, 16.08])
  expect(body.domain.map((i: number) => body.domains[i])).toEqual(['environment', 'traffic'])
  expect(body.district.map((i: number) => body.districts[i])).toEqual(['Hải Châu', 'Sơn Trà'])
  expect(body.state.map((i: number) => body.states[i])).toEqual(['offline', 'offline'])
  expect(body.alarm).toEqual([-1, -1])
  expect(body.unplaced).toBe(1)
  expect(body.base).toEqual({ kind: 'raster', tiles: [TILES], tileSizePx: 256, center: [108.2022, 16.0544], zoom: 11.5, attribution: '© Đà Nẵng GIS' })
  // The page may load the configured tiles, and images and fetches from nowhere else.
  const csp = headers.get('content-security-policy') ?? ''
  expect(csp).toContain("img-src 'self' data: blob: https://gis.danang.example")
  expect(csp).toContain("connect-src 'self' https://gis.danang.example")
  expect(csp).toContain("script-src 'self';")
})

test('the live stream\'s map events: a device that reports comes online, one with an alarm carries its severity, waiting until acknowledged', async () => {
  const { body: before } = await call(cookies.viewer, 'GET', '/api/map')
  const events = readLive(cookies.viewer, 'kinds=map', (es) => es.some((e) => e.rows?.some((r: any[]) => r[0] === 'tc-st' && r[6] === 0)) , 15_000)
  const device = await t.connect('aq-hc')
  await device.publishAsync('telemetry/environment/aq-hc', JSON.stringify({ ts: Date.now(), values: { pm25: 12 } }), { qos: 1 })
  await waitFor(async () => (await call(cookies.viewer, 'GET', '/api/map')).body.state[0] === 0, 10_000, 'aq-hc online on the map')
  const raised = await call(cookies.operator, 'POST', '/api/alarms', { ruleId: 'manual', subject: 'tc-st', severity: 'critical', message: 'Camera knocked over', deviceId: 'tc-st' })
  expect(raised.status).toBe(200)
  const seen = await events
  const maps = seen.filter((e) => e.kind === 'map')
  expect(maps.length).toBeGreaterThan(0)
  // The versions chain from the snapshot fetched before (each page applies the next one, or fetches again).
  for (const [i, e] of maps.entries()) {
    expect(e.version).toBe(e.from + 1)
    if (i > 0) expect(e.from).toBe(maps[i - 1].version)
  }
  expect(maps[0].from).toBeGreaterThanOrEqual(before.version)
  const rows = maps.flatMap((e) => e.rows)
  expect(rows).toContainEqual(['aq-hc', 108.2022, 16.0544, 'environment', 'Hải Châu', 0, -1, 0])
  expect(rows).toContainEqual(['tc-st', 108.24, 16.08, 'traffic', 'Sơn Trà', 2, 0, 1])
  // Acknowledged: still critical, no longer waiting (the page stops its pulse).
  const alarmId = raised.body.alarm.alarmId ?? raised.body.alarm.id
  expect((await call(cookies.operator, 'POST', `/api/alarms/${encodeURIComponent(alarmId)}/ack`, {})).status).toBe(200)
  await waitFor(async () => (await call(cookies.viewer, 'GET', '/api/map')).body.unacked[1] === 0, 10_000, 'the alarm acknowledged on the map')
  expect((await call(cookies.viewer, 'GET', '/api/map')).body.alarm[1]).toBe(0)
})

test('an admin sets a device\'s location; a bad one is refused with the key; others may not', async () => {
  expect((await call(cookies.operator, 'POST', '/api/devices/wm-x/metadata', { metadata: { latitude: 16.01, longitude: 108.2 } })).status).toBe(403)
  const bad = await call(cookies.admin, 'POST', '/api/devices/wm-x/metadata', { metadata: { latitude: '16.01', longitude: 108.2 } })
  expect(bad.status).toBe(400)
  expect(bad.body.error.message).toMatch(/metadata\.latitude: a number of degrees/)
  expect((await call(cookies.admin, 'POST', '/api/devices/nobody/metadata', { metadata: { latitude: 16 } })).status).toBe(404)
  const ok = await call(cookies.admin, 'POST', '/api/devices/wm-x/metadata', { metadata: { latitude: 16.01, longitude: 108.2 } })
  expect(ok.status).toBe(200)
  expect(ok.body.device.metadata).toEqual({ district: 'Cẩm Lệ', latitude: 16.01, longitude: 108.2 })
  // The registry follows the database (LISTEN/NOTIFY); the map then places it.
  await waitFor(async () => (await call(cookies.viewer, 'GET', '/api/map')).body.ids.includes('wm-x'), 10_000, 'wm-x on the map')
  const { body } = await call(cookies.viewer, 'GET', '/api/map')
  expect(body.unplaced).toBe(0)
  const audit = await call(cookies.admin, 'GET', '/api/audit?limit=5')
  expect(audit.body.entries.some((e: any) => e.action === 'device.metadata' && e.target === 'wm-x')).toBe(true)
})

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import http, { type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createLogger } from '@gridline/core'
import { StreamHub, type IndicatorEvent } from '@gridline/processors'
import { waitFor } from '../../../../test/support.ts'
import type { GridlineNodeRuntime } from '@gridline/dashboards'
import { GRIDLINE_NODES_DIR, embedNodeRed, type EmbeddedNodeRed } from './embed.ts'
import { hubSubscribe } from './runtime.ts'

// Sessions for the test: the cookie names the user, as the lead's session check would resolve it.
const USERS = { 'tok-admin': { name: 'ana', role: 'admin' }, 'tok-viewer': { name: 'vu', role: 'viewer' } } as const

async function authorize(req: IncomingMessage) {
  const token = /gridline_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1]
  return (token && USERS[token as keyof typeof USERS]) || null
}

interface Recorder {
  runtime: GridlineNodeRuntime
  raised: Array<{ input: Record<string, unknown>; actor: string }>
  cleared: Array<{ input: Record<string, unknown>; actor: string }>
  commands: Array<{ input: Record<string, unknown>; actor: string }>
}

/** The real hub behind subscribe; alarms and commands are recorded (the lead wires the real ones). */
function recordingRuntime(hub: StreamHub): Recorder {
  const r: Recorder = {
    raised: [],
    cleared: [],
    commands: [],
    runtime: {
      subscribe: hubSubscribe(hub),
      async raiseAlarm(input, actor) {
        r.raised.push({ input, actor })
        return { alarmId: `a${r.raised.length}`, ...input, state: 'raised' }
      },
      async clearAlarm(input, actor) {
        r.cleared.push({ input, actor })
        return true
      },
      async sendCommand(input, actor) {
        r.commands.push({ input, actor })
        return { id: `c${r.commands.length}`, status: 'ok', detail: null }
      },
      lookupDevice: (id) => (id.startsWith('lamp-') ? { id, domain: 'lighting', metadata: { roadSegment: 'Bạch Đằng' } } : undefined),
    },
  }
  return r
}

interface Service {
  app: FastifyInstance
  hub: StreamHub
  rec: Recorder
  red: EmbeddedNodeRed
  base: string
  port: number
  userDir: string
  audits: Array<{ actor: string; action: string; detail: Record<string, unknown> }>
  logs: Array<{ level: number; msg: string }>
  close(): Promise<void>
}

async function startService(maxEventsPerSecond = 20): Promise<Service> {
  const userDir = mkdtempSync(join(tmpdir(), 'gridline-node-red-'))
  const logs: Service['logs'] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line))
      done()
    },
  })
  const logger = createLogger({ level: 'info', destination: sink })
  const hub = new StreamHub()
  const rec = recordingRuntime(hub)
  const audits: Service['audits'] = []
  const app = Fastify({ logger: false })
  // The rest of the service's API keeps fastify's JSON parsing: the Node-RED scope must not change it.
  app.post('/api/echo', async (req) => ({ body: req.body }))
  const red = await embedNodeRed(
    { userDir, path: '/flows', maxEventsPerSecond },
    { app, authorize, runtime: rec.runtime, audit: (actor, action, detail) => audits.push({ actor, action, detail }), logger },
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  await red.start(app.server)
  const port = (app.server.address() as AddressInfo).port
  return {
    app, hub, rec, red, userDir, audits, logs, port,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await red.stop()
      await app.close()
      hub.close()
      rmSync(userDir, { recursive: true, force: true })
    },
  }
}

// Node-RED's admin API answers loosely typed JSON: the assertions check its shape.
async function body(res: Response): Promise<any> {
  return res.json()
}

const admin = { cookie: 'gridline_session=tok-admin' }

async function deploy(s: Service, flows: unknown[]): Promise<Response> {
  return fetch(`${s.base}/flows/flows`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify(flows),
  })
}

function readExample(name: string): Array<Record<string, unknown>> {
  return JSON.parse(readFileSync(join(GRIDLINE_NODES_DIR, 'examples', name), 'utf8'))
}

function indicator(key: string, value: number, level: string, name = 'vn_aqi_hourly'): IndicatorEvent {
  return { kind: 'indicator', name, scope: 'district', key, time: Date.now(), value, level }
}

/** Resolves with the status of the answer to a websocket upgrade (101 when accepted). */
function upgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      port, host: '127.0.0.1', path,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve(res.statusCode ?? 0)
    })
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('Node-RED embedded at /flows', () => {
  let s: Service

  beforeAll(async () => {
    s = await startService()
  })
  afterAll(async () => {
    await s?.close()
  })

  test('without a session a browser is sent to the login page and an API call gets 401', async () => {
    const page = await fetch(`${s.base}/flows/`, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml' } })
    expect(page.status).toBe(302)
    expect(page.headers.get('location')).toBe('/#/login?next=/flows')
    const api = await fetch(`${s.base}/flows/settings`, { headers: { accept: 'application/json' } })
    expect(api.status).toBe(401)
    expect((await body(api)).error.code).toBe('GRIDLINE_UNAUTHENTICATED')
    const post = await fetch(`${s.base}/flows/flows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })
    expect(post.status).toBe(401)
    const httpIn = await fetch(`${s.base}/flows/api/anything`)
    expect(httpIn.status).toBe(401)
  })

  test('a viewer gets 403: a page saying so in a browser, the JSON error for an API client', async () => {
    const res = await fetch(`${s.base}/flows/`, { headers: { cookie: 'gridline_session=tok-viewer', accept: 'text/html,application/xhtml+xml' } })
    expect(res.status).toBe(403)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const page = await res.text()
    expect(page).toContain('Node-RED is for administrators')
    expect(page).toContain('logged in as <strong>vu</strong>, a viewer')
    expect(page).toContain('Node-RED chỉ dành cho quản trị viên')
    expect(page).toContain('<a href="/">Back to the console</a>')
    const api = await fetch(`${s.base}/flows/settings`, { headers: { cookie: 'gridline_session=tok-viewer', accept: 'application/json' } })
    expect(api.status).toBe(403)
    expect((await body(api)).error.code).toBe('GRIDLINE_FORBIDDEN')
  })

  test('an admin gets the editor, titled gridline flows', async () => {
    const bare = await fetch(`${s.base}/flows`, { redirect: 'manual', headers: admin })
    expect(bare.status).toBe(301)
    expect(bare.headers.get('location')).toBe('/flows/')
    const res = await fetch(`${s.base}/flows/`, { headers: { ...admin, accept: 'text/html' } })
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toContain('<title>gridline flows</title>')
    const settings = await body(await fetch(`${s.base}/flows/settings`, { headers: admin }))
    expect(settings.httpNodeRoot).toBe('/flows/api')
    expect(JSON.stringify(settings)).not.toContain('credentialSecret')
  })

  test('the gridline nodes are registered and the palette cannot install modules', async () => {
    const nodes = await body(await fetch(`${s.base}/flows/nodes`, { headers: { ...admin, accept: 'application/json' } }))
    const types = nodes.flatMap((set: { types: string[] }) => set.types)
    expect(types).toEqual(expect.arrayContaining(['gridline in', 'gridline alarm', 'gridline command']))
    const install = await fetch(`${s.base}/flows/nodes`, {
      method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ module: 'node-red-contrib-anything' }),
    })
    expect(install.status).toBeGreaterThanOrEqual(400)
  })

  test('the credential secret is a 0600 file in userDir, never a log line', () => {
    const mode = statSync(join(s.userDir, '.credential-secret')).mode & 0o777
    expect(mode).toBe(0o600)
    const secret = readFileSync(join(s.userDir, '.credential-secret'), 'utf8')
    expect(JSON.stringify(s.logs)).not.toContain(secret)
  })

  test('fastify still parses JSON bodies outside /flows', async () => {
    const res = await fetch(`${s.base}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(await body(res)).toEqual({ body: { a: 1 } })
  })

  test('a deploy of gridline in -> gridline alarm is audited, and hub events raise alarms through the runtime', async () => {
    const flows = [
      { id: 't1', type: 'tab', label: 'air' },
      { id: 'in1', type: 'gridline in', z: 't1', name: 'aqi', kinds: 'indicator', metrics: 'vn_aqi_hourly', rate: '10', wires: [['al1']] },
      { id: 'al1', type: 'gridline alarm', z: 't1', name: 'air alarm', action: 'raise', ruleId: 'custom.test_air', severity: 'major', subject: '', message: '', wires: [[]] },
    ]
    const res = await deploy(s, flows)
    expect(res.status).toBeLessThan(300)
    expect(s.audits).toContainEqual({ actor: 'ana', action: 'flows.deploy', detail: expect.objectContaining({ deploymentType: 'full', ok: true }) })
    const stored = await body(await fetch(`${s.base}/flows/flows`, { headers: admin }))
    expect(stored.map((n: { id: string }) => n.id)).toEqual(expect.arrayContaining(['in1', 'al1']))

    await waitFor(() => s.hub.stats().perSubscriber.some((p) => p.name === 'node-red:aqi'), 10_000, 'the gridline in node to subscribe')
    s.hub.publish(indicator('Hải Châu', 164, 'bad'))
    s.hub.publish(indicator('Hải Châu', 80, 'moderate', 'us_aqi'))   // another metric: filtered out
    await waitFor(() => s.rec.raised.length >= 1, 10_000, 'the alarm to be raised')
    expect(s.rec.raised[0]).toEqual({
      input: { ruleId: 'custom.test_air', subject: 'Hải Châu', severity: 'major', message: 'custom.test_air on Hải Châu', value: 164 },
      actor: 'node-red:air alarm',
    })
    await new Promise((r) => setTimeout(r, 200))
    expect(s.rec.raised).toHaveLength(1)
  })

  test('gridline in puts the device\'s registry metadata on each message as msg.device', async () => {
    const flows = [
      { id: 't-dev', type: 'tab', label: 'lamps' },
      { id: 'in-dev', type: 'gridline in', z: 't-dev', name: 'lamps', kinds: 'reading', metrics: 'lamp_on', rate: '10', wires: [['fn-dev']] },
      { id: 'fn-dev', type: 'function', z: 't-dev', name: 'by road', func: 'msg.subject = msg.device.metadata.roadSegment; return msg;', outputs: 1, wires: [['al-dev']] },
      { id: 'al-dev', type: 'gridline alarm', z: 't-dev', name: 'road alarm', action: 'raise', ruleId: 'custom.road', severity: 'minor', subject: '', message: 'lamp on', wires: [[]] },
    ]
    expect((await deploy(s, flows)).status).toBeLessThan(300)
    await waitFor(() => s.hub.stats().perSubscriber.some((p) => p.name === 'node-red:lamps'), 10_000, 'the gridline in node to subscribe')
    s.hub.publishReadings([{ time: Date.now(), receivedAt: Date.now(), deviceId: 'lamp-7', domain: 'lighting', metric: 'lamp_on', value: 1, quality: 0, seq: 1, flags: 0 }])
    await waitFor(() => s.rec.raised.some((r) => r.input.ruleId === 'custom.road'), 10_000, 'the alarm by road')
    expect(s.rec.raised.find((r) => r.input.ruleId === 'custom.road')!.input).toMatchObject({ subject: 'Bạch Đằng' })
  })

  test('gridline in is decimated: a burst of 1,000 readings reaches the flow as a handful', async () => {
    const rate = 5
    const flows = [
      { id: 't2', type: 'tab', label: 'burst' },
      { id: 'in2', type: 'gridline in', z: 't2', name: 'burst', kinds: 'reading', devices: 'aq-*', rate: String(rate), wires: [['al2']] },
      { id: 'al2', type: 'gridline alarm', z: 't2', name: 'count', action: 'raise', ruleId: 'custom.burst', severity: 'info', subject: '', message: '', wires: [[]] },
    ]
    expect((await deploy(s, flows)).status).toBeLessThan(300)
    await waitFor(() => s.hub.stats().perSubscriber.some((p) => p.name === 'node-red:burst'), 10_000, 'the burst node to subscribe')
    const before = s.rec.raised.length
    const now = Date.now()
    s.hub.publishReadings(Array.from({ length: 1000 }, (_, i) => ({
      time: now + i, receivedAt: now, deviceId: `aq-${String(i % 50).padStart(3, '0')}`, domain: 'environment', metric: 'pm25', value: i, quality: 0, seq: i, flags: 0,
    })))
    const began = performance.now()
    await new Promise((r) => setTimeout(r, 1500))
    const received = s.rec.raised.length - before
    const seconds = (performance.now() - began) / 1000
    expect(received).toBeGreaterThanOrEqual(1)
    // The hub releases a burst of up to one second's worth, then `rate` per second.
    expect(received).toBeLessThanOrEqual(Math.ceil(rate * (1 + seconds)) + 1)
    const stats = s.hub.stats().perSubscriber.find((p) => p.name === 'node-red:burst')!
    expect(stats.decimated.rate).toBeGreaterThanOrEqual(1000 - 50)
  })

  test('a flow cannot ask for more than maxEventsPerSecond, nor for an unlimited stream', async () => {
    const flows = [
      { id: 't3', type: 'tab', label: 'greedy' },
      { id: 'in3', type: 'gridline in', z: 't3', name: 'greedy', kinds: 'reading', rate: '100000', wires: [[]] },
      { id: 'in4', type: 'gridline in', z: 't3', name: 'zero', kinds: 'reading', rate: '0', wires: [[]] },
    ]
    expect((await deploy(s, flows)).status).toBeLessThan(300)
    await waitFor(() => s.hub.stats().subscribers === 2, 10_000, 'two subscriptions')
    // The burst flow was replaced by the full deploy: its subscription is gone.
    expect(s.hub.stats().perSubscriber.map((p) => p.name).sort()).toEqual(['node-red:greedy', 'node-red:zero'])
    const now = Date.now()
    s.hub.publishReadings(Array.from({ length: 200 }, (_, i) => ({
      time: now, receivedAt: now, deviceId: `d-${i}`, domain: 'environment', metric: 'pm25', value: i, quality: 0, seq: i, flags: 0,
    })))
    const began = performance.now()
    await new Promise((r) => setTimeout(r, 300))
    const seconds = (performance.now() - began) / 1000
    const delivered = Object.fromEntries(s.hub.stats().perSubscriber.map((p) => [p.name, p.delivered]))
    // Unthinned, each would get all 200. A burst of one second's worth, then the rate.
    expect(delivered['node-red:greedy']).toBeLessThanOrEqual(Math.ceil(20 * (1 + seconds)) + 1)   // capped at maxEventsPerSecond
    expect(delivered['node-red:zero']).toBeLessThanOrEqual(Math.ceil(10 * (1 + seconds)) + 1)     // 0 means the default, 10
  })

  test('the example flows deploy with no unknown node types and run', async () => {
    const examples = [...readExample('dim-street-lights-after-midnight.json'), ...readExample('notify-unhealthy-air.json')]
    const logsBefore = s.logs.length
    expect((await deploy(s, examples)).status).toBeLessThan(300)
    await waitFor(() => s.hub.stats().subscribers === 3, 10_000, 'the examples to subscribe')
    const newLogs = s.logs.slice(logsBefore).map((l) => l.msg).join('\n')
    expect(newLogs).toContain('Started flows')
    expect(newLogs).not.toMatch(/missing|unknown type|Waiting for/i)
    // And the air example works end to end: bad air raises, better air clears.
    const raisedBefore = s.rec.raised.length
    s.hub.publish(indicator('Sơn Trà', 172, 'bad'))
    await waitFor(() => s.rec.raised.length > raisedBefore, 10_000, 'the unhealthy air alarm')
    expect(s.rec.raised.at(-1)).toEqual({
      input: expect.objectContaining({ ruleId: 'custom.unhealthy_air', subject: 'Sơn Trà', severity: 'minor', value: 172 }),
      actor: 'node-red:unhealthy air alarm',
    })
    await new Promise((r) => setTimeout(r, 250))   // the next event must not be folded into the first by the rate limit
    s.hub.publish(indicator('Sơn Trà', 90, 'moderate'))
    await waitFor(() => s.rec.cleared.length > 0, 10_000, 'the alarm to clear')
    expect(s.rec.cleared.at(-1)).toEqual({ input: { ruleId: 'custom.unhealthy_air', subject: 'Sơn Trà' }, actor: 'node-red:unhealthy air alarm' })
  })

  test('the examples are offered in Import > Examples', async () => {
    const res = await fetch(`${s.base}/flows/library/examples/flows/`, { headers: admin })
    expect(res.status).toBe(200)
    const listing = JSON.stringify(await body(res))
    expect(listing).toContain('node-red-gridline')
    const one = await fetch(`${s.base}/flows/library/examples/flows/node-red-gridline/notify-unhealthy-air`, { headers: admin })
    expect(one.status).toBe(200)
    expect(JSON.stringify(await one.json())).toContain('gridline alarm')
  })

  test('a websocket upgrade to /flows/comms needs an admin session', async () => {
    expect(await upgrade(s.port, '/flows/comms')).toBe(401)
    expect(await upgrade(s.port, '/flows/comms', { cookie: 'gridline_session=tok-viewer' })).toBe(403)
    expect(await upgrade(s.port, '/flows/comms', { cookie: 'gridline_session=tok-admin' })).toBe(101)
    expect(await upgrade(s.port, '/elsewhere')).toBe(404)
  })

  test('stop ends the subscriptions, and Node-RED starts again in the same process with another userDir', async () => {
    await s.red.stop()
    expect(s.hub.stats().subscribers).toBe(0)
    const stopped = await fetch(`${s.base}/flows/settings`, { headers: admin })
    expect(stopped.status).toBe(503)
    await s.close()

    s = await startService()
    const flows = await body(await fetch(`${s.base}/flows/flows`, { headers: admin }))
    expect(flows).toEqual([])   // this service's own (empty) userDir, not the previous one's
    expect((await deploy(s, [
      { id: 't9', type: 'tab', label: 'again' },
      { id: 'in9', type: 'gridline in', z: 't9', name: 'again', kinds: 'alarm', rate: '5', wires: [[]] },
    ])).status).toBeLessThan(300)
    await waitFor(() => s.hub.stats().subscribers === 1, 10_000, 'the node of the second start to subscribe')
  })
})

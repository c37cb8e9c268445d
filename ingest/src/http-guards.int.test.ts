import http from 'node:http'
import net from 'node:net'
import { Writable } from 'node:stream'
import { createLogger } from '@gridline/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import type { IngestService } from './app.ts'
import { normalisedPath } from './http-guards.ts'
import { LoginThrottle } from './console/users.ts'

// The service's HTTP surface under hostile input, over real HTTP: security
// headers, the Origin check, the content-type rule on the normalised path,
// request timeouts, malformed cookies, audit of refused commands, and the
// login throttle against concurrent guesses, spraying and lockout.

let t: TestService
let db: TestDatabase
let service: IngestService
let port: number
let origin: string
const PASSWORDS = { ada: 'ada-admin-password-1', olly: 'olly-operator-pass-2', tam: 'tam-operator-pass-3', uma: 'uma-viewer-password-4' }

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: any }

/** One HTTP request from `from` (a loopback address: 127.0.0.0/8 all reach the server on Linux). */
function request(method: string, path: string, options: { headers?: Record<string, string>; body?: string; from?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path, localAddress: options.from ?? '127.0.0.1', agent: false,
      headers: { ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }), ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = text ? JSON.parse(text) : undefined
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({ headers: { origin, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

async function login(username: string, password: string, from = '127.0.0.1'): Promise<Answer & { cookie: string }> {
  const res = await request('POST', '/api/login', { ...json({ username, password }), from })
  const cookie = String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]!
  return { ...res, cookie }
}

beforeAll(async () => {
  const sink = new Writable({ write(_chunk, _enc, done) { done() } })
  t = await startTestService({
    devices: [{ id: 'lamp-1', domain: 'lighting', password: 'device secret 0123456789' }],
    users: [
      { name: 'ada', password: PASSWORDS.ada, role: 'admin' },
      { name: 'olly', password: PASSWORDS.olly, role: 'operator' },
      { name: 'tam', password: PASSWORDS.tam, role: 'operator' },
      { name: 'uma', password: PASSWORDS.uma, role: 'viewer' },
    ],
    // The Node-RED tests need Node-RED at /flows (the kit turns it off).
    config: {
      http: { requestTimeoutMs: 1_000, headersTimeoutMs: 1_000 },
      console: { nodeRed: { enabled: true } },
      log: { level: 'silent' },
    },
    logger: createLogger({ level: 'silent', destination: sink }),
  })
  ;({ db, service, httpPort: port } = t)
  origin = `http://127.0.0.1:${port}`
}, 60_000)

afterAll(async () => {
  await t?.stop()
})

describe('security headers', () => {
  test('every answer carries CSP with frame-ancestors none, X-Frame-Options DENY, nosniff and a Referrer-Policy', async () => {
    for (const path of ['/', '/healthz', '/metrics', '/api/me', '/nothing-here']) {
      const res = await request('GET', path)
      expect(res.headers['content-security-policy'], path).toContain("frame-ancestors 'none'")
      expect(res.headers['content-security-policy'], path).toContain("script-src 'self';")
      expect(res.headers['x-frame-options'], path).toBe('DENY')
      expect(res.headers['x-content-type-options'], path).toBe('nosniff')
      expect(res.headers['referrer-policy'], path).toBe('no-referrer')
    }
  })

  test('Node-RED at /flows gets its own policy (inline scripts and eval), framed by this origin only', async () => {
    for (const path of ['/flows/', '/flows/settings', '/%66lows/']) {
      const res = await request('GET', path, { headers: { accept: 'text/html' } })
      expect(res.headers['content-security-policy'], path).toContain("'unsafe-eval'")
      expect(res.headers['content-security-policy'], path).toContain("frame-ancestors 'self'")
      expect(res.headers['x-frame-options'], path).toBe('SAMEORIGIN')
    }
    // /flowsx is not Node-RED's
    expect((await request('GET', '/flowsx')).headers['content-security-policy']).toContain("frame-ancestors 'none'")
  })
})

describe('Origin check on every state-changing request', () => {
  test('a JSON POST from another origin with a valid admin cookie creates no user', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    const evil = await request('POST', '/api/users', json({ name: 'eve', password: 'eve-password-123', role: 'admin' }, { cookie, origin: 'http://evil.example' }))
    expect(evil.status).toBe(403)
    expect(evil.body.error.code).toBe('GRIDLINE_CSRF')
    const none = await request('POST', '/api/users', { headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'eve', password: 'eve-password-123', role: 'admin' }) })
    expect(none.status).toBe(403)
    const otherPort = await request('POST', '/api/users', json({ name: 'eve', password: 'eve-password-123', role: 'admin' }, { cookie, origin: `http://127.0.0.1:${port + 1}` }))
    expect(otherPort.status).toBe(403)
    const nullOrigin = await request('POST', '/api/users', json({ name: 'eve', password: 'eve-password-123', role: 'admin' }, { cookie, origin: 'null' }))
    expect(nullOrigin.status).toBe(403)
    expect(await service.console!.users.get('eve')).toBeUndefined()
    // The same request from the console's own page is made.
    const ok = await request('POST', '/api/users', json({ name: 'eve', password: 'eve-password-123', role: 'viewer' }, { cookie }))
    expect(ok.status).toBe(201)
    // Sec-Fetch-Site: same-origin without Origin also passes.
    const del = await request('DELETE', '/api/users/eve', { headers: { cookie, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' }, body: '{}' })
    expect(del.status).toBe(204)
    const sameSite = await request('DELETE', '/api/users/olly', { headers: { cookie, 'content-type': 'application/json', 'sec-fetch-site': 'same-site' }, body: '{}' })
    expect(sameSite.status).toBe(403)
  })

  test('Node-RED: a form POST to /flows/inject/<id> and a deploy from another origin are refused before Node-RED sees them', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    const inject = await request('POST', '/flows/inject/abc123', { headers: { cookie, origin: `http://127.0.0.1:${port + 1}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' })
    expect(inject.status).toBe(403)
    expect(inject.body.error.code).toBe('GRIDLINE_CSRF')
    const deploy = await request('POST', '/flows/flows', { headers: { cookie, 'content-type': 'application/json' }, body: '[]' })
    expect(deploy.status).toBe(403)
    const put = await request('PUT', '/flows/nodes/node-red', { headers: { cookie, origin: 'http://evil.example', 'content-type': 'application/json' }, body: '{"enabled":false}' })
    expect(put.status).toBe(403)
  })

  test('logins from another origin are refused (login CSRF)', async () => {
    const res = await request('POST', '/api/login', json({ username: 'ada', password: PASSWORDS.ada }, { origin: 'http://evil.example' }))
    expect(res.status).toBe(403)
    expect(res.headers['set-cookie']).toBeUndefined()
  })
})

describe('the content-type rule on the normalised path', () => {
  test('normalisedPath decodes, drops the query and collapses slashes; a bad escape stays as it came', () => {
    expect(normalisedPath('/%61pi/logout?x=1')).toBe('/api/logout')
    expect(normalisedPath('//api//users')).toBe('/api/users')
    expect(normalisedPath('/api/%zz')).toBe('/api/%zz')
  })

  test('/%61pi/logout as text/plain does not log out; DELETE without JSON is refused', async () => {
    const { cookie } = await login('ada', PASSWORDS.ada)
    const encoded = await request('POST', '/%61pi/logout', { headers: { cookie, origin, 'content-type': 'text/plain' }, body: 'x' })
    expect(encoded.status).toBe(400)
    expect(encoded.body.error.code).toBe('GRIDLINE_BAD_REQUEST')
    expect((await request('GET', '/api/me', { headers: { cookie } })).status).toBe(200)
    const del = await request('DELETE', '/api/users/uma', { headers: { cookie, origin } })
    expect(del.status).toBe(400)
    expect(await service.console!.users.get('uma')).toBeDefined()
  })
})

describe('hostile requests', () => {
  test('a malformed % in the session cookie is no session: 401, not 500', async () => {
    for (const value of ['%', '%zz', 'abc%E0%A4%A']) {
      const res = await request('GET', '/api/me', { headers: { cookie: `gridline_session=${value}` } })
      expect(res.status, value).toBe(401)
      expect(res.body.error.code).toBe('GRIDLINE_UNAUTHENTICATED')
    }
  })

  test('a trickled POST body is cut after requestTimeoutMs', async () => {
    const socket = net.connect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const closed = new Promise<string>((resolve) => {
      let text = ''
      socket.on('data', (d: Buffer) => { text += d.toString() })
      socket.once('close', () => resolve(text))
    })
    socket.write(`POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`)
    const trickle = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 100)
    const answer = await closed
    clearInterval(trickle)
    // Node answers 408 (or just closes) once the request is older than requestTimeoutMs (1 s here, checked every second).
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true)
  }, 15_000)

  test('a refused command with deeply nested params is audited with a bounded rendering', async () => {
    const { cookie } = await login('tam', PASSWORDS.tam)
    const deep = `{"action":"dim","params":{"level":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`
    const res = await request('POST', '/api/devices/lamp-1/commands', { headers: { cookie, origin, 'content-type': 'application/json' }, body: deep })
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
    await service.console!.audit.flush()
    const { rows } = await db.pool.query<{ outcome: string; detail: { params: { level: unknown } } }>(`SELECT outcome, detail FROM audit_log WHERE actor = 'tam' AND action = 'command.send' ORDER BY id DESC LIMIT 1`)
    expect(rows[0]?.outcome).toBe('refused')
    expect(JSON.stringify(rows[0]!.detail).length).toBeLessThan(16_000)
    expect(JSON.stringify(rows[0]!.detail)).toContain('[nested list')
    expect(service.console!.audit.failures).toBe(0)
  })
})

describe('login throttle', () => {
  test('60 concurrent wrong guesses and then the right one: at most 5 are checked and the right one is throttled', async () => {
    const users = service.console!.users
    const verify = users.verify.bind(users)
    let checks = 0
    users.verify = async (name, password) => { checks++; return verify(name, password) }
    try {
      const from = '127.0.0.21'
      const guesses = Array.from({ length: 60 }, (_, i) => login('olly', `wrong-guess-${i}`, from))
      const right = login('olly', PASSWORDS.olly, from)
      const answers = await Promise.all([...guesses, right])
      expect(checks).toBeLessThanOrEqual(5)
      expect(answers.filter((a) => a.status === 429).length).toBe(61 - checks)
      // Sent last, the right password finds the pair's 5 slots taken (were it checked among the first 5, that is one of the 5).
      const last = await right
      if (last.status === 429) expect(last.headers['retry-after']).toMatch(/^\d+$/)
      else expect(last.status).toBe(200)
    } finally {
      users.verify = verify
    }
  })

  test('spraying many names from one address is throttled after 20 failures', async () => {
    const from = '127.0.0.22'
    const statuses: number[] = []
    for (let i = 0; i < 25; i++) statuses.push((await login(`name-${i}`, 'Password1!', from)).status)
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true)
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true)
    // ... even a real user's right password from there, until the window passes
    expect((await login('uma', PASSWORDS.uma, from)).status).toBe(429)
    // ... while other addresses are not affected
    expect((await login('uma', PASSWORDS.uma, '127.0.0.23')).status).toBe(200)
  })

  test('a stranger flooding an operator\'s name from elsewhere does not lock the operator out', async () => {
    // tam logged in from 127.0.0.1 above; the stranger uses several addresses.
    for (const from of ['127.0.0.31', '127.0.0.32', '127.0.0.33']) {
      for (let i = 0; i < 8; i++) await login('tam', `stranger-guess-${i}`, from)
      expect((await login('tam', PASSWORDS.tam, from)).status).toBe(429)
    }
    // The operator, from their own machine, and from a new one.
    expect((await login('tam', PASSWORDS.tam, '127.0.0.1')).status).toBe(200)
    expect((await login('tam', PASSWORDS.tam, '127.0.0.34')).status).toBe(200)
  })
})

describe('LoginThrottle policy', () => {
  test('the per-name limit across addresses spares addresses the name logged in from', () => {
    const throttle = new LoginThrottle({ windowMs: 60_000, perPair: 2, perAddress: 3, perAccount: 4 })
    const now = 1_000_000
    const home = throttle.admit('op', '10.0.0.1', now)
    expect(home.ok).toBe(true)
    if (home.ok) throttle.succeeded(home.attempt)
    for (const address of ['10.9.0.1', '10.9.0.2']) for (let i = 0; i < 2; i++) expect(throttle.admit('op', address, now).ok).toBe(true)
    // four failures for "op" from strangers: a fifth address is refused for the name ...
    expect(throttle.admit('op', '10.9.0.3', now)).toMatchObject({ ok: false, scope: 'account' })
    // ... its known address is not, and once the window passes neither is the stranger
    expect(throttle.admit('op', '10.0.0.1', now).ok).toBe(true)
    expect(throttle.admit('op', '10.9.0.3', now + 60_001).ok).toBe(true)
  })

  test('a right password gives its slots back', () => {
    const throttle = new LoginThrottle({ windowMs: 60_000, perPair: 2, perAddress: 2, perAccount: 10 })
    for (let i = 0; i < 5; i++) {
      const a = throttle.admit(`user-${i}`, '10.0.0.5', 1_000 + i)
      expect(a.ok).toBe(true)
      if (a.ok) throttle.succeeded(a.attempt)
    }
    expect(throttle.retryAfterMs('user-9', '10.0.0.5', 2_000)).toBe(0)
  })
})

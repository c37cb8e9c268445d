import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestService, startTestService } from '../../testing/index.ts'
import { makeDevCa, makeDevDeviceCert, makeDevServerCert } from '../mqtt_broker/dev-certs.ts'
import { freePort, mosquittoPub, storedRows } from './test-helpers.ts'

// The MQTT client source's logins against a Mosquitto 2.0 of its own (free
// ports, a temporary folder): a TLS listener that requires a client
// certificate signed by the test CA (its CN is the user name), and a plain
// listener with a password file. mosquitto_pub publishes over TLS.

const T0 = Date.parse('2026-12-07T03:00:00Z')
const ENV = 'GRIDLINE_SOURCE_PW_PASSWORD'
let dir: string
let broker: ChildProcess
let brokerExited: Promise<void>
let tlsPort: number
let pwPort: number
let t: TestService

const publish = (args: string[], topic: string, message: string) => mosquittoPub(['-h', 'localhost', ...args], topic, [message])
const stored = (device: string, atLeast: number) => storedRows(t.db.pool, device, atLeast)

type Health = { ready: boolean; detail: { connections: { state: string; lastError: string | null }[] } }
const health = (id: string): Health => t.service.sourceHealth(id) as Health

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridline-mqtt-client-tls-'))
  makeDevCa(dir)
  makeDevServerCert(dir)
  makeDevDeviceCert(dir, 'gridline-ioc') // gridline's client certificate: CN=gridline-ioc
  makeDevDeviceCert(dir, 'field-gw') // the publisher's
  execFileSync('mosquitto_passwd', ['-b', '-c', join(dir, 'passwords'), 'gridline', 'upstream-secret-7'])
  tlsPort = await freePort()
  pwPort = await freePort()
  writeFileSync(join(dir, 'mosquitto.conf'), [
    'user root', 'per_listener_settings true', 'persistence false', 'log_dest stderr', 'log_type error',
    `listener ${tlsPort} 127.0.0.1`, `cafile ${join(dir, 'ca.pem')}`, `certfile ${join(dir, 'server.pem')}`, `keyfile ${join(dir, 'server.key')}`,
    'require_certificate true', 'use_identity_as_username true', 'allow_anonymous false',
    `listener ${pwPort} 127.0.0.1`, `password_file ${join(dir, 'passwords')}`, 'allow_anonymous false', '',
  ].join('\n'))
  broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  brokerExited = new Promise((resolve) => broker.once('exit', () => resolve()))
  // Up once both ports accept connections.
  const deadline = Date.now() + 10_000
  for (const port of [tlsPort, pwPort]) {
    for (;;) {
      const open = await new Promise<boolean>((resolve) => {
        const s = createServer()
        s.once('error', () => resolve(true))
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)))
      })
      if (open || Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  process.env[ENV] = 'upstream-secret-7'
  const sub = (filter: string) => [{ filter, device: { topicLevel: 1 } }]
  t = await startTestService({
    devices: [{ id: 'aq-tls-1', domain: 'environment' }, { id: 'aq-pw-1', domain: 'environment' }],
    config: {
      sources: {
        tlsc: { type: 'mqtt_client', url: `mqtts://localhost:${tlsPort}`, clientId: 'tlsc', tls: { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'devices', 'gridline-ioc.pem'), keyFile: join(dir, 'devices', 'gridline-ioc.key') }, subscriptions: sub('tls/+') },
        pw: { type: 'mqtt_client', url: `mqtt://127.0.0.1:${pwPort}`, clientId: 'pw', username: 'gridline', subscriptions: sub('pw/+') },
        bad: { type: 'mqtt_client', url: `mqtt://127.0.0.1:${pwPort}`, clientId: 'bad', username: 'gridline', password: 'guessed', connectTimeoutMs: 1_000, reconnect: { initialMs: 200, maxMs: 1_000 }, subscriptions: sub('bad/+') },
        untrusted: { type: 'mqtt_client', url: `mqtts://localhost:${tlsPort}`, clientId: 'untrusted', connectTimeoutMs: 1_000, reconnect: { initialMs: 200, maxMs: 1_000 }, subscriptions: sub('tls/+') },
      },
      processors: { onSecondInstance: 'warn' },
    },
  })
}, 40_000)

afterAll(async () => {
  delete process.env[ENV]
  await t?.stop()
  broker?.kill('SIGTERM')
  await brokerExited
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('MQTT client source: TLS and logins', () => {
  test('over TLS with the CA and a client certificate the broker requires, readings are stored', async () => {
    expect(health('tlsc').ready).toBe(true)
    await publish(['-p', String(tlsPort), '--cafile', join(dir, 'ca.pem'), '--cert', join(dir, 'devices', 'field-gw.pem'), '--key', join(dir, 'devices', 'field-gw.key')], 'tls/aq-tls-1', JSON.stringify({ ts: T0, values: { pm25: 14 } }))
    expect(await stored('aq-tls-1', 1)).toBe(1)
  })

  test('user name and the password from GRIDLINE_SOURCE_<ID>_PASSWORD log in', async () => {
    expect(health('pw').ready).toBe(true)
    await publish(['-p', String(pwPort), '-u', 'gridline', '-P', 'upstream-secret-7'], 'pw/aq-pw-1', JSON.stringify({ ts: T0, values: { pm25: 15 } }))
    expect(await stored('aq-pw-1', 1)).toBe(1)
  })

  test('a refused login and a broker certificate from an unknown CA: not ready, the reason in the health detail, the service still ready', async () => {
    expect(health('bad')).toMatchObject({ ready: false, detail: { connections: [{ lastError: expect.stringMatching(/bad user name or password|not authorized/) }] } })
    expect(health('untrusted')).toMatchObject({ ready: false, detail: { connections: [{ lastError: expect.stringMatching(/certificate/i) }] } })
    const ready = await fetch(`${t.httpUrl}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ checks: { sources: { tlsc: true, pw: true, bad: false, untrusted: false } } })
  })

  test('the password is never in the health detail or the metrics', async () => {
    const text = JSON.stringify(['tlsc', 'pw', 'bad', 'untrusted'].map(health)) + await (await fetch(`${t.httpUrl}/metrics`)).text() + JSON.stringify(await (await fetch(`${t.httpUrl}/readyz`)).json())
    expect(text).not.toContain('upstream-secret-7')
    expect(text).not.toContain('guessed')
  })
})

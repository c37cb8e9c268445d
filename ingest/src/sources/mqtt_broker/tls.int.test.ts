import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, type TestService, TEST_PASSWORD, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../../test/support.ts'
import { makeDevCa, makeDevDeviceCert, makeDevServerCert } from './dev-certs.ts'

// MQTT over TLS with real clients: mosquitto_pub (password login, --cafile)
// and mqtt.js (client certificates), against a PKI made by the same code as
// `gridline certs`. The plain listener is off (mqtt.port: false).

const run = promisify(execFile)
const PASSWORD = TEST_PASSWORD
let t: TestService
let db: TestDatabase
let dir: string
let other: string
let tlsPort: number
let httpBase: string
const clients: MqttClient[] = []

const file = (name: string) => readFileSync(join(dir, name))

function connect(options: mqtt.IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, { ca: file('ca.pem'), reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000, ...options }).then((c) => {
    clients.push(c)
    return c
  })
}

/** How a connection attempt ends: connected, or closed (with the error, if any) before CONNACK. */
function attempt(options: mqtt.IClientOptions): Promise<'connected' | 'closed'> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtts://localhost:${tlsPort}`, { ca: file('ca.pem'), reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5_000, ...options })
    client.on('error', () => undefined)
    client.once('connect', () => {
      resolve('connected')
      client.end(true)
    })
    client.once('close', () => resolve('closed'))
  })
}

const withCert = (id: string, base = dir) => ({ cert: readFileSync(join(base, 'devices', `${id}.pem`)), key: readFileSync(join(base, 'devices', `${id}.key`)) })

async function stored(deviceId: string): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [deviceId])
  return Number(rows[0].n)
}

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${httpBase}/metrics`)).text()
  return Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').pop() ?? 0)
}

const reading = (v: number) => JSON.stringify({ ts: Date.now() - 1_000 + v, values: { pm25: v } })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridline-tls-'))
  other = mkdtempSync(join(tmpdir(), 'gridline-tls-other-'))
  makeDevCa(dir)
  makeDevServerCert(dir)
  for (const id of ['cert-1', 'cert-2', 'both-1', 'pw-1']) makeDevDeviceCert(dir, id)
  makeDevDeviceCert(dir, 'expired-1', { days: -1 })
  makeDevDeviceCert(other, 'cert-1') // the right name, signed by another CA
  t = await startTestService({
    devices: [
      { id: 'pw-1', domain: 'environment' },
      { id: 'cert-1', domain: 'environment', auth: 'cert' },
      { id: 'cert-2', domain: 'environment', auth: 'cert' },
      { id: 'both-1', domain: 'environment', auth: 'both' },
      { id: 'expired-1', domain: 'environment', auth: 'cert' },
    ],
    config: {
      mqtt: { port: false, tls: { port: 0, certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem'), reloadIntervalMs: 100 } },
    },
  })
  // The kit reports a listener that is off as port 0.
  const ports = { mqttPort: t.mqttPort === 0 ? null : t.mqttPort, mqttTlsPort: t.mqttTlsPort }
  expect(ports.mqttPort).toBeNull()
  tlsPort = ports.mqttTlsPort!
  ;({ db, httpUrl: httpBase } = t)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
  await t?.stop()
  rmSync(dir, { recursive: true, force: true })
  rmSync(other, { recursive: true, force: true })
})

describe('MQTT over TLS', () => {
  test('mosquitto_pub logs in with a password over TLS, trusting the CA with --cafile', async () => {
    await run('mosquitto_pub', ['-h', 'localhost', '-p', String(tlsPort), '--cafile', join(dir, 'ca.pem'), '-u', 'pw-1', '-P', PASSWORD, '-i', 'pw-1-tls', '-q', '1', '-t', 'telemetry/environment/pw-1', '-m', reading(1)])
    expect(await stored('pw-1')).toBe(1)
  })

  test('mosquitto_pub with a wrong password over TLS is refused', async () => {
    await expect(run('mosquitto_pub', ['-h', 'localhost', '-p', String(tlsPort), '--cafile', join(dir, 'ca.pem'), '-u', 'pw-1', '-P', 'wrong', '-q', '1', '-t', 'telemetry/environment/pw-1', '-m', reading(2)]))
      .rejects.toMatchObject({ code: expect.any(Number) })
    expect(await stored('pw-1')).toBe(1)
  })

  test('a client that does not trust the server\'s CA does not connect', async () => {
    await expect(mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, { ca: readFileSync(join(other, 'ca.pem')), reconnectPeriod: 0, username: 'pw-1', password: PASSWORD }))
      .rejects.toThrow(/certificate/)
  })

  test('mqtt.js with a device certificate logs in without username or password and publishes as itself', async () => {
    const client = await connect({ ...withCert('cert-1') })
    await client.publishAsync('telemetry/environment/cert-1', reading(3), { qos: 1 })
    expect(await stored('cert-1')).toBe(1)
  })

  test('a certificate for cert-1 cannot publish as cert-2: dead-lettered, not stored', async () => {
    const client = await connect({ ...withCert('cert-1') })
    await client.publishAsync('telemetry/environment/cert-2', reading(4), { qos: 1 })
    expect(await stored('cert-2')).toBe(0)
    const { rows } = await db.pool.query(`SELECT reason FROM rejected WHERE topic = 'telemetry/environment/cert-2'`)
    expect(rows.map((r) => r.reason)).toEqual(['topic_not_authorized'])
  })

  test('a certificate for cert-1 cannot log in with the username cert-2', async () => {
    const before = await metric('gridline_ingest_auth_failures_total{reason="certificate_mismatch"}')
    await expect(connect({ ...withCert('cert-1'), username: 'cert-2' })).rejects.toMatchObject({ code: 5 })
    expect(await metric('gridline_ingest_auth_failures_total{reason="certificate_mismatch"}')).toBe(before + 1)
  })

  test('a password device presenting a valid certificate of another device is refused', async () => {
    await expect(connect({ ...withCert('cert-1'), username: 'pw-1', password: PASSWORD })).rejects.toMatchObject({ code: 5 })
  })

  test('a certificate-only device is refused when it sends a password, and without a certificate', async () => {
    await expect(connect({ ...withCert('cert-1'), username: 'cert-1', password: 'anything' })).rejects.toMatchObject({ code: 4 })
    await expect(connect({ username: 'cert-1', password: 'anything' })).rejects.toMatchObject({ code: 4 })
  })

  test('a device registered for both logs in with either', async () => {
    const byCert = await connect({ ...withCert('both-1') })
    await byCert.publishAsync('telemetry/environment/both-1', reading(5), { qos: 1 })
    const byPassword = await connect({ username: 'both-1', password: PASSWORD })
    await byPassword.publishAsync('telemetry/environment/both-1', reading(6), { qos: 1 })
    expect(await stored('both-1')).toBe(2)
    // With a certificate and a password, the password is checked too.
    await expect(connect({ ...withCert('both-1'), username: 'both-1', password: 'wrong' })).rejects.toMatchObject({ code: 4 })
  })

  test('a client certificate from another CA is refused before MQTT, and counted', async () => {
    const before = await metric('gridline_ingest_tls_refused_total{reason="bad_certificate"}')
    expect(await attempt({ ...withCert('cert-1', other) })).toBe('closed')
    await waitFor(async () => (await metric('gridline_ingest_tls_refused_total{reason="bad_certificate"}')) === before + 1, 5_000, 'the refusal counted')
  })

  test('an expired client certificate is refused', async () => {
    const before = await metric('gridline_ingest_tls_refused_total{reason="bad_certificate"}')
    expect(await attempt({ ...withCert('expired-1') })).toBe('closed')
    await waitFor(async () => (await metric('gridline_ingest_tls_refused_total{reason="bad_certificate"}')) === before + 1, 5_000, 'the refusal counted')
    // The same device with a valid certificate would be let in: the expiry is what refused it.
    makeDevDeviceCert(dir, 'expired-1')
    expect(await attempt({ ...withCert('expired-1') })).toBe('connected')
  })

  test('new certificate files on disk are used for new connections without a restart', async () => {
    const next = mkdtempSync(join(tmpdir(), 'gridline-tls-next-'))
    try {
      makeDevCa(next, { name: 'gridline next CA' })
      makeDevServerCert(next)
      const reloads = await metric('gridline_ingest_tls_reloads_total{result="ok"}')
      const open = await connect({ username: 'pw-1', password: PASSWORD })
      // The server now presents a certificate of the new CA; clients trust the new CA.
      copyFileSync(join(next, 'server.key'), join(dir, 'server.key'))
      copyFileSync(join(next, 'server.pem'), join(dir, 'server.pem'))
      await waitFor(async () => (await metric('gridline_ingest_tls_reloads_total{result="ok"}')) > reloads, 5_000, 'the reload')
      await expect(connect({ username: 'pw-1', password: PASSWORD })).rejects.toThrow(/certificate/)
      const renewed = await connect({ ca: readFileSync(join(next, 'ca.pem')), username: 'pw-1', password: PASSWORD })
      await renewed.publishAsync('telemetry/environment/pw-1', reading(7), { qos: 1 })
      // The connection opened before the reload keeps working.
      await open.publishAsync('telemetry/environment/pw-1', reading(8), { qos: 1 })
      expect(await stored('pw-1')).toBe(3)

      // A key that does not load (half written) is refused and counted; the last good certificate stays in use.
      const failed = await metric('gridline_ingest_tls_reloads_total{result="failed"}')
      writeFileSync(join(dir, 'server.key'), '-----BEGIN PRIVATE KEY-----\nhalf')
      await waitFor(async () => (await metric('gridline_ingest_tls_reloads_total{result="failed"}')) === failed + 1, 5_000, 'the failed reload')
      const still = await connect({ ca: readFileSync(join(next, 'ca.pem')), username: 'pw-1', password: PASSWORD })
      await still.publishAsync('telemetry/environment/pw-1', reading(9), { qos: 1 })
      expect(await stored('pw-1')).toBe(4)
    } finally {
      rmSync(next, { recursive: true, force: true })
    }
  })
})

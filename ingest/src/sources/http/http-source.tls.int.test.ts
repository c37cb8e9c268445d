import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { InfluxDB, Point } from '@influxdata/influxdb-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TokenStore } from '../../devices/tokens.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type TestDatabase, type TestService, TEST_PASSWORD, createMigratedTestDatabase, startTestService } from '../../testing/index.ts'
import { makeDevCa, makeDevDeviceCert, makeDevServerCert } from '../mqtt_broker/dev-certs.ts'

// The HTTP source over TLS (sources.http.tls, the MQTT listener's options),
// with clients gridline did not write: curl (--cacert, Basic, --cert/--key)
// and the official InfluxDB client. The PKI is made by the code behind
// `gridline certs`; a second CA signs a certificate the service must refuse.

const run = promisify(execFile)
let db: TestDatabase
let t: TestService
let dir: string
let other: string
let base: string
let gatewayToken: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridline-http-tls-'))
  other = mkdtempSync(join(tmpdir(), 'gridline-http-tls-other-'))
  makeDevCa(dir)
  makeDevServerCert(dir)
  for (const id of ['aq-cert', 'aq-both', 'aq-pw']) makeDevDeviceCert(dir, id)
  makeDevDeviceCert(other, 'aq-cert') // the right name, signed by another CA
  db = await createMigratedTestDatabase()
  t = await startTestService({
    database: db,
    devices: [
      { id: 'gw-tls', kind: 'gateway' as const },
      { id: 'aq-pw', domain: 'environment' },
      { id: 'aq-cert', domain: 'environment', auth: 'cert' },
      { id: 'aq-both', domain: 'environment', auth: 'both' },
      { id: 'aq-behind', domain: 'environment', gateway: 'gw-tls' },
    ],
    config: {
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.pem') } } },
      processors: { onSecondInstance: 'warn' },
    },
  })
  base = `https://localhost:${t.sources.http!.port}`
  gatewayToken = (await new TokenStore(pgSqlClient(db.pool)).create('gw-tls', 'tests')).token
})

afterAll(async () => {
  await t?.stop()
  await db?.drop()
  if (dir) rmSync(dir, { recursive: true, force: true })
  if (other) rmSync(other, { recursive: true, force: true })
})

async function stored(id: string): Promise<{ metric: string; value: number }[]> {
  const { rows } = await db.pool.query<{ metric: string; value: number }>('SELECT metric, value FROM telemetry WHERE device_id = $1 ORDER BY time, metric', [id])
  return rows.map((r) => ({ metric: r.metric, value: Number(r.value) }))
}

/** gridline_http_tls_refused_total for `reason`, from /metrics (0 before the first). */
async function refused(reason: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`gridline_http_tls_refused_total{component_id="http",reason="${reason}"}`))
  return line ? Number(line.split(' ').pop()) : 0
}

/** curl's status code and body; `args` add credentials or a client certificate. */
async function curl(path: string, body: string, args: string[], ca = join(dir, 'ca.pem')): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', ca, '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', body, '-w', '\n%{http_code}', ...args, `${base}${path}`])
  const at = stdout.lastIndexOf('\n')
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) }
}

const reading = (pm25: number, ts: number) => JSON.stringify({ ts, values: { pm25 } })
const cert = (id: string, from = dir) => ['--cert', join(from, 'devices', `${id}.pem`), '--key', join(from, 'devices', `${id}.key`)]

describe('HTTP source over TLS', () => {
  test('curl trusting the CA logs in with Basic (id and password) and the reading is stored', async () => {
    const res = await curl('/v1/telemetry', reading(11, 1764982800000), ['-u', `aq-pw:${TEST_PASSWORD}`])
    expect(res.status).toBe(204)
    expect(await stored('aq-pw')).toEqual([{ metric: 'pm25', value: 11 }])
  })

  test('plain HTTP to the TLS port is not served, and a client that does not trust the CA refuses the server', async () => {
    await expect(fetch(`http://localhost:${t.sources.http!.port}/ping`)).rejects.toThrow()
    await expect(run('curl', ['-sS', '--max-time', '10', `${base}/ping`])).rejects.toMatchObject({ stderr: expect.stringMatching(/certificate/i) })
  })

  test('the official InfluxDB client over https (its CA in transportOptions) writes with a gateway token', async () => {
    const influx = new InfluxDB({ url: base, token: gatewayToken, transportOptions: { ca: readFileSync(join(dir, 'ca.pem')) } })
    const write = influx.getWriteApi('city', 'telemetry', 'ms', { maxRetries: 0, flushInterval: 0 })
    write.writePoint(new Point('env').tag('device', 'aq-behind').floatField('pm25', 21.5).timestamp(new Date(1764982800000)))
    await write.close()
    expect(await stored('aq-behind')).toEqual([{ metric: 'pm25', value: 21.5 }])
  })

  test('a device registered for certificate login posts with its client certificate alone', async () => {
    const res = await curl('/v1/telemetry', reading(12, 1764982800000), cert('aq-cert'))
    expect(res.status).toBe(204)
    expect(await stored('aq-cert')).toEqual([{ metric: 'pm25', value: 12 }])
  })

  test('a `both` device may add its password to its certificate; a wrong one is refused', async () => {
    expect((await curl('/v1/telemetry', reading(13, 1764982800000), [...cert('aq-both'), '-u', `aq-both:${TEST_PASSWORD}`])).status).toBe(204)
    expect((await curl('/v1/telemetry', reading(14, 1764982810000), [...cert('aq-both'), '-u', 'aq-both:wrong-password'])).status).toBe(401)
    expect(await stored('aq-both')).toEqual([{ metric: 'pm25', value: 13 }])
  })

  test('a certificate never logs in as another device, a `cert` device sends no password, and a password device\'s certificate is no login', async () => {
    const mismatch = await curl('/v1/telemetry', reading(15, 1764982800000), [...cert('aq-cert'), '-u', `aq-pw:${TEST_PASSWORD}`])
    expect(mismatch).toMatchObject({ status: 401, body: expect.stringContaining('does not name the device') })
    const withPassword = await curl('/v1/telemetry', reading(16, 1764982800000), [...cert('aq-cert'), '-u', `aq-cert:${TEST_PASSWORD}`])
    expect(withPassword).toMatchObject({ status: 401, body: expect.stringContaining('client certificate only') })
    const pwCertOnly = await curl('/v1/telemetry', reading(17, 1764982800000), cert('aq-pw'))
    expect(pwCertOnly).toMatchObject({ status: 401, body: expect.stringContaining('no device registered for certificate login') })
    const noCert = await curl('/v1/telemetry', reading(18, 1764982800000), ['-u', `aq-cert:${TEST_PASSWORD}`])
    expect(noCert.status).toBe(401)
    expect(await stored('aq-cert')).toEqual([{ metric: 'pm25', value: 12 }])
    expect(await stored('aq-pw')).toEqual([{ metric: 'pm25', value: 11 }])
  })

  test('a certificate naming the device but signed by another CA is refused in the handshake', async () => {
    const before = await refused('bad_certificate')
    await expect(curl('/v1/telemetry', reading(19, 1764982800000), cert('aq-cert', other))).rejects.toMatchObject({ stderr: expect.stringMatching(/empty reply|reset|closed|recv failure/i) })
    expect(await refused('bad_certificate')).toBe(before + 1)
    expect(await stored('aq-cert')).toEqual([{ metric: 'pm25', value: 12 }])
  })
})

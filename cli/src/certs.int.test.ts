import { type ChildProcess, execFile as execFileCb, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase } from '../../test/support.ts'

// `gridline certs` and `devices add --auth cert` from the command line, then
// `gridline ingest` serving MQTT over TLS with those files, and a device
// logging in with its certificate.

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
let db: TestDatabase
let dir: string
let child: ChildProcess | undefined

function gridline(args: string[]) {
  return execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url } })
}

beforeAll(async () => {
  db = await createTestDatabase()
  dir = mkdtempSync(join(tmpdir(), 'gridline-certs-'))
  await gridline(['migrate'])
}, 60_000)

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  await db?.drop()
  rmSync(dir, { recursive: true, force: true })
})

describe('gridline certs', () => {
  test('init makes a CA and a server certificate for localhost, 127.0.0.1 and --host; device makes a client certificate', async () => {
    const init = await gridline(['certs', 'init', '--dir', dir, '--host', 'ingest.city.example', '--host', '10.1.2.3'])
    expect(init.stdout).toContain('MQTT_TLS_CERT=')
    await gridline(['certs', 'device', 'meter-7', '--dir', dir])
    const server = await execFile('openssl', ['x509', '-in', join(dir, 'server.pem'), '-noout', '-ext', 'subjectAltName'])
    expect(server.stdout).toMatch(/DNS:localhost, IP Address:127\.0\.0\.1, DNS:ingest\.city\.example, IP Address:10\.1\.2\.3/)
    const device = await execFile('openssl', ['x509', '-in', join(dir, 'devices', 'meter-7.pem'), '-noout', '-subject'])
    expect(device.stdout).toContain('CN = meter-7')
    for (const cert of ['server.pem', 'devices/meter-7.pem']) {
      expect((await execFile('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, cert)])).stdout).toContain(': OK')
    }
    await expect(gridline(['certs', 'device', 'bad id', '--dir', dir])).rejects.toMatchObject({ code: 2 })
  })

  test('devices add --auth cert has no password; gridline ingest takes the TLS files from the environment', async () => {
    const added = await gridline(['devices', 'add', 'meter-7', '--domain', 'water', '--auth', 'cert'])
    expect(added.stdout).not.toContain('Password')
    expect(added.stdout).toContain('client certificate')
    await expect(gridline(['devices', 'add', 'meter-8', '--domain', 'water', '--auth', 'cert', '--password', 'long enough secret'])).rejects.toMatchObject({ code: 2 })
    await expect(gridline(['devices', 'add', 'meter-8', '--domain', 'water', '--auth', 'maybe'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--auth') })
    expect((await gridline(['devices', 'list'])).stdout).toMatch(/meter-7\s+device\s+cert\s+water/)

    child = spawn(process.execPath, [BIN, 'ingest'], {
      env: {
        ...process.env, DATABASE_URL: db.url, MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info',
        MQTT_TLS_PORT: '0', MQTT_TLS_CERT: join(dir, 'server.pem'), MQTT_TLS_KEY: join(dir, 'server.key'), MQTT_TLS_CA: join(dir, 'ca.pem'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buffer = ''
    child.stderr!.on('data', (chunk: Buffer) => { buffer += chunk.toString() })
    const started = await new Promise<{ mqttPort: number; mqttTlsPort: number; clientCertificates: boolean }>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString()
        for (const line of buffer.split('\n')) if (line.includes('Ingest service is listening')) resolve(JSON.parse(line))
      })
      child!.once('exit', (code) => reject(new Error(`gridline ingest exited with ${code}: ${buffer}`)))
    })
    expect(started.mqttTlsPort).toBeGreaterThan(0)
    expect(started.clientCertificates).toBe(true)
    const client = await mqtt.connectAsync(`mqtts://localhost:${started.mqttTlsPort}`, {
      ca: readFileSync(join(dir, 'ca.pem')), cert: readFileSync(join(dir, 'devices', 'meter-7.pem')), key: readFileSync(join(dir, 'devices', 'meter-7.key')),
      reconnectPeriod: 0, protocolVersion: 4,
    })
    try {
      await client.publishAsync('telemetry/water/meter-7', JSON.stringify({ ts: Date.now() - 1_000, values: { level: 1.5 } }), { qos: 1 })
    } finally {
      await client.endAsync()
    }
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'meter-7'`)
    expect(rows[0].n).toBe(1)
  })
})

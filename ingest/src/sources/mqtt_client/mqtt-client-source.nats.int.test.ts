import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestService, startTestService } from '../../testing/index.ts'
import { freePort, mosquittoPub, storedRows } from './test-helpers.ts'

// The MQTT client source against NATS's MQTT listener: nats-server 2.9.10 with
// JetStream (an own server on free ports, its store in a temporary folder),
// MQTT 3.1.1, QoS 1, sessions kept in JetStream. mosquitto_pub publishes.

const T0 = Date.parse('2026-12-07T02:00:00Z')
let nats: ChildProcess
let natsExited: Promise<void>
let dir: string
let mqttPort: number
let t: TestService

const publish = (topic: string, lines: string[]) => mosquittoPub(['-h', '127.0.0.1', '-p', String(mqttPort), '-V', 'mqttv311', '-i', `pub-${Date.now()}`], topic, lines)
const stored = (device: string, atLeast: number) => storedRows(t.db.pool, device, atLeast)

const readings = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ ts: T0 + (from + i) * 1_000, seq: from + i, values: { level: 1 + ((from + i) % 50) / 10 } }))

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridline-nats-mqtt-'))
  const port = await freePort()
  mqttPort = await freePort()
  writeFileSync(join(dir, 'nats.conf'), `server_name: gridline-test\nlisten: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\nmqtt { listen: 127.0.0.1:${mqttPort} }\n`)
  nats = spawn('/usr/sbin/nats-server', ['-c', join(dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  natsExited = new Promise((resolve) => nats.once('exit', () => resolve()))
  let log = ''
  await new Promise<void>((resolve, reject) => {
    nats.stderr!.on('data', (d: Buffer) => {
      log += d.toString()
      if (log.includes('Listening for MQTT clients')) resolve()
    })
    nats.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${log}`)))
  })
  t = await startTestService({
    devices: [{ id: 'lvl-han-river-1', domain: 'water' }],
    config: {
      sources: {
        nats: { type: 'mqtt_client', url: `mqtt://127.0.0.1:${mqttPort}`, protocolVersion: 4, clientId: 'gridline-ioc', subscriptions: [{ filter: 'telemetry/#' }] },
      },
      processors: { onSecondInstance: 'warn' },
    },
  })
}, 30_000)

afterAll(async () => {
  await t?.stop()
  nats?.kill('SIGTERM')
  await natsExited
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('MQTT client source on NATS (MQTT 3.1.1 listener, JetStream)', () => {
  test('the source logs in and subscribes; 200 readings published at QoS 1 are stored once each', async () => {
    const ready = await (await fetch(`${t.httpUrl}/readyz`)).json()
    expect(ready).toMatchObject({ checks: { sources: { nats: true } } })
    await publish('telemetry/water/lvl-han-river-1', readings(0, 200))
    expect(await stored('lvl-han-river-1', 200)).toBe(200)
  })

  test('readings published while gridline is stopped wait in its NATS session and are stored after the restart', async () => {
    await t.restart({}, async () => {
      await publish('telemetry/water/lvl-han-river-1', readings(200, 100))
    })
    expect(await stored('lvl-han-river-1', 300)).toBe(300)
    const { rows } = await t.db.pool.query<{ n: string }>('SELECT count(DISTINCT seq) AS n FROM telemetry WHERE device_id = $1', ['lvl-han-river-1'])
    expect(Number(rows[0]!.n)).toBe(300)
  })
})

import { type ChildProcess, execFile as execFileCb, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase, testDataDir } from '../../test/support.ts'

// kill -9 of `gridline ingest` while its MQTT client source takes a stream
// from the machine's Mosquitto (127.0.0.1:1883, MQTT 5, two connections on a
// shared subscription, persistent sessions): every message the broker took
// is stored exactly once after the restart, including those gridline had
// received but not acknowledged when it died and those published while it
// was down.

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
const RUN = `k9${randomBytes(4).toString('hex')}`
const DEVICE = `pump-${RUN}`
const T0 = Date.parse('2026-12-07T00:00:00Z')
let db: TestDatabase
let configFile: string

function startIngest(): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, [BIN, 'ingest'], {
    env: { ...process.env, DATABASE_URL: db.url, GRIDLINE_CONFIG: configFile, MQTT_PORT: '0', MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', GRIDLINE_DATA_DIR: testDataDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let buffer = ''
  child.stdout!.on('data', (d: Buffer) => { buffer += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { buffer += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited, output: () => buffer }
}

/** Resolves once the service logs that it listens (its sources started: the client source waits for its SUBACKs). */
async function listening(service: { output: () => string }): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!service.output().includes('Ingest service is listening') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
  expect(service.output()).toContain('Ingest service is listening')
}

async function stored(): Promise<{ rows: number; seqs: number }> {
  const { rows } = await db.pool.query<{ n: number; d: number }>('SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d FROM telemetry WHERE device_id = $1', [DEVICE])
  return { rows: rows[0]!.n, seqs: rows[0]!.d }
}

async function waitStored(atLeast: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    const { rows } = await stored()
    if (rows >= atLeast || Date.now() > deadline) return rows
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Publishes seqs [from, to) to Mosquitto at QoS 1, 10 in flight, about 2,000 a second; resolves once Mosquitto acknowledged all. */
async function publish(from: number, to: number): Promise<void> {
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-pub-${from}`, protocolVersion: 5, reconnectPeriod: 0 })
  let next = from
  const worker = async () => {
    while (next < to) {
      const seq = next++
      await client.publishAsync(`${RUN}/pumps/${DEVICE}`, JSON.stringify({ ts: T0 + seq * 1_000, seq, values: { flow: 10 + (seq % 40) } }), { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  await Promise.all(Array.from({ length: 10 }, worker))
  await client.endAsync()
}

beforeAll(async () => {
  db = await createTestDatabase()
  await execFile(process.execPath, [BIN, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url } })
  await execFile(process.execPath, [BIN, 'devices', 'add', DEVICE, '--domain', 'water'], { env: { ...process.env, DATABASE_URL: db.url } })
  configFile = join(mkdtempSync(join(tmpdir(), 'gridline-k9-')), 'gridline.yaml')
  writeFileSync(configFile, [
    'sources:',
    '  mqtt: { type: mqtt_broker }',
    '  upstream:',
    '    type: mqtt_client',
    '    url: mqtt://127.0.0.1:1883',
    '    protocolVersion: 5',
    `    clientId: ${RUN}`,
    '    connections: 2',
    `    shareGroup: ${RUN}`,
    '    sessionExpirySeconds: 300',
    '    subscriptions:',
    `      - { filter: "${RUN}/pumps/+", device: { topicLevel: 2 } }`,
    'processors: { onSecondInstance: warn }',
    '',
  ].join('\n'))
}, 60_000)

afterAll(async () => {
  for (const i of [0, 1]) {
    const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-${i}`, clean: true, protocolVersion: 5, reconnectPeriod: 0 }).catch(() => null)
    await c?.endAsync()
  }
  await db?.drop()
})

describe('MQTT client source and kill -9', () => {
  test('every message Mosquitto took is stored exactly once after the restart', async () => {
    const first = startIngest()
    await listening(first)

    // Killed mid-stream, while the publisher goes on: some messages were sent to gridline and not yet acknowledged.
    const publishing = publish(0, 1_000)
    const atKill = await waitStored(100, 20_000)
    first.child.kill('SIGKILL')
    await first.exited
    expect(atKill).toBeGreaterThanOrEqual(100)
    await publishing
    expect((await stored()).rows).toBeLessThan(1_000)
    // Published while gridline is down: kept in its two sessions.
    await publish(1_000, 1_500)

    const second = startIngest()
    expect(await waitStored(1_500, 60_000)).toBe(1_500)
    expect(await stored()).toEqual({ rows: 1_500, seqs: 1_500 })
    await listening(second)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 120_000)
})

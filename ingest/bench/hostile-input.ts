/**
 * Issue 11's figures for hostile and careless input, measured against the
 * real `gridline ingest` process (its own process, its defaults) on a fresh
 * database, with mqtt.js clients:
 *
 *   npx tsx ingest/bench/hostile-input.ts [--seconds 10]
 *
 * 1. Readings without ts, QoS 1, at 500 and 100 msg/s: acknowledged against stored.
 * 2. The same at 20 msg/s from a persistent session, the service killed with
 *    SIGKILL half way and started again: the client resends its backlog in a burst.
 * 3. Three connections each sending 25 messages of ~230 KB of readings whose
 *    metric names are all invalid, while an unrelated device publishes one
 *    QoS 1 reading every 10 ms: rejected rows per rejected message, and that
 *    device's publish-to-PUBACK median and p99 during the flood (and before it).
 *
 * Needs the PostgreSQL at GRIDLINE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { type ChildProcess, execFile as execFileCb, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../../cli/bin/gridline.mjs', import.meta.url))
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 10) || 10
const adminUrl = process.env.GRIDLINE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const PASSWORD = 'hostile-input-bench-password'
const name = `gridline_hostile_${randomBytes(4).toString('hex')}`
const admin = new pg.Client({ connectionString: adminUrl })
await admin.connect()
await admin.query(`CREATE DATABASE ${name}`)
const url = new URL(adminUrl)
url.pathname = `/${name}`
const databaseUrl = url.toString()
const pool = new pg.Pool({ connectionString: databaseUrl })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function gridline(args: string[]): Promise<void> {
  await execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: databaseUrl } })
}

let mqttPort = 0
async function startIngest(port = 0): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'ingest'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info', GRIDLINE_DATA_DIR: `/tmp/${name}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffer = ''
  mqttPort = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (const line of buffer.split('\n')) {
        if (!line.includes('Ingest service is listening')) continue
        resolve(JSON.parse(line).mqttPort)
      }
    })
    child.once('exit', (code) => reject(new Error(`gridline ingest exited with ${code}`)))
  })
  return child
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await pool.query(sql, params)).rows[0].n)
}

function connect(device: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: device, password: PASSWORD, reconnectPeriod: 0, protocolVersion: 4, ...extra })
}

/** Publishes ts-less QoS 1 readings at `rate` for `ms`; resolves with how many were acknowledged. */
async function paced(client: MqttClient, device: string, rate: number, ms: number): Promise<{ sent: number; acked: () => number; done: Promise<unknown> }> {
  let acked = 0
  let sent = 0
  const sends: Promise<unknown>[] = []
  const started = performance.now()
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate)
    while (sent < due) {
      sends.push(client.publishAsync(`telemetry/environment/${device}`, JSON.stringify({ values: { pm25: sent % 500 } }), { qos: 1 }).then(() => { acked++ }, () => undefined))
      sent++
    }
    await sleep(2)
  }
  return { sent, acked: () => acked, done: Promise.all(sends) }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN
}

await execFile(process.execPath, [BIN, 'migrate'], { env: { ...process.env, DATABASE_URL: databaseUrl } })
for (const id of ['burst-500', 'burst-100', 'kill-20', 'victim', 'flood-1', 'flood-2', 'flood-3']) {
  await gridline(['devices', 'add', id, '--domain', 'environment', '--password', PASSWORD])
}
let ingest = await startIngest()
const out: string[] = []

// 1. ts-less at 500 and 100 msg/s.
for (const rate of [500, 100]) {
  const device = `burst-${rate}`
  const client = await connect(device)
  const run = await paced(client, device, rate, seconds * 1000)
  await run.done
  await client.endAsync()
  const stored = await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = $1`, [device])
  out.push(`ts-less at ${rate} msg/s for ${seconds} s: acknowledged ${run.acked()}, stored ${stored}`)
}

// 2. ts-less at 20 msg/s, kill -9 half way, restart: the resent backlog.
{
  const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { username: 'kill-20', password: PASSWORD, clientId: 'kill-20-session', clean: false, reconnectPeriod: 250, protocolVersion: 4 })
  client.on('error', () => undefined)
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  const port = mqttPort
  const runPromise = paced(client, 'kill-20', 20, seconds * 2000)
  await sleep(seconds * 1000)
  ingest.kill('SIGKILL')
  await sleep(3000)
  ingest = await startIngest(port)
  const run = await runPromise
  await Promise.race([run.done, sleep(30_000)])
  client.end(true)
  const stored = await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'kill-20'`)
  out.push(`ts-less at 20 msg/s for ${seconds * 2} s, SIGKILL after ${seconds} s and 3 s down: sent ${run.sent}, acknowledged ${run.acked()}, stored ${stored}`)
}

// 3. A flood of invalid metric names from three connections against an unrelated device's PUBACKs.
{
  const victim = await connect('victim')
  const latencies: { at: number; ms: number }[] = []
  let stop = false
  let n = 0
  const probe = (async () => {
    while (!stop) {
      const t = performance.now()
      await victim.publishAsync('telemetry/environment/victim', JSON.stringify({ ts: Date.now() - 1000 + (n++ % 1000), seq: n, values: { pm25: 1 } }), { qos: 1 })
      latencies.push({ at: t, ms: performance.now() - t })
      await sleep(10)
    }
  })()
  const values = Object.fromEntries(Array.from({ length: 210 }, (_, i) => [`Bad${i}`, 1]))
  const message = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ ts: Date.now() - i * 1000, values })))
  const messages = 25
  // The flooders are mosquitto_pub processes reading one message per line straight from a
  // file, so this process does nothing during the flood but measure the unrelated device.
  const file = join(tmpdir(), `${name}-flood.txt`)
  writeFileSync(file, `${Array(messages).fill(message).join('\n')}\n`)
  await sleep(2000)
  const floodStart = performance.now()
  await Promise.all(['flood-1', 'flood-2', 'flood-3'].map((d) => new Promise<void>((resolve, reject) => {
    const input = openSync(file, 'r')
    const child = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-u', d, '-P', PASSWORD, '-q', '1', '-t', `telemetry/environment/${d}`, '-l'], { stdio: [input, 'ignore', 'inherit'] })
    child.once('exit', (code) => {
      closeSync(input)
      if (code === 0) resolve()
      else reject(new Error(`mosquitto_pub exited with ${code}`))
    })
  })))
  rmSync(file)
  const floodEnd = performance.now()
  await sleep(1000)
  stop = true
  await probe
  const before = latencies.filter((l) => l.at < floodStart).map((l) => l.ms)
  const during = latencies.filter((l) => l.at >= floodStart && l.at <= floodEnd).map((l) => l.ms)
  const rows = await count(`SELECT count(*) AS n FROM rejected WHERE device_id LIKE 'flood-%'`)
  const bytes = Buffer.byteLength(message) * messages * 3
  out.push(`flood: ${messages * 3} messages, ${(bytes / 1e6).toFixed(1)} MB, ${3 * messages * 100 * 210} invalid values in ${((floodEnd - floodStart) / 1000).toFixed(1)} s -> ${rows} rejected rows (${(rows / (messages * 3)).toFixed(2)} per message)`)
  out.push(`unrelated device's publish-to-PUBACK: before the flood median ${quantile(before, 0.5).toFixed(1)} ms, p99 ${quantile(before, 0.99).toFixed(1)} ms (${before.length}); during it median ${quantile(during, 0.5).toFixed(1)} ms, p99 ${quantile(during, 0.99).toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms (${during.length})`)
  await victim.endAsync()
}

ingest.kill('SIGTERM')
await new Promise((resolve) => ingest.once('exit', resolve))
await pool.end()
await admin.query(`DROP DATABASE ${name}`)
await admin.end()
process.stdout.write(`${out.join('\n')}\n`)

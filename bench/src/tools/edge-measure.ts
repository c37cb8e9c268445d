/**
 * Edge agent figures (docs/edge-agent.md#measured-figures), against the real
 * ingest service, PostgreSQL and the PLC simulator with load variables:
 *
 *   npx tsx bench/src/tools/edge-measure.ts [--variables 1000] [--interval-ms 50] [--live-s 10] [--outage-s 10] [--batch 5000]
 *
 * The agent runs as its own process (`gridline edge --config`), so its CPU
 * and memory are its own; they are read from its /healthz. Needs the
 * PostgreSQL at GRIDLINE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { stringify } from 'yaml'
import { createLogger } from '@gridline/core'
import { startPumpStation } from '@gridline/firmware-sim/plc'
import { DeviceStore, buildIngestService, ingestConfig, pgSqlClient } from '@gridline/ingest'
import { CuttableProxy, GATEWAY_PASSWORD } from '@gridline/edge-agent/testing'

const BIN = fileURLToPath(new URL('../../../cli/bin/gridline.mjs', import.meta.url))
const args = process.argv.slice(2)
const arg = (name: string, fallback: number) => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : Number(args[at + 1])
}
const VARIABLES = arg('--variables', 1000)
const INTERVAL_MS = arg('--interval-ms', 50)
const LIVE_S = arg('--live-s', 10)
const OUTAGE_S = arg('--outage-s', 10)
const PER_DEVICE = 100
const BATCH = arg('--batch', 5000)

interface Health {
  queue: { readings: number; bytes: number }
  uplink: { connected: boolean; draining: boolean }
  totals: { accepted: number; sentLive: number; sentBackfill: number }
  process: { rssBytes: number; cpuUserMs: number; cpuSystemMs: number }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

async function main(): Promise<void> {
  const adminUrl = process.env.GRIDLINE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const dbName = `gridline_edge_bench_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${dbName}`)
  const url = new URL(adminUrl)
  url.pathname = `/${dbName}`
  const work = await mkdtemp(join(tmpdir(), 'gridline-edge-bench-'))
  const quiet = createLogger({ level: 'silent' })
  const ingest = buildIngestService(ingestConfig({ database: { url: url.toString() }, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }), quiet)
  const { mqttPort } = await ingest.start()
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
  pool.on('error', () => undefined)
  const devices = Array.from({ length: Math.ceil(VARIABLES / PER_DEVICE) }, (_, i) => `plc-load-${String(i).padStart(3, '0')}`)
  const store = new DeviceStore(pgSqlClient(pool))
  await store.add({ id: 'gw-bench', kind: 'gateway', password: GATEWAY_PASSWORD })
  for (const id of devices) await store.add({ id, domain: 'water', gateway: 'gw-bench', password: 'unused' })
  const proxy = new CuttableProxy(mqttPort!)
  await proxy.start()
  const station = await startPumpStation({ port: 0, pkiDir: join(work, 'plc-pki'), updateIntervalMs: INTERVAL_MS, extraVariables: VARIABLES, seed: 3 })
  const loadNames = Object.keys(station.nodeIds).filter((n) => n.startsWith('load.')).sort()
  const config = {
    gateway: { id: 'gw-bench' },
    dataDir: join(work, 'agent'),
    uplink: { url: `mqtt://127.0.0.1:${proxy.port}`, password: GATEWAY_PASSWORD, reconnectMinMs: 100, reconnectMaxMs: 200, drainReadingsPerSec: 200_000, batchMaxReadings: BATCH, batchMaxBytes: 900_000, maxInFlightBatches: 8 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    opcua: [{
      name: 'ps-load',
      endpointUrl: station.endpointUrl,
      publishingIntervalMs: 100,
      defaults: { samplingIntervalMs: INTERVAL_MS, queueSize: 10 },
      nodes: loadNames.map((name, i) => ({ nodeId: station.nodeIds[name]!, device: devices[Math.floor(i / PER_DEVICE)]!, domain: 'water', metric: `v${String(i % PER_DEVICE).padStart(3, '0')}` })),
    }],
  }
  const configPath = join(work, 'edge.yaml')
  await writeFile(configPath, stringify(config))

  const child = spawn(process.execPath, [BIN, 'edge', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] })
  const httpPort = await new Promise<number>((resolve, reject) => {
    let buffer = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (const line of buffer.split('\n')) if (line.includes('The edge agent is running')) resolve(JSON.parse(line).httpPort)
    })
    child.once('exit', (code) => reject(new Error(`the agent exited with ${code}`)))
  })
  const health = async (): Promise<Health> => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json() as Promise<Health>
  const cpuMs = (h: Health) => h.process.cpuUserMs + h.process.cpuSystemMs
  const sent = (h: Health) => h.totals.sentLive + h.totals.sentBackfill

  try {
    // Settle: session up, first values through.
    for (let i = 0; i < 100 && sent(await health()) < VARIABLES; i++) await sleep(100)
    await sleep(1_000)
    const rest = await health()

    // Live: OPC-UA in, gateway batches out.
    const a = await health()
    const t0 = Date.now()
    await sleep(LIVE_S * 1000)
    const b = await health()
    const liveS = (Date.now() - t0) / 1000
    const liveRate = (sent(b) - sent(a)) / liveS
    const acceptRate = (b.totals.accepted - a.totals.accepted) / liveS
    const cpuPer1000 = (cpuMs(b) - cpuMs(a)) / ((sent(b) - sent(a)) / 1000)
    const coreShare = (cpuMs(b) - cpuMs(a)) / (liveS * 1000)

    // Outage, then drain.
    proxy.cutLink()
    await sleep(300)
    const cutAt = await health()
    await sleep(OUTAGE_S * 1000)
    const c = await health()
    const backlog = c.queue.readings
    // Nothing is deleted during the outage, so the growth of the files is what the readings took.
    const bytesPerReading = (c.queue.bytes - cutAt.queue.bytes) / Math.max(1, c.totals.accepted - cutAt.totals.accepted)
    proxy.restore()
    const t1 = Date.now()
    let peakRss = c.process.rssBytes
    let d = c
    while (Date.now() - t1 < 60_000) {
      await sleep(100)
      d = await health()
      peakRss = Math.max(peakRss, d.process.rssBytes)
      if (d.totals.sentBackfill - c.totals.sentBackfill >= backlog) break
    }
    const drainS = (Date.now() - t1) / 1000
    const drainRate = (d.totals.sentBackfill - c.totals.sentBackfill) / drainS
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM telemetry`)

    const lines = [
      `PLC load variables ${VARIABLES}, update every ${INTERVAL_MS} ms; batches of up to ${BATCH} readings; agent as its own process; ${LIVE_S} s live, ${OUTAGE_S} s outage.`,
      `live: ${Math.round(acceptRate)} readings/s accepted, ${Math.round(liveRate)} readings/s forwarded (OPC-UA in, gateway batches out)`,
      `agent CPU: ${cpuPer1000.toFixed(1)} ms per 1,000 readings; ${(coreShare * 100).toFixed(0)} % of one core at that rate`,
      `outage: backlog ${backlog} readings, ${mb(c.queue.bytes)} on disk = ${bytesPerReading.toFixed(0)} bytes/reading`,
      `drain: ${d.totals.sentBackfill - c.totals.sentBackfill} readings in ${drainS.toFixed(1)} s (reconnect included) = ${Math.round(drainRate)} readings/s backfill (live kept flowing) = ${(drainRate / Math.max(1, liveRate)).toFixed(1)}x the live rate`,
      `memory: RSS at rest ${mb(rest.process.rssBytes)}, peak under drain ${mb(peakRss)}`,
      `stored rows: ${rows[0].n}; agent accepted ${d.totals.accepted}`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
    await station.stop()
    await proxy.stop()
    await ingest.stop()
    await pool.end()
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
    await rm(work, { recursive: true, force: true })
  }
}

process.on('uncaughtException', (err) => { if ((err as { code?: string }).code !== '57P01') throw err })
await main()
process.exit(0)

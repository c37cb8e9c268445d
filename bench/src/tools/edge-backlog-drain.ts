/**
 * The drain of a real 1-hour backlog (docs/edge-agent.md#measured-figures):
 *
 *   npx tsx bench/src/tools/edge-backlog-drain.ts [--backlog-readings 3600000] [--live-rate 1000] [--devices 100] [--timeout-s 900]
 *
 * 1. Pre-fills a fresh agent data folder with the backlog through the agent's
 *    own DiskQueue (same files, seqs and accept times the agent writes while
 *    its uplink is down): readings spread round-robin over the devices, stamped
 *    from `backlog / live-rate` seconds ago up to now.
 * 2. Starts the real ingest service on a fresh database (gateway and devices
 *    registered), the PLC simulator with one load variable per device updating
 *    at `live-rate` readings/s in all, and the agent as its own process
 *    (`gridline edge`) with its default uplink and queue settings.
 * 3. Polls the agent's /metrics and /healthz until the backlog is gone, then
 *    stops the PLC, lets the live tail drain and checks PostgreSQL: every
 *    backlog seq stored once and flagged backfill, every live reading stored
 *    once. Exits 1 when that check fails.
 *
 * Needs the PostgreSQL at GRIDLINE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 * The full 3.6 million run writes about 410 MB to the temp folder and takes a few minutes.
 */
// First: node-opcua's start-up self-check and warnings would otherwise print into the summary.
import '@gridline/edge-agent/testing/quiet-opcua'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { stringify } from 'yaml'
import { createLogger } from '@gridline/core'
import { startPumpStation } from '@gridline/firmware-sim/plc'
import { DeviceStore, buildIngestService, ingestConfig, pgSqlClient } from '@gridline/ingest'
import { DiskQueue, edgeConfig, encodeQueuedReading, sequenceOfQueuedReading } from '@gridline/edge-agent'
import { GATEWAY_PASSWORD } from '@gridline/edge-agent/testing'

const BIN = fileURLToPath(new URL('../../../cli/bin/gridline.mjs', import.meta.url))
const args = process.argv.slice(2)
const arg = (name: string, fallback: number) => {
  const at = args.indexOf(name)
  const value = at === -1 ? fallback : Number(args[at + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${args[at + 1]}.`)
  return value
}
const BACKLOG = Math.round(arg('--backlog-readings', 3_600_000))
const LIVE_RATE = arg('--live-rate', 1000)
const DEVICES = Math.round(arg('--devices', 100))
const TIMEOUT_S = arg('--timeout-s', 900)
/** Each device gets one reading every this many ms, in the backlog and live. */
const DEVICE_INTERVAL_MS = (DEVICES * 1000) / LIVE_RATE
const GATEWAY = 'gw-drain-bench'
const DOMAIN = 'water'
/** Not in the catalogue on purpose: no range check applies to the load signal. */
const METRIC = 'bench_load'
const POLL_MS = 200
const APPENDS_OUTSTANDING = 10_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const int = (n: number) => Math.round(n).toLocaleString('en')
const deviceId = (i: number) => `drain-${String(i).padStart(4, '0')}`
/** How many of the backlog's readings device `i` got (round-robin). */
const backlogOf = (i: number) => Math.floor(BACKLOG / DEVICES) + (i < BACKLOG % DEVICES ? 1 : 0)

interface Snapshot {
  at: number
  depth: number
  queueBytes: number
  accepted: number
  sentLive: number
  sentBackfill: number
  connected: boolean
  draining: boolean
  rssBytes: number
  cpuMs: number
}

interface AgentEvents {
  queueOpenAt?: number
  queueOpenReadings?: number
  runningAt?: number
  httpPort?: number
  connectedAt?: number
  connectedBacklog?: number
  connects: number
  backlogSentAt?: number
}

/** Writes the backlog through the agent's own queue code, as the agent would have accepted it. */
async function prefillBacklog(queueDir: string, startTs: number): Promise<{ seconds: number; diskBytes: number; segments: number }> {
  const defaults = edgeConfig({ gateway: { id: GATEWAY }, dataDir: '/unused', uplink: { url: 'mqtt://127.0.0.1:1' } })
  const queue = await DiskQueue.open({ dir: queueDir, ...defaults.queue, sequenceOf: sequenceOfQueuedReading, logger: createLogger({ level: 'silent' }) })
  const started = Date.now()
  for (let done = 0; done < BACKLOG; done += APPENDS_OUTSTANDING) {
    const appends: Promise<void>[] = []
    for (let i = done; i < Math.min(BACKLOG, done + APPENDS_OUTSTANDING); i++) {
      const device = deviceId(i % DEVICES)
      const ts = startTs + Math.round((i * 1000) / LIVE_RATE)
      const value = Math.round((50 + 40 * Math.sin(i / 5000)) * 1000) / 1000
      const payload = encodeQueuedReading({ device, domain: DOMAIN, ts, values: { [METRIC]: value }, quality: 'good' }, queue.nextSeq(device))
      // Accepted at the moment it was measured, as during a real outage (that is what the TTL and the age gauge read).
      appends.push(queue.append(payload, ts))
    }
    await Promise.all(appends)
  }
  const stats = queue.stats()
  await queue.close()
  const lost = Object.values(stats.dropped).reduce((a, b) => a + b, 0)
  if (stats.depthReadings !== BACKLOG || lost > 0) {
    throw new Error(`The pre-fill kept ${stats.depthReadings} of ${BACKLOG} readings (dropped ${JSON.stringify(stats.dropped)}); raise queue.maxBytes or lower --backlog-readings.`)
  }
  const segments = (await readdir(queueDir)).filter((n) => n.startsWith('seg-'))
  let diskBytes = 0
  for (const name of segments) diskBytes += (await stat(join(queueDir, name))).size
  return { seconds: (Date.now() - started) / 1000, diskBytes, segments: segments.length }
}

/** Follows the agent's JSON log on stdout for the moments the figures are measured from. */
function watchAgentLog(child: ChildProcess, events: AgentEvents): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let partial = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        let entry: { msg?: string; time?: number; readings?: number; httpPort?: number; backlogReadings?: number }
        try {
          entry = JSON.parse(line)
        } catch {
          continue
        }
        if (entry.msg === 'The disk queue is open.') {
          events.queueOpenAt = entry.time
          events.queueOpenReadings = entry.readings
        } else if (entry.msg === 'The edge agent is running.') {
          events.runningAt = entry.time
          events.httpPort = entry.httpPort
          resolve(entry.httpPort!)
        } else if (entry.msg === 'The uplink is connected.') {
          events.connects += 1
          events.connectedAt ??= entry.time
          events.connectedBacklog ??= entry.backlogReadings
        } else if (entry.msg?.startsWith('The uplink has sent its backlog')) {
          events.backlogSentAt ??= entry.time
        }
      }
    })
    child.once('exit', (code) => reject(new Error(`The agent exited with ${code} before it was running.`)))
  })
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  if (!line) throw new Error(`The agent's /metrics has no ${name}.`)
  return Number(line.slice(name.length + 1))
}

async function snapshot(httpPort: number): Promise<Snapshot> {
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const health = await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json() as {
    uplink: { connected: boolean; draining: boolean }
    process: { rssBytes: number; cpuUserMs: number; cpuSystemMs: number }
  }
  return {
    at: Date.now(),
    depth: metricValue(metrics, 'gridline_edge_queue_readings'),
    queueBytes: metricValue(metrics, 'gridline_edge_queue_bytes'),
    accepted: metricValue(metrics, 'gridline_edge_readings_accepted_total'),
    sentLive: metricValue(metrics, 'gridline_edge_readings_sent_total{kind="live"}'),
    sentBackfill: metricValue(metrics, 'gridline_edge_readings_sent_total{kind="backfill"}'),
    connected: health.uplink.connected,
    draining: health.uplink.draining,
    rssBytes: health.process.rssBytes,
    cpuMs: health.process.cpuUserMs + health.process.cpuSystemMs,
  }
}

/** Backlog readings still in the queue: its depth minus the live readings accepted and not yet delivered. */
const backlogLeft = (s: Snapshot) => s.depth - (s.accepted - s.sentLive)

interface Verdict {
  lines: string[]
  ok: boolean
}

/** Every backlog seq stored once and flagged backfill; every live reading stored once, after the backlog's seqs. */
async function verifyStored(pool: pg.Pool, accepted: number, drainStart: number, drainEnd: number): Promise<Verdict> {
  const ids = Array.from({ length: DEVICES }, (_, i) => deviceId(i))
  const counts = Array.from({ length: DEVICES }, (_, i) => backlogOf(i))
  const { rows } = await pool.query(
    `WITH expected AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS e(device_id, backlog_n))
     SELECT e.device_id, e.backlog_n::int AS backlog_n,
            count(t.seq) FILTER (WHERE t.seq < e.backlog_n)::int AS backlog_rows,
            count(DISTINCT t.seq) FILTER (WHERE t.seq < e.backlog_n)::int AS backlog_distinct,
            count(t.seq) FILTER (WHERE t.seq < e.backlog_n AND t.flags & 2 = 2)::int AS backlog_flagged,
            coalesce(min(t.seq) FILTER (WHERE t.seq < e.backlog_n), -1)::int AS backlog_min,
            coalesce(max(t.seq) FILTER (WHERE t.seq < e.backlog_n), -1)::int AS backlog_max,
            count(t.seq) FILTER (WHERE t.seq >= e.backlog_n)::int AS live_rows,
            count(DISTINCT t.seq) FILTER (WHERE t.seq >= e.backlog_n)::int AS live_distinct,
            count(t.seq) FILTER (WHERE t.seq >= e.backlog_n AND t.flags & 2 = 2)::int AS live_flagged,
            coalesce(min(t.seq) FILTER (WHERE t.seq >= e.backlog_n), e.backlog_n)::int AS live_min,
            coalesce(max(t.seq) FILTER (WHERE t.seq >= e.backlog_n), e.backlog_n - 1)::int AS live_max,
            count(*) FILTER (WHERE t.seq IS NULL AND t.device_id IS NOT NULL)::int AS no_seq
       FROM expected e LEFT JOIN telemetry t ON t.device_id = e.device_id
      GROUP BY e.device_id, e.backlog_n`,
    [ids, counts])
  const total = (await pool.query(`SELECT count(*)::bigint AS n FROM telemetry`)).rows[0].n as string
  const liveInDrain = (await pool.query(
    `SELECT count(*)::int AS n FROM telemetry WHERE flags & 2 = 0 AND received_at BETWEEN to_timestamp($1 / 1000.0) AND to_timestamp($2 / 1000.0)`,
    [drainStart, drainEnd])).rows[0].n as number
  const sum = (key: string) => rows.reduce((s, r) => s + r[key], 0)
  const backlogBad = rows.filter((r) => r.backlog_rows !== r.backlog_n || r.backlog_distinct !== r.backlog_n || r.backlog_min !== (r.backlog_n > 0 ? 0 : -1) || r.backlog_max !== r.backlog_n - 1)
  const liveBad = rows.filter((r) => r.live_rows !== r.live_distinct || (r.live_rows > 0 && (r.live_min !== r.backlog_n || r.live_max !== r.backlog_n + r.live_rows - 1)) || r.no_seq > 0)
  const liveRows = sum('live_rows')
  const checks: Array<[string, boolean]> = [
    [`backlog: ${int(sum('backlog_rows'))} rows of ${int(BACKLOG)}, ${DEVICES - backlogBad.length} of ${DEVICES} devices with seqs 0..n-1 each stored once${backlogBad.length ? ` (first bad: ${JSON.stringify(backlogBad[0])})` : ''}`,
      backlogBad.length === 0 && sum('backlog_rows') === BACKLOG],
    [`backlog flagged backfill (flags & 2): ${int(sum('backlog_flagged'))} of ${int(BACKLOG)}`, sum('backlog_flagged') === BACKLOG],
    [`live: ${int(liveRows)} rows = ${int(accepted)} readings the agent accepted; seqs continue the backlog's with no gap or repeat on ${DEVICES - liveBad.length} of ${DEVICES} devices${liveBad.length ? ` (first bad: ${JSON.stringify(liveBad[0])})` : ''}`,
      liveRows === accepted && liveBad.length === 0],
    [`table total: ${int(Number(total))} rows = ${int(BACKLOG)} + ${int(accepted)}`, Number(total) === BACKLOG + accepted],
  ]
  const lines = checks.map(([text, ok]) => `  ${ok ? 'ok  ' : 'FAIL'} ${text}`)
  lines.push(`  live rows flagged backfill (accepted before the uplink first connected, so sent as backlog): ${int(sum('live_flagged'))}`)
  lines.push(`  live rows the database received during the drain: ${int(liveInDrain)}`)
  return { lines, ok: checks.every(([, ok]) => ok) }
}

async function main(): Promise<number> {
  const adminUrl = process.env.GRIDLINE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const work = await mkdtemp(join(tmpdir(), 'gridline-drain-bench-'))
  const dataDir = join(work, 'agent')
  const backlogSpanMs = Math.round((BACKLOG * 1000) / LIVE_RATE)
  const startTs = Date.now() - backlogSpanMs
  process.stdout.write(`pre-filling ${int(BACKLOG)} readings for ${DEVICES} devices into ${join(dataDir, 'queue')} ...\n`)
  const prefill = await prefillBacklog(join(dataDir, 'queue'), startTs)

  const dbName = `gridline_drain_bench_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${dbName}`)
  const url = new URL(adminUrl)
  url.pathname = `/${dbName}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
  pool.on('error', () => undefined)
  const db = { url: url.toString() }
  // The service's defaults, not the tests' shorter flush interval: this measures what runs in production.
  const ingest = buildIngestService(ingestConfig({ database: { url: db.url }, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }), createLogger({ level: 'silent' }))
  let child: ChildProcess | undefined
  let station: Awaited<ReturnType<typeof startPumpStation>> | undefined
  try {
    const { mqttPort } = await ingest.start()
    const store = new DeviceStore(pgSqlClient(pool))
    await store.add({ id: GATEWAY, kind: 'gateway', password: GATEWAY_PASSWORD })
    for (let i = 0; i < DEVICES; i++) await store.add({ id: deviceId(i), domain: DOMAIN, gateway: GATEWAY, password: 'unused device password' })

    station = await startPumpStation({ port: 0, pkiDir: join(work, 'plc-pki'), updateIntervalMs: DEVICE_INTERVAL_MS, extraVariables: DEVICES, seed: 5 })
    const loadNames = Object.keys(station.nodeIds).filter((n) => n.startsWith('load.')).sort()
    // Default uplink and queue settings: the drain runs at what an operator gets out of the box.
    const config = {
      gateway: { id: GATEWAY },
      dataDir,
      uplink: { url: `mqtt://127.0.0.1:${mqttPort}`, password: GATEWAY_PASSWORD },
      http: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      opcua: [{
        name: 'ps-load',
        endpointUrl: station.endpointUrl,
        publishingIntervalMs: 100,
        defaults: { samplingIntervalMs: DEVICE_INTERVAL_MS, queueSize: 10 },
        nodes: loadNames.map((name, i) => ({ nodeId: station!.nodeIds[name]!, device: deviceId(i), domain: DOMAIN, metric: METRIC })),
      }],
    }
    const resolved = edgeConfig(config)
    const configPath = join(work, 'edge.yaml')
    await writeFile(configPath, stringify(config))

    const events: AgentEvents = { connects: 0 }
    const spawnedAt = Date.now()
    const benchCpuAtSpawn = process.cpuUsage()
    child = spawn(process.execPath, [BIN, 'edge', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] })
    const httpPort = await watchAgentLog(child, events)

    // Poll until the queue depth says the backlog is gone.
    const polls: Snapshot[] = []
    let done: Snapshot | undefined
    let connectedPoll: Snapshot | undefined
    let benchCpuAtConnect = benchCpuAtSpawn
    while (Date.now() - spawnedAt < TIMEOUT_S * 1000) {
      const s = await snapshot(httpPort)
      polls.push(s)
      if (s.connected && !connectedPoll) {
        connectedPoll = s
        benchCpuAtConnect = process.cpuUsage()
      }
      if (connectedPoll && backlogLeft(s) <= 0) {
        done = s
        break
      }
      await sleep(POLL_MS)
    }
    if (!done || !connectedPoll) throw new Error(`The backlog was not drained within ${TIMEOUT_S} s (last depth ${polls.at(-1)?.depth}); raise --timeout-s.`)
    const benchCpuDrain = process.cpuUsage(benchCpuAtConnect)

    // A little more live (polled, for when the source came up), then the PLC stops and the agent delivers its last live readings.
    for (let i = 0; i < 2_000 / POLL_MS; i++) {
      await sleep(POLL_MS)
      polls.push(await snapshot(httpPort))
    }
    await station.stop()
    station = undefined
    let end = await snapshot(httpPort)
    polls.push(end)
    for (let i = 0; i < 150 && (end.depth > 0 || end.accepted !== end.sentLive); i++) {
      await sleep(POLL_MS)
      end = await snapshot(httpPort)
      polls.push(end)
    }
    if (end.depth > 0) throw new Error(`The agent still holds ${end.depth} readings after the PLC stopped.`)

    const connectedAt = events.connectedAt ?? connectedPoll.at
    const drainS = (done.at - connectedAt) / 1000
    const sinceStartS = (done.at - spawnedAt) / 1000
    const drainPolls = polls.filter((p) => p.at >= connectedPoll!.at && p.at <= done!.at)
    const firstLive = polls.find((p) => p.accepted > 0)
    // The longest time live delivery stood still during the drain once the source delivered, to the poll interval.
    let stall = 0
    let lastMove = drainPolls.find((p) => p.sentLive > 0)
    for (const p of drainPolls) {
      if (!lastMove || p.at < lastMove.at) continue
      if (p.sentLive > lastMove.sentLive) lastMove = p
      else stall = Math.max(stall, p.at - lastMove.at)
    }
    // The OPC-UA session takes a second or two to deliver: live rates count from then, not from the connect.
    const liveS = Math.max(POLL_MS, done.at - Math.max(connectedPoll.at, firstLive?.at ?? done.at)) / 1000
    const liveForwarded = done.sentLive - connectedPoll.sentLive
    const liveAccepted = done.accepted - connectedPoll.accepted
    // Live keeps flowing when nearly all it accepted during the drain was also delivered during it (the rest is in flight).
    const liveKept = liveAccepted === 0 ? 'n/a: the source delivered nothing before the backlog was gone'
      : liveForwarded >= 0.9 * liveAccepted ? 'ok' : 'FAIL: live readings waited for the backlog'
    const goal = BACKLOG >= 3_600_000 ? `; goal 3.6 million in under 3 min: ${sinceStartS < 180 ? 'met' : 'missed'}` : ''
    const agentCpuMs = done.cpuMs - connectedPoll.cpuMs
    const peakRss = Math.max(...drainPolls.map((p) => p.rssBytes))
    const verdict = await verifyStored(pool, end.accepted, connectedAt, done.at)
    const u = resolved.uplink

    const lines = [
      `backlog ${int(BACKLOG)} readings over ${DEVICES} devices (one every ${DEVICE_INTERVAL_MS.toFixed(0)} ms each, ${(backlogSpanMs / 60_000).toFixed(1)} min of data at ${int(LIVE_RATE)}/s); live: PLC simulator, ${DEVICES} variables every ${DEVICE_INTERVAL_MS.toFixed(0)} ms over OPC-UA`,
      `agent as its own process with its defaults: drainReadingsPerSec ${int(u.drainReadingsPerSec)}, batchMaxReadings ${int(u.batchMaxReadings)}, maxInFlightBatches ${u.maxInFlightBatches}, queue segments ${mib(resolved.queue.segmentBytes)}`,
      `pre-fill (agent's DiskQueue, fsync on): ${prefill.seconds.toFixed(1)} s = ${int(BACKLOG / prefill.seconds)} appends/s; backlog on disk ${mib(prefill.diskBytes)} in ${prefill.segments} segments = ${(prefill.diskBytes / BACKLOG).toFixed(0)} bytes/reading`,
      `start-up: queue open with ${int(events.queueOpenReadings ?? -1)} readings ${fmtS(events.queueOpenAt, spawnedAt)} after spawn, agent running ${fmtS(events.runningAt, spawnedAt)}, uplink connected ${fmtS(events.connectedAt, spawnedAt)} with a backlog of ${int(events.connectedBacklog ?? -1)} (${events.connects} connect(s) in all); first live reading accepted ${fmtS(firstLive?.at, spawnedAt)} (to ${POLL_MS} ms)`,
      `drain: backlog empty (queue depth) ${sinceStartS.toFixed(1)} s after agent start, ${drainS.toFixed(1)} s after the uplink connected = ${int(BACKLOG / drainS)} readings/s (${int(BACKLOG / sinceStartS)}/s counted from agent start); agent logged "sent its backlog" ${fmtS(events.backlogSentAt, spawnedAt)} after spawn${goal}`,
      `live during the drain: ${int(liveAccepted)} accepted = ${int(liveAccepted / liveS)}/s, ${int(liveForwarded)} forwarded = ${int(liveForwarded / liveS)}/s over the ${liveS.toFixed(1)} s of the drain the source was delivering (${liveKept}); longest stall of live delivery ${lastMove ? `${(stall / 1000).toFixed(1)} s` : 'n/a'} (poll every ${POLL_MS} ms)`,
      `agent CPU during the drain: ${int(agentCpuMs)} ms = ${((agentCpuMs / (drainS * 1000)) * 100).toFixed(0)} % of one core, ${(agentCpuMs / ((BACKLOG + liveForwarded) / 1000)).toFixed(1)} ms per 1,000 readings sent`,
      `agent RSS: ${mib(connectedPoll.rssBytes)} at connect, peak ${mib(peakRss)} during the drain, ${mib(end.rssBytes)} at the end`,
      `this process (ingest service + PLC simulator) during the drain: ${(((benchCpuDrain.user + benchCpuDrain.system) / 1000 / (drainS * 1000)) * 100).toFixed(0)} % of one core (PostgreSQL not counted)`,
      `stored in PostgreSQL: ${verdict.ok ? 'exactly once' : 'MISMATCH'}`,
      ...verdict.lines,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    return verdict.ok && !liveKept.startsWith('FAIL') ? 0 : 1
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child!.once('exit', resolve))
    }
    await station?.stop()
    await ingest.stop()
    await pool.end()
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
    await rm(work, { recursive: true, force: true })
  }
}

function fmtS(at: number | undefined, from: number): string {
  return at === undefined ? '(not seen)' : `${((at - from) / 1000).toFixed(1)} s`
}

// The forced DROP DATABASE ends the service's idle connections (57P01); nothing else is ignored.
process.on('uncaughtException', (err) => { if ((err as { code?: string }).code !== '57P01') throw err })
process.exit(await main())

/**
 * The system under test, in its own process so that its CPU and memory are
 * its own: either the gridline ingest service (`gridline`) or an aedes
 * broker with no pipeline at all (`bare-aedes`), the yardstick for the
 * single-message scenario, or a do-nothing MQTT sink (`null-sink`) that
 * only answers CONNACK, PUBACK and PINGRESP, for checking that the load
 * generators are not the limit. Argument: the kind. Commands: `start`, `sample`, `alarmStats`, `stop`.
 */
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '@gridline/core'
import { type IngestService, buildIngestService, ingestConfig, makeDevServerCert } from '@gridline/ingest'
import { serveRequests } from './ipc.ts'
import { startNullSink } from './null-sink.ts'
import { percentile, sortSamples } from './stats.ts'

export type TargetKind = 'gridline' | 'bare-aedes' | 'null-sink'

export interface StartRequest {
  /** Required for `gridline`: the benchmark database, migrated and with the devices registered. */
  databaseUrl?: string
  /** gridline only: the service's `processors` section (alarm rules for alarm-latency); the defaults when absent. */
  processors?: Record<string, unknown>
  /** gridline only: more of the service's config (an http source, a secondary sink), merged over the bench's. */
  config?: Record<string, unknown>
}

export interface StartResult {
  mqttPort: number
  /**
   * gridline with GRIDLINE_BENCH_TLS=1 only: its MQTT-over-TLS port (beside the
   * plain one) and the development CA that signed its certificate; else null.
   */
  mqttTlsPort: number | null
  tlsCaFile: string | null
  /** The ingest service's /metrics; null for bare aedes. */
  httpPort: number | null
  /** The service's ingest.maxPendingRows (the backpressure gauge rises at it); null for bare aedes. */
  maxPendingRows: number | null
  /** gridline only: the ports of its other sources (an http source), by id. */
  sourcePorts?: Record<string, Record<string, number | null>>
}

/** One look at the process, taken every few hundred ms while a phase runs. */
export interface TargetSample {
  atMs: number
  rssBytes: number
  heapUsedBytes: number
  /** CPU time used since the previous sample, as a percentage of one core. */
  cpuPercent: number
  connectedClients: number
  /** Event-loop delay since the previous sample (ms): how long ready work, such as a commit's reply, waited for the loop. */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  /** gridline only: rows decoded and not yet committed. */
  pendingRows: number | null
  /**
   * gridline only: whether gridline_ingest_backpressure was set to 1 at any
   * moment since the previous sample (caught where the service sets it, so a
   * short episode between two samples is not missed), and how many times it
   * went from 0 to 1 since the service started.
   */
  backpressureSeen: boolean | null
  backpressureRises: number | null
}

const kind = process.argv[2] as TargetKind
if (kind !== 'gridline' && kind !== 'bare-aedes' && kind !== 'null-sink') throw new Error(`target-process: unknown kind "${process.argv[2]}"`)

let service: IngestService | undefined
let bare: { close(): Promise<void>; connectedClients(): number } | undefined
let lastCpu = process.cpuUsage()
let lastCpuAt = performance.now()
const logger = createLogger({ level: 'warn', destination: 2 })
/**
 * Event-loop delay, measured as the lateness of a 10 ms timer. (Node 20's
 * monitorEventLoopDelay reports the timer interval itself and missed a 50 ms
 * block in a quick check, so it is not used.) Bounded: one entry per tick.
 */
const LOOP_PROBE_MS = 10
let loopLags: number[] = []
let loopProbeDue = performance.now() + LOOP_PROBE_MS
const loopProbe = setInterval(() => {
  const now = performance.now()
  if (loopLags.length < 100_000) loopLags.push(Math.max(0, now - loopProbeDue))
  loopProbeDue = now + LOOP_PROBE_MS
}, LOOP_PROBE_MS)
loopProbe.unref()

async function start(body: unknown): Promise<StartResult> {
  const request = body as StartRequest
  if (kind === 'gridline') {
    if (!request.databaseUrl) throw new Error('gridline needs databaseUrl')
    // GRIDLINE_BENCH_TLS=1: a TLS listener as well (a development certificate, no client certificates), for ingest-single over TLS.
    const tls = process.env.GRIDLINE_BENCH_TLS === '1' ? makeDevServerCert(mkdtempSync(join(tmpdir(), 'gridline-bench-tls-'))) : null
    service = buildIngestService(ingestConfig({
      database: { url: request.databaseUrl },
      mqtt: { host: '127.0.0.1', port: 0, ...(tls ? { tls: { port: 0, certFile: tls.certFile, keyFile: tls.keyFile } } : {}) },
      http: { host: '127.0.0.1', port: 0 },
      auth: { mode: 'devices' },
      log: { level: 'warn' },
      // Measure other pipeline settings without editing code, e.g. '{"writers": 4}'.
      ingest: JSON.parse(process.env.GRIDLINE_BENCH_INGEST ?? '{}') as Record<string, unknown>,
      // The processors likewise, e.g. '{"indicators": {"enabled": false}}'.
      processors: request.processors ?? JSON.parse(process.env.GRIDLINE_BENCH_PROCESSORS ?? '{}') as Record<string, unknown>,
      ...request.config,
    }), logger)
    watchBackpressure(service)
    const ports = await service.start()
    return { mqttPort: ports.mqttPort!, mqttTlsPort: ports.mqttTlsPort, tlsCaFile: tls?.caFile ?? null, httpPort: ports.httpPort, maxPendingRows: service.config.ingest.maxPendingRows, sourcePorts: ports.sources }
  }
  if (kind === 'null-sink') {
    const sink = await startNullSink()
    bare = sink
    return { mqttPort: sink.port, mqttTlsPort: null, tlsCaFile: null, httpPort: null, maxPendingRows: null }
  }
  const { Aedes } = await import('aedes')
  const broker = await Aedes.createBroker()
  const server = createServer((socket) => broker.handle(socket))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  bare = {
    connectedClients: () => broker.connectedClients,
    async close() {
      server.close()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    },
  }
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('bare aedes: no listening address')
  return { mqttPort: address.port, mqttTlsPort: null, tlsCaFile: null, httpPort: null, maxPendingRows: null }
}

let backpressureSeen = false
let backpressureRises = 0

/**
 * Observes every write of the service's gridline_ingest_backpressure gauge
 * (the value /metrics reports) without changing it: a wrapper on this one
 * gauge object's set, installed by the bench, not by the service.
 */
function watchBackpressure(target: IngestService): void {
  const gauge = target.metrics.backpressure
  const set = gauge.set.bind(gauge) as (...args: unknown[]) => void
  let last = 0
  const watched = (...args: unknown[]) => {
    const value = args[args.length - 1]
    if (value === 1) {
      backpressureSeen = true
      if (last !== 1) backpressureRises++
    }
    if (typeof value === 'number') last = value
    set(...args)
  }
  gauge.set = watched as typeof gauge.set
}

async function sample(): Promise<TargetSample> {
  const now = performance.now()
  const cpu = process.cpuUsage(lastCpu)
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - lastCpuAt)) * 100
  lastCpu = process.cpuUsage()
  lastCpuAt = now
  const memory = process.memoryUsage()
  const lags = sortSamples(loopLags)
  loopLags = []
  const loopDelayP99Ms = percentile(lags, 99)
  const loopDelayMaxMs = lags[lags.length - 1] ?? NaN
  const snapshot = service ? await service.snapshot() : undefined
  return {
    atMs: Date.now(),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    cpuPercent,
    loopDelayP99Ms,
    loopDelayMaxMs,
    connectedClients: snapshot?.connectedClients ?? bare?.connectedClients() ?? 0,
    pendingRows: snapshot?.pendingRows ?? null,
    backpressureSeen: service ? takeBackpressureSeen() : null,
    backpressureRises: service ? backpressureRises : null,
  }
}

function takeBackpressureSeen(): boolean {
  const seen = backpressureSeen
  backpressureSeen = false
  return seen
}

/** gridline only: the alarm engine's counters (docs/alarms.md, `stats()`), some of which /metrics does not show; null without an engine. */
async function alarmStats(): Promise<unknown> {
  return service?.processing.alarms?.stats() ?? null
}

async function stop(): Promise<void> {
  await service?.stop()
  await bare?.close()
  logger.flush()
}

/** CPU used by this process so far (user + system, ms). */
async function cpuMs(): Promise<number> {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** Memory after a full collection, when started with --expose-gc (the pending-memory tool) and not asked for 'as-is'; else as it is. */
async function collectedMemory(body: unknown): Promise<{ rssBytes: number; heapUsedBytes: number; externalBytes: number; arrayBuffersBytes: number }> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (body !== 'as-is') {
    gc?.()
    gc?.()
  }
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers }
}

/** Writes a V8 heap snapshot to the given path (the pending-memory tool's --snapshots); resolves with it. */
async function heapSnapshot(body: unknown): Promise<string> {
  const { writeHeapSnapshot } = await import('node:v8')
  return writeHeapSnapshot(String(body))
}

serveRequests({ start, sample, alarmStats, cpuMs, collectedMemory, heapSnapshot, stop }, stop)

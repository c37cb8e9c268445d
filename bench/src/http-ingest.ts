/**
 * The HTTP ingest scenarios (issue 14), each side by side in one round:
 *
 * - `line-protocol`: InfluxDB line protocol over HTTP, `httpLinesPerRequest`
 *   lines a request over `httpConnections` keep-alive connections (Telegraf's
 *   shape), into gridline's http source (answered after the commit) and into
 *   InfluxDB 1.6.7 itself (its WAL fsyncs each write before the 204), the
 *   very same bodies; rows stored per second, and as a fraction of copy-limit.
 * - `sensor-community`: airrohr POSTs from `sensors` simulated sensors, each
 *   its own device and login: the closed-loop maximum, then the latency to
 *   the 204 paced at half of it.
 * - `influxdb-sink`: ingest-batched with an InfluxDB sink beside the primary,
 *   against without it (order alternating by round), and how fast the sink
 *   got every row into InfluxDB.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Influxd, startInfluxd } from '@gridline/ingest/testing'
import type { BenchDatabase } from './database.ts'
import { Target, progress, sleep } from './harness.ts'
import type { HttpLoadResult, LineProtocolRequest, Sensor, SensorsRequest } from './http-load.ts'
import { ChildHandle } from './ipc.ts'
import type { BatchedResult, HttpLoadSummary, InfluxSinkResult, LineProtocolResult, RunContext, SensorCommunityResult } from './results.ts'
import { latencyOf } from './window.ts'
import { BENCH_PASSWORD } from './workload.ts'

const LP_GATEWAY = 'bench-lp-gw'
const lpDevices = (n: number) => Array.from({ length: n }, (_, i) => `bench-lp-${String(i).padStart(4, '0')}`)
const sensorIds = (n: number) => Array.from({ length: n }, (_, i) => `bench-sc-${String(i).padStart(4, '0')}`)
/** An http source on a free port, with the per-login limit off for the one line-protocol login. */
const HTTP_SOURCE = { sources: { http: { type: 'http', host: '127.0.0.1', port: 0, rateLimit: { requestsPerSecond: 0 } } } }

function summary(r: HttpLoadResult): HttpLoadSummary {
  const ok = Object.entries(r.statuses).reduce((n, [code, k]) => n + (code.startsWith('2') ? k : 0), 0)
  return {
    requests: r.requests,
    ok,
    statuses: r.statuses,
    elapsedMs: r.elapsedMs,
    requestsPerSecond: ok / (r.elapsedMs / 1000),
    latencyMs: latencyOf(Float64Array.from(r.latenciesMs)).latencyMs,
    firstError: r.firstError,
    retries: r.retries,
    loadCpuPercent: r.cpuPercent,
  }
}

async function withLoad<T>(ctx: RunContext, name: string, run: (load: ChildHandle) => Promise<T>): Promise<T> {
  const load = ChildHandle.start(name, './http-load.ts', [], ctx.log)
  try {
    return await run(load)
  } finally {
    await load.stop(10_000)
  }
}

async function countInflux(influx: Influxd, db: string, query: string): Promise<number> {
  const answer = await influx.query(query, db)
  let n = 0
  for (const series of answer.results[0]?.series ?? []) for (const v of series.values) n += Number(v[1] ?? 0)
  return n
}

export async function measureLineProtocol(ctx: RunContext, db: BenchDatabase, round: number): Promise<LineProtocolResult> {
  const s = ctx.settings
  const ids = lpDevices(s.httpDevices)
  await db.addDevices([{ id: LP_GATEWAY, kind: 'gateway', password: BENCH_PASSWORD }, ...ids.map((id) => ({ id, domain: 'environment', gateway: LP_GATEWAY, password: BENCH_PASSWORD }))])
  const token = await db.createToken(LP_GATEWAY)
  const rows = s.httpRequests * s.httpLinesPerRequest
  const request = (url: string, headers: Record<string, string>): LineProtocolRequest => ({
    url, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, deviceIds: ids, baseTimeMs: ctx.baseTimeMs,
    linesPerRequest: s.httpLinesPerRequest, requests: s.httpRequests, connections: s.httpConnections, timeoutMs: s.countTimeoutMs,
  })

  const gridline = async () => {
    await db.reset()
    progress(`round ${round}: line-protocol: gridline, ${s.httpRequests} x ${s.httpLinesPerRequest} lines over ${s.httpConnections} connections`)
    const target = await Target.start(ctx, 'gridline', db, { config: HTTP_SOURCE })
    try {
      const url = `http://127.0.0.1:${target.sourcePort('http')}/api/v2/write?org=city&bucket=telemetry&precision=ms`
      const cpuBefore = await target.cpuMs()
      const r = await withLoad(ctx, 'http-load-lp-gridline', (load) => load.request<HttpLoadResult>('lineProtocol', request(url, { Authorization: `Token ${token}` }), s.countTimeoutMs + 30_000))
      const cpu = (await target.cpuMs()) - cpuBefore
      const stored = await db.countTelemetry()
      return { ...summary(r), storedRows: stored, rowsPerSecond: stored / (r.elapsedMs / 1000), serverCpuMicrosPerRow: (cpu * 1000) / stored }
    } finally {
      await target.stop()
    }
  }
  const influx = async () => {
    progress(`round ${round}: line-protocol: InfluxDB 1.6.7, the same bodies`)
    const server = await startInfluxd()
    try {
      await server.query('CREATE DATABASE bench')
      const cpuBefore = server.cpuMs()
      const r = await withLoad(ctx, 'http-load-lp-influxd', (load) => load.request<HttpLoadResult>('lineProtocol', request(`${server.url}/write?db=bench&precision=ms`, {}), s.countTimeoutMs + 30_000))
      const cpu = server.cpuMs() - cpuBefore
      const stored = await countInflux(server, 'bench', 'SELECT count(pm25) FROM env')
      return { ...summary(r), storedRows: stored, rowsPerSecond: stored / (r.elapsedMs / 1000), serverCpuMicrosPerRow: (cpu * 1000) / stored }
    } finally {
      await server.destroy()
    }
  }
  // Which goes first alternates by round, so drift on the shared machine favours neither.
  const first = round % 2 === 1 ? await gridline() : await influx()
  const second = round % 2 === 1 ? await influx() : await gridline()
  const [g, i] = round % 2 === 1 ? [first, second] : [second, first]
  return { rowsSent: rows, linesPerRequest: s.httpLinesPerRequest, connections: s.httpConnections, gridline: g, influxdb: i, ratioToInflux: g.rowsPerSecond / i.rowsPerSecond }
}

export async function measureSensorCommunity(ctx: RunContext, db: BenchDatabase, round: number): Promise<SensorCommunityResult> {
  const s = ctx.settings
  const ids = sensorIds(s.sensors)
  const sensors: Sensor[] = ids.map((id, i) => ({ chipId: String(7_000_000 + i), login: id, password: BENCH_PASSWORD }))
  await db.addDevices(ids.map((id, i) => ({ id, domain: 'environment', password: BENCH_PASSWORD, metadata: { sensorCommunityId: sensors[i]!.chipId } })))
  await db.reset()
  const target = await Target.start(ctx, 'gridline', db, { config: HTTP_SOURCE })
  try {
    const url = `http://127.0.0.1:${target.sourcePort('http')}/sensor-community`
    return await withLoad(ctx, 'http-load-sensors', async (load) => {
      const base: SensorsRequest = { url, sensors, warmupMs: 0, windowMs: 0, timeoutMs: 30_000 }
      // Each sensor's first login costs one scrypt; later ones are cached: every sensor posts once first.
      progress(`round ${round}: sensor-community: ${s.sensors} sensors log in once`)
      const logins = await load.request<HttpLoadResult>('sensorsClosed', { ...base, concurrency: 8, onceEach: true }, 600_000)
      progress(`round ${round}: sensor-community: closed loop, ${s.sensorConcurrency} in flight`)
      const max = summary(await load.request<HttpLoadResult>('sensorsClosed', { ...base, concurrency: s.sensorConcurrency, warmupMs: s.warmupMs, windowMs: s.windowMs }, s.warmupMs + s.windowMs + 60_000))
      const rate = max.requestsPerSecond / 2
      progress(`round ${round}: sensor-community: paced at ${Math.round(rate)} req/s (half the maximum)`)
      const half = summary(await load.request<HttpLoadResult>('sensorsPaced', { ...base, ratePerSecond: rate, warmupMs: s.warmupMs, windowMs: s.windowMs }, s.warmupMs + s.windowMs + 60_000))
      const stored = await db.countTelemetry()
      return { sensors: s.sensors, loginRequests: logins.requests, max, halfRate: rate, half, storedRows: stored }
    })
  } finally {
    await target.stop()
  }
}

export async function measureInfluxSink(ctx: RunContext, db: BenchDatabase, round: number, batched: (options: { config?: Record<string, unknown>; afterLoad?: (loadStartedEpochMs: number, storedRows: number) => Promise<void> }) => Promise<BatchedResult>): Promise<InfluxSinkResult> {
  const server = await startInfluxd()
  const bufferDir = mkdtempSync(join(tmpdir(), 'gridline-bench-sink-'))
  try {
    let caughtUpMs = NaN
    let sinkRows = 0
    let influxCpuMs = NaN
    const withSink = async () => {
      await server.query('DROP DATABASE benchsink')
      await server.query('CREATE DATABASE benchsink')
      const cpuBefore = server.cpuMs()
      progress(`round ${round}: influxdb-sink: ingest-batched with an InfluxDB sink`)
      return batched({
        config: { sinks: { timescale: { type: 'timescale' }, influx: { type: 'influxdb', version: 1, url: server.url, db: 'benchsink', buffer: { dir: join(bufferDir, `r${round}`) } } } },
        // Until InfluxDB holds every stored row (measurements are the bench's metrics).
        afterLoad: async (loadStartedEpochMs, storedRows) => {
          const deadline = Date.now() + ctx.settings.countTimeoutMs
          while (Date.now() < deadline) {
            sinkRows = await countInflux(server, 'benchsink', 'SELECT count(value) FROM /.*/')
            if (sinkRows >= storedRows) {
              caughtUpMs = Date.now() - loadStartedEpochMs
              influxCpuMs = server.cpuMs() - cpuBefore
              return
            }
            await sleep(100)
          }
        },
      })
    }
    const without = async () => {
      progress(`round ${round}: influxdb-sink: ingest-batched without it`)
      return batched({})
    }
    let on: BatchedResult
    let off: BatchedResult
    if (round % 2 === 1) {
      off = await without()
      on = await withSink()
    } else {
      on = await withSink()
      off = await without()
    }
    return {
      off, on, ratio: on.readingsPerSecond / off.readingsPerSecond,
      sinkRows, caughtUpMs, sinkRowsPerSecond: Number.isFinite(caughtUpMs) ? sinkRows / (caughtUpMs / 1000) : NaN,
      influxCpuMicrosPerRow: (influxCpuMs * 1000) / sinkRows,
    }
  } finally {
    await server.destroy()
    rmSync(bufferDir, { recursive: true, force: true })
  }
}

/**
 * The parties of a network scenario and how they are watched: a target
 * process (gridline, bare aedes or the do-nothing sink) sampled while a
 * phase runs, and a set of load generator processes sharing the connections.
 */
import os from 'node:os'
import { type ChildLog, ChildHandle } from './ipc.ts'
import type { CountPhase, OverloadPhase, PrepareRequest, WindowPhase } from './load-generator.ts'
import type { BenchSettings, MetricsSample, PartyKind, RunContext, TargetObservation } from './results.ts'
import { median } from './stats.ts'
import type { StartRequest, StartResult, TargetKind, TargetSample } from './target-process.ts'
import type { BenchDatabase } from './database.ts'
import { BENCH_PASSWORD } from './workload.ts'

/** Scrapes the service's /metrics every intervalMs until stopped: the backpressure gauge, shed counter and pending rows as a monitor sees them. */
export function sampleMetrics(httpPort: number, intervalMs: number): { stop(): Promise<MetricsSample[]> } {
  const samples: MetricsSample[] = []
  const poller = pollEvery(intervalMs, () => true, async () => {
    const atMs = Date.now()
    const asked = performance.now()
    try {
      const m = await scrapeMetrics(httpPort, 5_000)
      samples.push({
        atMs,
        answeredInMs: performance.now() - asked,
        backpressure: m.gridline_ingest_backpressure ?? null,
        shedTotal: m.gridline_ingest_shed_total ?? null,
        pendingRows: m.gridline_ingest_pending_rows ?? null,
      })
    } catch (err) {
      samples.push({ atMs, answeredInMs: performance.now() - asked, backpressure: null, shedTotal: null, pendingRows: null, error: (err as Error).message })
    }
  })
  return { stop: async () => { await poller.stop(); return samples } }
}

/**
 * Runs `tick` every intervalMs while `alive()` holds, until stopped; bounded
 * by a tick count too, so a forgotten poller cannot run forever.
 */
export function pollEvery(intervalMs: number, alive: () => boolean, tick: () => Promise<void>): { stop(): Promise<void> } {
  let running = true
  const loop = (async () => {
    for (let i = 0; running && alive() && i < 100_000; i++) {
      await tick()
      if (running) await sleep(intervalMs)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
    },
  }
}

export interface Sampled {
  samples: { sample: TargetSample; answeredInMs: number }[]
  missed: number
}

/** Anything a windowed phase can run against and watch while it runs. */
export interface Observed {
  readonly kind: PartyKind
  readonly settings: BenchSettings
  /** The service's HTTP port where it has one (its /metrics). */
  readonly httpPort?: number | null
  sample(intervalMs: number): { stop(): Promise<Sampled> }
  observe(sampled: Sampled): Promise<TargetObservation>
  /** CPU (user + system, ms) the target process has used so far, where it can say. */
  cpuMs?(): Promise<number>
}

/** A target process (gridline, bare aedes or the do-nothing sink), started and listening. */
export class Target implements Observed {
  private constructor(
    readonly kind: TargetKind,
    private readonly handle: ChildHandle,
    private readonly ports: StartResult,
    readonly settings: BenchSettings,
    private readonly log: ChildLog,
    private readonly logName: string,
  ) {}

  private static started = 0

  /** `nodeOptions`: more flags for the target's node (`--expose-gc`). */
  static async start(ctx: RunContext, kind: TargetKind, db: BenchDatabase | null, options: Omit<StartRequest, 'databaseUrl'> = {}, nodeOptions: string[] = []): Promise<Target> {
    const logName = `${kind}#${++Target.started}`
    const profile = kind === 'gridline' && ctx.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfileDir] : []
    const handle = ChildHandle.start(logName, './target-process.ts', [kind], ctx.log, [...profile, ...nodeOptions])
    try {
      const ports = await handle.request<StartResult>('start', { ...options, databaseUrl: db?.url } satisfies StartRequest, 60_000)
      return new Target(kind, handle, ports, ctx.settings, ctx.log, logName)
    } catch (err) {
      await handle.stop(5_000)
      throw err
    }
  }

  get mqttPort(): number {
    return this.ports.mqttPort
  }

  get httpPort(): number | null {
    return this.ports.httpPort
  }

  /** gridline with GRIDLINE_BENCH_TLS=1: the MQTT-over-TLS port and the CA to trust; else null. */
  get tls(): { port: number; caFile: string } | null {
    const { mqttTlsPort, tlsCaFile } = this.ports
    return mqttTlsPort !== null && tlsCaFile !== null ? { port: mqttTlsPort, caFile: tlsCaFile } : null
  }

  get maxPendingRows(): number | null {
    return this.ports.maxPendingRows
  }

  /** The port of one of gridline's other sources (its http source), by id. */
  sourcePort(id: string): number {
    const port = this.ports.sourcePorts?.[id]?.port
    if (port === undefined || port === null) throw new Error(`the target has no source "${id}"`)
    return port
  }

  async cpuMs(): Promise<number> {
    return this.handle.request<number>('cpuMs', undefined, 10_000)
  }

  /** Memory after two full collections (the target must run with --expose-gc for that to mean anything), or `asIs`, garbage included. */
  async collectedMemory(asIs = false): Promise<{ rssBytes: number; heapUsedBytes: number; externalBytes: number; arrayBuffersBytes: number }> {
    return this.handle.request('collectedMemory', asIs ? 'as-is' : undefined, 30_000)
  }

  /** Writes a V8 heap snapshot of the target to `path` (it blocks the target for seconds). */
  async heapSnapshot(path: string): Promise<string> {
    return this.handle.request('heapSnapshot', path, 120_000)
  }

  /** One look at the process now (CPU since the previous look). */
  async sampleOnce(): Promise<TargetSample> {
    return this.handle.request<TargetSample>('sample', undefined, 10_000)
  }

  /** The service's uncommitted rows now (null for bare aedes). */
  async pendingRows(): Promise<number | null> {
    return (await this.sampleOnce()).pendingRows
  }

  /** kill -9 of the target process, resolved once it is gone: nothing is committed, closed or acknowledged on the way. */
  async kill9(): Promise<void> {
    await this.handle.kill('SIGKILL')
  }

  get exited(): boolean {
    return this.handle.exited
  }

  /** The service's alarm engine counters (null without an engine); the shape of the engine's stats(). */
  async alarmStats<T>(): Promise<T | null> {
    return this.handle.request<T | null>('alarmStats', undefined, 10_000)
  }

  /** Samples the process every intervalMs until stopped; bounded by a sample count too. */
  sample(intervalMs: number): { stop(): Promise<Sampled> } {
    const samples: Sampled = { samples: [], missed: 0 }
    const poller = pollEvery(intervalMs, () => !this.handle.exited, async () => {
      const asked = performance.now()
      try {
        const sample = await this.handle.request<TargetSample>('sample', undefined, 10_000)
        samples.samples.push({ sample, answeredInMs: performance.now() - asked })
      } catch {
        // A sample not answered in 10 s is itself a finding: the report shows the count.
        samples.missed++
      }
    })
    return { stop: async () => { await poller.stop(); return samples } }
  }

  /** Folds samples, the service's /metrics and its log complaints into one observation. */
  async observe(sampled: Sampled): Promise<TargetObservation> {
    const { samples } = sampled
    const pending = samples.map((x) => x.sample.pendingRows).filter((n): n is number => n !== null)
    const complaints = this.log.complaintsOf(this.logName)
    return {
      ...processObservation(sampled),
      heapUsedPeakBytes: samples.length > 0 ? Math.max(...samples.map((x) => x.sample.heapUsedBytes)) : NaN,
      slowestSampleAnswerMs: samples.length > 0 ? Math.max(...samples.map((x) => x.answeredInMs)) : NaN,
      loopDelayP99Ms: median(samples.slice(1).map((x) => x.sample.loopDelayP99Ms)),
      loopDelayMaxMs: samples.length > 1 ? Math.max(...samples.slice(1).map((x) => x.sample.loopDelayMaxMs)) : NaN,
      peakPendingRows: pending.length > 0 ? Math.max(...pending) : null,
      metrics: this.ports.httpPort === null ? null : await scrapeMetrics(this.ports.httpPort),
      logWarnings: complaints.warnings,
      logErrors: complaints.errors,
      firstComplaints: complaints.first,
    }
  }

  async stop(): Promise<void> {
    // A graceful stop commits what was taken in; give it the service's own shutdown timeout and a little more.
    await this.handle.stop(40_000)
  }
}

/** The load generator processes of one scenario, sharing its connections between them. */
export class LoadSet {
  private constructor(private readonly handles: ChildHandle[]) {}

  /** `caFile`: connect over TLS (mqtts) to `port`, trusting that CA. */
  static async start(ctx: RunContext, name: string, port: number, deviceIds: string[], options: { topicPrefix?: string; caFile?: string } = {}): Promise<LoadSet> {
    const n = Math.min(ctx.settings.loadProcesses, deviceIds.length)
    const handles = Array.from({ length: n }, (_, i) => ChildHandle.start(`${name}#${i}`, './load-generator.ts', [], ctx.log))
    const set = new LoadSet(handles)
    try {
      await Promise.all(handles.map((h, i) => h.request('connect', {
        port,
        deviceIds: deviceIds.filter((_, d) => d % n === i),
        password: BENCH_PASSWORD,
        baseTimeMs: ctx.baseTimeMs,
        timeoutMs: ctx.settings.connectTimeoutMs,
        topicPrefix: options.topicPrefix,
        caFile: options.caFile,
      }, ctx.settings.connectTimeoutMs + 10_000)))
    } catch (err) {
      await set.stop()
      throw err
    }
    return set
  }

  /** Makes every connection's payloads before the clock starts (and publishes Sparkplug births); see PrepareRequest. */
  async prepare(request: PrepareRequest, timeoutMs: number): Promise<void> {
    await Promise.all(this.handles.map((h) => h.request('prepare', request, timeoutMs)))
  }

  /** Runs the same phase in every load process at once; resolves with each one's result. */
  run<T>(command: 'count' | 'window' | 'overload', phase: CountPhase | WindowPhase | OverloadPhase, timeoutMs: number): Promise<T[]> {
    return Promise.all(this.handles.map((h) => h.request<T>(command, phase, timeoutMs)))
  }

  async stop(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.stop(10_000)))
  }
}

/** Counters worth reporting from the service's /metrics: what it says it stored, refused, retried and shed. */
const REPORTED_METRICS = [
  'gridline_ingest_messages_received_total',
  'gridline_ingest_messages_acked_total',
  'gridline_ingest_readings_stored_total',
  'gridline_ingest_rows_stored_total',
  'gridline_ingest_rows_duplicate_total',
  'gridline_ingest_rejected_total',
  'gridline_ingest_write_retries_total',
  'gridline_ingest_shed_total',
  'gridline_ingest_auth_failures_total',
  'gridline_ingest_oversized_packets_total',
  'gridline_ingest_pending_rows',
  'gridline_ingest_backpressure',
  'gridline_ingest_batch_rows_sum',
  'gridline_ingest_batch_rows_count',
  'gridline_ingest_commit_seconds_sum',
  'gridline_ingest_commit_seconds_count',
] as const

export async function scrapeMetrics(httpPort: number, timeoutMs = 10_000): Promise<Record<string, number>> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
  const text = await response.text()
  const values: Record<string, number> = {}
  for (const name of REPORTED_METRICS) values[name] = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const name = /^[a-z_]+/.exec(line)?.[0]
    if (name && name in values) values[name]! += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return values
}

/** Busy share of all cores between two os.cpus() readings: the whole machine, other tenants included. */
export function machineCpuPercent(before: os.CpuInfo[], after: os.CpuInfo[]): number {
  let busy = 0
  let total = 0
  after.forEach((cpu, i) => {
    const was = before[i]?.times
    if (!was) return
    const idle = cpu.times.idle - was.idle
    const all = Object.values(cpu.times).reduce((a, b) => a + b, 0) - Object.values(was).reduce((a, b) => a + b, 0)
    busy += all - idle
    total += all
  })
  return total > 0 ? (busy / total) * 100 : NaN
}

let quiet = false

/** Silences progress lines (the smoke test: tests must not write to the console). */
export function setQuiet(value: boolean): void {
  quiet = value
}

export function progress(message: string): void {
  if (!quiet) process.stderr.write(`gridline bench: ${message}\n`)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
export const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

export function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(sum(arrays.map((a) => a.length)))
  let at = 0
  for (const a of arrays) {
    out.set(a, at)
    at += a.length
  }
  return out
}


/** What any sampled process shows: sample counts, RSS at start, peak and end, and mean CPU. */
export function processObservation({ samples, missed }: Sampled): Pick<TargetObservation, 'samples' | 'missedSamples' | 'rssStartBytes' | 'rssPeakBytes' | 'rssEndBytes' | 'meanCpuPercent'> {
  const rss = samples.map((x) => x.sample.rssBytes)
  // The first sample's CPU covers the idle time before the phase: leave it out of the mean.
  const cpu = samples.slice(1).map((x) => x.sample.cpuPercent)
  return {
    samples: samples.length,
    missedSamples: missed,
    rssStartBytes: rss[0] ?? NaN,
    rssPeakBytes: rss.length > 0 ? Math.max(...rss) : NaN,
    rssEndBytes: rss[rss.length - 1] ?? NaN,
    meanCpuPercent: cpu.length > 0 ? sum(cpu) / cpu.length : NaN,
  }
}

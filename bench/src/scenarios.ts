import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import os from 'node:os'
import { type Envelope, encodeTelemetry, ingestConfig } from '@gridline/ingest'
import { type DecodeOptions, decodeMessage } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { BenchDatabase } from './database.ts'
import { type ChildLog, ChildHandle } from './ipc.ts'
import type { CountPhase, CountResult, GeneratorSample, OverloadPhase, OverloadResult as GeneratorOverloadResult, WindowPhase, WindowResult } from './load-generator.ts'
import { openLoopInflightCap, peakOfSum } from './overload.ts'
import { median, percentile, sortSamples } from './stats.ts'
import type { StartResult, TargetKind, TargetSample } from './target-process.ts'
import { BENCH_DOMAIN, BENCH_PASSWORD, benchDeviceId, benchTopic, messagePayload } from './workload.ts'

/** The sizes of one run; `--quick` shrinks them. */
export interface BenchSettings {
  /** Rows loaded by copy-limit, and readings sent by ingest-batched: the same rows. */
  rows: number
  readingsPerBatchMessage: number
  batchedConnections: number
  batchedMaxInflight: number
  singleConnections: number
  singleMaxInflight: number
  loadProcesses: number
  warmupMs: number
  windowMs: number
  /** After a window, how long outstanding PUBACKs may take before they count as missing. */
  drainTimeoutMs: number
  /** Longest a fixed-count phase (ingest-batched) may run before it is reported incomplete. */
  countTimeoutMs: number
  /** Longest 200 connections may take to log in (each first login is a scrypt check in the service). */
  connectTimeoutMs: number
  sampleIntervalMs: number
  /** Overload levels, as multiples of the round's ingest-single rate. */
  overloadLevels: number[]
  /** How long each overload level offers its load. */
  overloadOfferMs: number
  /** After the offered load, the longest wait for every PUBACK (or the connection's close). */
  overloadDrainTimeoutMs: number
  /** Lowest per-connection in-flight cap in overload (raised further when the rate needs it, so the cap never paces). */
  overloadMinInflight: number
  /** A load generator whose RSS passes this skips due messages instead of queueing more (counted). */
  overloadGeneratorMemoryBytes: number
}

export interface RunContext {
  adminUrl: string
  runId: string
  settings: BenchSettings
  log: ChildLog
  /** Reading i of every device is stamped baseTimeMs + i. */
  baseTimeMs: number
  /** The copy-limit rows, in COPY text format. */
  copyFile: string
  /** When set, every gridline service process writes a V8 CPU profile here (`--cpu-prof`). */
  cpuProfileDir: string | null
}

/** What the target process did during a phase, from its periodic samples and its /metrics. */
export interface TargetObservation {
  samples: number
  /** Sample requests not answered within 10 s. */
  missedSamples: number
  rssStartBytes: number
  rssPeakBytes: number
  rssEndBytes: number
  /** JS heap in use at its highest: tells heap growth from native memory (scrypt, sockets) in the RSS. */
  heapUsedPeakBytes: number
  meanCpuPercent: number
  /** Slowest answer to a sample request, IPC included. */
  slowestSampleAnswerMs: number
  /** Event-loop delay of the target: the median of the per-sample p99s, and the longest delay seen. */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  peakPendingRows: number | null
  /** Selected counters from the service's /metrics at the end of the phase (gridline only). */
  metrics: Record<string, number> | null
  logWarnings: number
  logErrors: number
  firstComplaints: string[]
}

export interface CopyLimitResult {
  rows: number
  elapsedMs: number
  rowsPerSecond: number
}

export interface BatchedResult {
  target: TargetKind
  readingsSent: number
  ackedMessages: number
  failedMessages: number
  /** Rows in telemetry after the last PUBACK (null for bare aedes, which stores nothing). */
  storedRows: number | null
  elapsedMs: number
  /** Stored rows (gridline) or acknowledged readings (bare aedes) per second. */
  readingsPerSecond: number
  complete: boolean
  disconnects: number
  /** CPU of each load generator process as a percentage of one core: near 100 means it may be the limit. */
  loadCpuPercent: number[]
  /** Busy share of the whole machine during the phase. */
  machineCpuPercent: number
  observed: TargetObservation
}

/** Over the whole phase, warm-up and drain included (totalPublished is what the database must hold afterwards). */
type PhaseTotals = Pick<WindowResult, 'totalPublished' | 'totalAcked' | 'deferred' | 'unacked' | 'failedMessages' | 'disconnects'>

export interface WindowSummary extends PhaseTotals {
  target: TargetKind
  /** Target rate (messages/s) for paced phases; null for closed loop. */
  targetRate: number | null
  /** PUBACKs per second inside the window. */
  ackedPerSecond: number
  publishedPerSecond: number
  latencyMs: { count: number; p50: number; p95: number; p99: number; max: number } | null
  /** Rows in telemetry after the phase drained, against messages acknowledged (gridline only). */
  storedRows: number | null
  loadCpuPercent: number[]
  machineCpuPercent: number
  observed: TargetObservation
}

/** One /metrics scrape of the service during an overload level. */
export interface MetricsSample {
  atMs: number
  answeredInMs: number
  /** null when the scrape failed or timed out (5 s). */
  backpressure: number | null
  shedTotal: number | null
  pendingRows: number | null
  error?: string
}

/** One overload level (a multiple of the round's ingest-single rate) against the service. */
export interface OverloadLevel {
  /** Multiple of the round's ingest-single rate. */
  level: number
  /** Offered rate asked for, all load processes together (msg/s). */
  askedRate: number
  /** Messages actually published per second of offered-load time. */
  publishedPerSecond: number
  /** PUBACKs per second during the offered-load time. */
  ackedPerSecond: number
  /** PUBACKs per second from the start of the offered load to the last PUBACK (offered load and drain). */
  ackedPerSecondOverall: number
  /** Most messages published and not yet acknowledged, all load generators together: what the clients held while the service pushed back. */
  peakClientBacklog: number
  offerMs: number
  maxInflightPerConnection: number
  due: number
  published: number
  acked: number
  failedMessages: number
  deferredAtCap: number
  behind: number
  skippedMemoryGuard: number
  skippedClosed: number
  /** Every published message acknowledged, or on a closed connection, within the drain timeout. */
  drained: boolean
  /** End of the offered load to the last PUBACK (0 when none came after it); null when no PUBACK came at all. */
  drainMs: number | null
  unackedOpen: number
  unackedClosed: number
  connectionsClosed: number
  reopened: number
  disconnects: number
  /** Readings acknowledged (one per message). */
  ackedReadings: number
  /** Rows in telemetry for the readings published in this level (each device's timestamps of the level). */
  storedRows: number
  /** Acknowledged readings whose row is not in telemetry. */
  ackedMissing: number
  /** Stored but never acknowledged (committed, then the PUBACK was not received). */
  storedUnacked: number
  /** gridline_ingest_shed_total during the level. */
  shed: number
  backpressureSeen: boolean
  /** Service samples in which the backpressure gauge had been set to 1. */
  backpressureSamples: number
  /** Times the gauge went from 0 to 1 during the level. */
  backpressureRises: number
  metricsScrapesFailed: number
  metricsSlowestScrapeMs: number
  /** Peak RSS of the service in ingest-single (1x, closed loop) of the same round. */
  oneXRssPeakBytes: number
  loadCpuPercent: number[]
  loadPeakRssBytes: number[]
  machineCpuPercent: number
  observed: TargetObservation
  /** Raw samples: the service's (process, pending rows, backpressure), its /metrics, and each load generator's. */
  samples: {
    target: (TargetSample & { answeredInMs: number })[]
    metrics: MetricsSample[]
    generators: GeneratorSample[][]
  }
}

export interface OverloadResult {
  /** The round's ingest-single rate the levels multiply. */
  baseRate: number
  /** The service's ingest.maxPendingRows: the backpressure gauge rises at it (shedding has its own limit, ingest.shedAtPendingRows). */
  maxPendingRows: number | null
  oneXRssPeakBytes: number
  levels: OverloadLevel[]
}

export interface RoundResult {
  round: number
  copyLimit: CopyLimitResult
  /** Load generator against bare aedes with the batched load: the sink-only rate. */
  batchedSink: BatchedResult
  ingestBatched: BatchedResult
  bareAedes: WindowSummary
  ingestSingle: WindowSummary
  ackLatency: WindowSummary
  /** The same paced load against bare aedes: what the load generator and a broker alone add. */
  bareAckLatency: WindowSummary
  /** Open-loop load above ingest-single's rate on the service's connections, after ack-latency. */
  overload: OverloadResult
}

const devices = (n: number) => Array.from({ length: n }, (_, i) => benchDeviceId(i))

/** Messages each batched connection sends so that the total readings equal settings.rows. */
export function batchedMessagesPerConnection(s: BenchSettings): number {
  return Math.max(1, Math.round(s.rows / (s.batchedConnections * s.readingsPerBatchMessage)))
}

/**
 * Writes exactly the rows ingest-batched will store, produced by the
 * service's own decoder and COPY encoder from the very payloads the load
 * generators send, interleaved by device as they arrive. Returns the row count.
 */
export async function writeCopyFile(path: string, settings: BenchSettings, baseTimeMs: number): Promise<number> {
  const config = ingestConfig().ingest
  const options: DecodeOptions = {
    catalogue: defaultCatalogue(),
    maxFutureSkewMs: config.maxFutureSkewMs,
    minTimestampMs: Date.parse(config.minTimestamp),
    rejectedPayloadMaxBytes: config.rejectedPayloadMaxBytes,
  }
  const ids = devices(settings.batchedConnections)
  const perConnection = batchedMessagesPerConnection(settings)
  const receivedAt = Date.now()
  const out = createWriteStream(path)
  let rows = 0
  for (let m = 0; m < perConnection; m++) {
    const envelopes: Envelope[] = []
    for (const id of ids) {
      const topic = benchTopic(id)
      const payload = Buffer.from(messagePayload(baseTimeMs, m * settings.readingsPerBatchMessage, settings.readingsPerBatchMessage))
      const decoded = decodeMessage(topic, payload, receivedAt, { kind: 'device', id, domain: BENCH_DOMAIN, topic }, options)
      if (decoded.rejections.length > 0) throw new Error(`the bench workload is invalid: ${decoded.rejections[0]!.reason} ${decoded.rejections[0]!.detail}`)
      rows += decoded.rows.length
      envelopes.push({ topic, clientId: null, receivedAt, payload, decoded, ack: null })
    }
    if (!out.write(encodeTelemetry(envelopes))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
  return rows
}

/** One round: every scenario once, side by side, on a fresh database. */
export async function runRound(ctx: RunContext, round: number): Promise<RoundResult> {
  const s = ctx.settings
  const db = await BenchDatabase.create(ctx.adminUrl, `${ctx.runId}_r${round}`,
    devices(Math.max(s.batchedConnections, s.singleConnections)).map((id) => ({ id, password: BENCH_PASSWORD })))
  try {
    progress(`round ${round}: copy-limit`)
    const copyLimit = await measureCopyLimit(ctx, db)
    progress(`round ${round}: batched load against bare aedes (sink check)`)
    const batchedSink = await measureBatched(ctx, 'bare-aedes', null)
    progress(`round ${round}: ingest-batched`)
    const ingestBatched = await measureBatched(ctx, 'gridline', db)
    const single = await measureSingleMessages(ctx, db, round)
    return { round, copyLimit, batchedSink, ingestBatched, ...single }
  } finally {
    await db.drop()
  }
}

async function measureCopyLimit(ctx: RunContext, db: BenchDatabase): Promise<CopyLimitResult> {
  await db.reset()
  const { rows, elapsedMs } = await db.copyWithPsql(ctx.copyFile, ctx.settings.countTimeoutMs)
  const stored = await db.countTelemetry()
  if (stored !== rows) throw new Error(`copy-limit: psql reported ${rows} rows but telemetry holds ${stored}`)
  return { rows, elapsedMs, rowsPerSecond: rows / (elapsedMs / 1000) }
}

async function measureBatched(ctx: RunContext, kind: TargetKind, db: BenchDatabase | null): Promise<BatchedResult> {
  const s = ctx.settings
  await db?.reset()
  const target = await Target.start(ctx, kind, db)
  try {
    const load = await LoadSet.start(ctx, `load-batched-${kind}`, target.mqttPort, devices(s.batchedConnections))
    try {
      const phase: CountPhase = {
        kind: 'count',
        readingsPerMessage: s.readingsPerBatchMessage,
        messagesPerConnection: batchedMessagesPerConnection(s),
        maxInflight: s.batchedMaxInflight,
        timeoutMs: s.countTimeoutMs,
      }
      const sampler = target.sample(s.sampleIntervalMs)
      const cpuBefore = os.cpus()
      let results: CountResult[]
      let sampled: Sampled
      try {
        results = await load.run<CountResult>('count', phase, s.countTimeoutMs + 10_000)
      } finally {
        sampled = await sampler.stop()
      }
      const machineCpu = machineCpuPercent(cpuBefore, os.cpus())
      const observation = await target.observe(sampled)
      const ackedMessages = sum(results.map((r) => r.ackedMessages))
      const elapsedMs = Math.max(...results.map((r) => r.lastAckEpochMs)) - Math.min(...results.map((r) => r.firstPublishEpochMs))
      const storedRows = db ? await db.countTelemetry() : null
      const counted = storedRows ?? ackedMessages * s.readingsPerBatchMessage
      return {
        target: kind,
        readingsSent: phase.messagesPerConnection * s.batchedConnections * s.readingsPerBatchMessage,
        ackedMessages,
        failedMessages: sum(results.map((r) => r.failedMessages)),
        storedRows,
        elapsedMs,
        readingsPerSecond: counted / (elapsedMs / 1000),
        complete: results.every((r) => r.complete),
        disconnects: sum(results.map((r) => r.disconnects)),
        loadCpuPercent: results.map((r) => r.cpuPercent),
        machineCpuPercent: machineCpu,
        observed: observation,
      }
    } finally {
      await load.stop()
    }
  } finally {
    await target.stop()
  }
}

/**
 * bare-aedes, ingest-single and ack-latency, plus the paced load against bare
 * aedes. Bare aedes runs first (it is also the sink-only check of the load
 * generators) and stays connected, idle, until the paced rate is known.
 */
async function measureSingleMessages(ctx: RunContext, db: BenchDatabase, round: number): Promise<Pick<RoundResult, 'bareAedes' | 'ingestSingle' | 'ackLatency' | 'bareAckLatency' | 'overload'>> {
  const s = ctx.settings
  const ids = devices(s.singleConnections)
  const closedLoop = (): WindowPhase => ({
    kind: 'window', readingsPerMessage: 1, maxInflight: s.singleMaxInflight, warmupMs: s.warmupMs, windowMs: s.windowMs,
    ratePerSecond: null, recordLatency: false, drainTimeoutMs: s.drainTimeoutMs,
  })
  const paced = (totalRate: number): WindowPhase => ({
    ...closedLoop(), ratePerSecond: totalRate / s.loadProcesses, recordLatency: true,
  })

  const bare = await Target.start(ctx, 'bare-aedes', null)
  try {
    const bareLoad = await LoadSet.start(ctx, 'load-single-bare-aedes', bare.mqttPort, ids)
    try {
      progress(`round ${round}: bare-aedes`)
      const bareAedes = await runWindow(bare, bareLoad, closedLoop(), null, null)

      let ingestSingle: WindowSummary
      let ackLatency: WindowSummary
      let overload: OverloadResult
      await db.reset()
      const service = await Target.start(ctx, 'gridline', db)
      try {
        progress(`round ${round}: ingest-single (${s.singleConnections} logins first)`)
        const serviceLoad = await LoadSet.start(ctx, 'load-single-gridline', service.mqttPort, ids)
        try {
          ingestSingle = await runWindow(service, serviceLoad, closedLoop(), null, db)
          // The pipeline is idle once the window drained: safe to empty the table under the running service.
          await db.reset()
          const rate = ingestSingle.ackedPerSecond / 2
          progress(`round ${round}: ack-latency at ${Math.round(rate)} msg/s`)
          ackLatency = await runWindow(service, serviceLoad, paced(rate), rate, db)
          overload = await measureOverload(ctx, service, serviceLoad, db, ingestSingle, round)
        } finally {
          await serviceLoad.stop()
        }
      } finally {
        await service.stop()
      }

      progress(`round ${round}: paced load against bare aedes`)
      const bareAckLatency = await runWindow(bare, bareLoad, paced(ackLatency.targetRate ?? 0), ackLatency.targetRate, null)
      return { bareAedes, ingestSingle, ackLatency, bareAckLatency, overload }
    } finally {
      await bareLoad.stop()
    }
  } finally {
    await bare.stop()
  }
}

async function runWindow(target: Target, load: LoadSet, phase: WindowPhase, targetRate: number | null, db: BenchDatabase | null): Promise<WindowSummary> {
  const s = target.settings
  const sampler = target.sample(s.sampleIntervalMs)
  const cpuBefore = os.cpus()
  let results: WindowResult[]
  let sampled: Sampled
  try {
    results = await load.run<WindowResult>('window', phase, phase.warmupMs + phase.windowMs + phase.drainTimeoutMs + 10_000)
  } finally {
    sampled = await sampler.stop()
  }
  const machineCpu = machineCpuPercent(cpuBefore, os.cpus())
  const observation = await target.observe(sampled)
  const latencies = sortSamples(concat(results.map((r) => r.latenciesMs)))
  return {
    target: target.kind,
    targetRate,
    ackedPerSecond: sum(results.map((r) => r.ackedInWindow / (r.windowMs / 1000))),
    publishedPerSecond: sum(results.map((r) => r.publishedInWindow / (r.windowMs / 1000))),
    totalPublished: sum(results.map((r) => r.totalPublished)),
    totalAcked: sum(results.map((r) => r.totalAcked)),
    deferred: sum(results.map((r) => r.deferred)),
    unacked: sum(results.map((r) => r.unacked)),
    failedMessages: sum(results.map((r) => r.failedMessages)),
    disconnects: sum(results.map((r) => r.disconnects)),
    latencyMs: phase.recordLatency
      ? { count: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN }
      : null,
    storedRows: db ? await db.countTelemetry() : null,
    loadCpuPercent: results.map((r) => r.cpuPercent),
    machineCpuPercent: machineCpu,
    observed: observation,
  }
}

/**
 * The overload levels, one after the other on the service and connections of
 * ingest-single: open-loop load at each multiple of that round's
 * ingest-single rate for overloadOfferMs, then a bounded drain. The table is
 * truncated and checkpointed before a level when the service is idle; the
 * stored rows are counted by each device's timestamps of the level, so a
 * level that did not drain cannot blur the next one's count.
 */
async function measureOverload(ctx: RunContext, service: Target, load: LoadSet, db: BenchDatabase, single: WindowSummary, round: number): Promise<OverloadResult> {
  const s = ctx.settings
  const baseRate = single.ackedPerSecond
  const oneXRssPeakBytes = single.observed.rssPeakBytes
  const levels: OverloadLevel[] = []
  for (const level of s.overloadLevels) {
    if ((await service.pendingRows()) === 0) await db.reset()
    const askedRate = baseRate * level
    progress(`round ${round}: overload ${level}x at ${Math.round(askedRate)} msg/s for ${s.overloadOfferMs / 1000} s, then drain`)
    levels.push(await runOverloadLevel(ctx, service, load, db, level, askedRate, oneXRssPeakBytes))
  }
  return { baseRate, maxPendingRows: service.maxPendingRows, oneXRssPeakBytes, levels }
}

async function runOverloadLevel(ctx: RunContext, target: Target, load: LoadSet, db: BenchDatabase, level: number, askedRate: number, oneXRssPeakBytes: number): Promise<OverloadLevel> {
  const s = ctx.settings
  const phase: OverloadPhase = {
    kind: 'overload',
    readingsPerMessage: 1,
    ratePerSecond: askedRate / s.loadProcesses,
    maxInflight: openLoopInflightCap(askedRate, s.singleConnections, s.overloadOfferMs, s.overloadMinInflight),
    offerMs: s.overloadOfferMs,
    drainTimeoutMs: s.overloadDrainTimeoutMs,
    memoryGuardBytes: s.overloadGeneratorMemoryBytes,
    sampleIntervalMs: s.sampleIntervalMs,
  }
  const shedBefore = (await scrapeMetrics(target.httpPort!)).gridline_ingest_shed_total ?? 0
  const sampler = target.sample(s.sampleIntervalMs)
  const metricsSampler = sampleMetrics(target.httpPort!, s.sampleIntervalMs)
  const cpuBefore = os.cpus()
  let results: GeneratorOverloadResult[]
  let sampled: Sampled
  let metricsSamples: MetricsSample[]
  try {
    results = await load.run<GeneratorOverloadResult>('overload', phase, phase.offerMs + phase.drainTimeoutMs + s.connectTimeoutMs + 30_000)
  } finally {
    sampled = await sampler.stop()
    metricsSamples = await metricsSampler.stop()
  }
  const machineCpu = machineCpuPercent(cpuBefore, os.cpus())
  const observed = await target.observe(sampled)

  // What the database holds for this level's readings, and which acknowledged ones it lacks.
  const connections = results.flatMap((r) => r.connections)
  const rangesOf = (pairs: number[], deviceId: string) => {
    const out: { deviceId: string; loMs: number; hiMs: number }[] = []
    for (let i = 0; i + 1 < pairs.length; i += 2) out.push({ deviceId, loMs: ctx.baseTimeMs + pairs[i]!, hiMs: ctx.baseTimeMs + pairs[i + 1]! })
    return out
  }
  const storedRows = await db.countInTimeRanges(connections.flatMap((c) => rangesOf([c.firstReading, c.nextReading], c.deviceId)))
  const ackedReadings = sum(connections.map((c) => rangeTotal(c.acked)))
  const ackedStored = await db.countInTimeRanges(connections.flatMap((c) => rangesOf(c.acked, c.deviceId)))

  // The first service sample covers the idle time before the level: leave it out, as for CPU.
  const during = sampled.samples.slice(1)
  const rises = sampled.samples.map((x) => x.sample.backpressureRises ?? 0)
  const backpressureSamples = during.filter((x) => x.sample.backpressureSeen).length
  const metricsBackpressure = metricsSamples.filter((m) => m.backpressure === 1).length
  const lastAck = Math.max(...results.map((r) => (Number.isFinite(r.lastAckEpochMs) ? r.lastAckEpochMs : -Infinity)))
  const offerEnd = Math.max(...results.map((r) => r.offerEndEpochMs))
  const offerStart = Math.min(...results.map((r) => r.offerStartEpochMs))
  const acked = sum(results.map((r) => r.acked))
  const answered = metricsSamples.filter((m) => m.error === undefined)
  return {
    level,
    askedRate,
    publishedPerSecond: sum(results.map((r) => r.published)) / (phase.offerMs / 1000),
    ackedPerSecond: sum(results.map((r) => r.ackedDuringOffer)) / (phase.offerMs / 1000),
    ackedPerSecondOverall: Number.isFinite(lastAck) ? acked / (Math.max(lastAck - offerStart, phase.offerMs) / 1000) : 0,
    peakClientBacklog: peakOfSum(results.map((r) => r.samples.map((x) => ({ atMs: r.offerStartEpochMs + x.atMs, value: x.outstanding })))),
    offerMs: phase.offerMs,
    maxInflightPerConnection: phase.maxInflight,
    due: sum(results.map((r) => r.due)),
    published: sum(results.map((r) => r.published)),
    acked,
    failedMessages: sum(results.map((r) => r.failedMessages)),
    deferredAtCap: sum(results.map((r) => r.deferredAtCap)),
    behind: sum(results.map((r) => r.behind)),
    skippedMemoryGuard: sum(results.map((r) => r.skippedMemoryGuard)),
    skippedClosed: sum(results.map((r) => r.skippedClosed)),
    drained: results.every((r) => r.drained),
    drainMs: Number.isFinite(lastAck) ? Math.max(0, lastAck - offerEnd) : null,
    unackedOpen: sum(results.map((r) => r.unackedOpen)),
    unackedClosed: sum(results.map((r) => r.unackedClosed)),
    connectionsClosed: sum(results.map((r) => r.connectionsClosed)),
    reopened: sum(results.map((r) => r.reopened)),
    disconnects: sum(results.map((r) => r.disconnects)),
    ackedReadings,
    storedRows,
    ackedMissing: ackedReadings - ackedStored,
    storedUnacked: storedRows - ackedStored,
    shed: (observed.metrics?.gridline_ingest_shed_total ?? shedBefore) - shedBefore,
    backpressureSeen: backpressureSamples > 0 || metricsBackpressure > 0,
    backpressureSamples,
    backpressureRises: rises.length > 0 ? rises[rises.length - 1]! - rises[0]! : 0,
    metricsScrapesFailed: metricsSamples.length - answered.length,
    metricsSlowestScrapeMs: answered.length > 0 ? Math.max(...answered.map((m) => m.answeredInMs)) : NaN,
    oneXRssPeakBytes,
    loadCpuPercent: results.map((r) => r.cpuPercent),
    loadPeakRssBytes: results.map((r) => r.peakRssBytes),
    machineCpuPercent: machineCpu,
    observed,
    samples: {
      target: sampled.samples.map((x) => ({ ...x.sample, answeredInMs: x.answeredInMs })),
      metrics: metricsSamples,
      generators: results.map((r) => r.samples),
    },
  }
}

/** Readings in flattened [lo, hi) pairs. */
function rangeTotal(pairs: number[]): number {
  let n = 0
  for (let i = 0; i + 1 < pairs.length; i += 2) n += pairs[i + 1]! - pairs[i]!
  return n
}

/** Scrapes the service's /metrics every intervalMs until stopped: the backpressure gauge, shed counter and pending rows as a monitor sees them. */
function sampleMetrics(httpPort: number, intervalMs: number): { stop(): Promise<MetricsSample[]> } {
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
function pollEvery(intervalMs: number, alive: () => boolean, tick: () => Promise<void>): { stop(): Promise<void> } {
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

interface Sampled {
  samples: { sample: TargetSample; answeredInMs: number }[]
  missed: number
}

/** A target process (gridline or bare aedes), started and listening. */
class Target {
  private constructor(
    readonly kind: TargetKind,
    private readonly handle: ChildHandle,
    private readonly ports: StartResult,
    readonly settings: BenchSettings,
    private readonly log: ChildLog,
    private readonly logName: string,
  ) {}

  private static started = 0

  static async start(ctx: RunContext, kind: TargetKind, db: BenchDatabase | null): Promise<Target> {
    const logName = `${kind}#${++Target.started}`
    const profile = kind === 'gridline' && ctx.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfileDir] : []
    const handle = ChildHandle.start(logName, './target-process.ts', [kind], ctx.log, profile)
    try {
      const ports = await handle.request<StartResult>('start', { databaseUrl: db?.url }, 60_000)
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

  get maxPendingRows(): number | null {
    return this.ports.maxPendingRows
  }

  /** The service's uncommitted rows now (null for bare aedes). */
  async pendingRows(): Promise<number | null> {
    return (await this.handle.request<TargetSample>('sample', undefined, 10_000)).pendingRows
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
  async observe({ samples, missed }: Sampled): Promise<TargetObservation> {
    const rss = samples.map((x) => x.sample.rssBytes)
    const pending = samples.map((x) => x.sample.pendingRows).filter((n): n is number => n !== null)
    // The first sample's CPU covers the idle time before the phase: leave it out of the mean.
    const cpu = samples.slice(1).map((x) => x.sample.cpuPercent)
    const complaints = this.log.complaintsOf(this.logName)
    return {
      samples: samples.length,
      missedSamples: missed,
      rssStartBytes: rss[0] ?? NaN,
      rssPeakBytes: rss.length > 0 ? Math.max(...rss) : NaN,
      rssEndBytes: rss[rss.length - 1] ?? NaN,
      heapUsedPeakBytes: samples.length > 0 ? Math.max(...samples.map((x) => x.sample.heapUsedBytes)) : NaN,
      meanCpuPercent: cpu.length > 0 ? sum(cpu) / cpu.length : NaN,
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
class LoadSet {
  private constructor(private readonly handles: ChildHandle[]) {}

  static async start(ctx: RunContext, name: string, port: number, deviceIds: string[]): Promise<LoadSet> {
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
      }, ctx.settings.connectTimeoutMs + 10_000)))
    } catch (err) {
      await set.stop()
      throw err
    }
    return set
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

async function scrapeMetrics(httpPort: number, timeoutMs = 10_000): Promise<Record<string, number>> {
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
function machineCpuPercent(before: os.CpuInfo[], after: os.CpuInfo[]): number {
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

function progress(message: string): void {
  process.stderr.write(`gridline bench: ${message}\n`)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(sum(arrays.map((a) => a.length)))
  let at = 0
  for (const a of arrays) {
    out.set(a, at)
    at += a.length
  }
  return out
}

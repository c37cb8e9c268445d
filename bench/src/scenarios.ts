import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import os from 'node:os'
import { type Envelope, encodeTelemetry, ingestConfig } from '@gridline/ingest'
import { type DecodeOptions, decodeMessage } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { addBenchViewer, openDashboards, openMapPages } from './dashboards.ts'
import { BenchDatabase } from './database.ts'
import { LoadSet, type Sampled, Target, concat, machineCpuPercent, progress, sampleMetrics, scrapeMetrics, sum } from './harness.ts'
import { measurePipeline, measureWriter } from './in-process.ts'
import type { CountPhase, CountResult, OverloadPhase, OverloadResult as GeneratorOverloadResult } from './load-generator.ts'
import { openLoopInflightCap, peakOfSum } from './overload.ts'
import { measureBroker } from './broker.ts'
import { measurePeers } from './peers.ts'
import { measureAlarmLatency } from './alarm-latency.ts'
import { measureInfluxSink, measureLineProtocol, measureSensorCommunity } from './http-ingest.ts'
import { measureMqttClient } from './mqtt-client.ts'
import { measureSparkplug } from './sparkplug.ts'
import { measureIndicatorHistory } from './indicator-history.ts'
import { measurePipelineCity } from './pipeline-city.ts'
import { measureMap } from './map.ts'
import type { BatchedResult, BenchSettings, DashboardsResult, CopyLimitResult, LatencySummary, MetricsSample, OverloadLevel, OverloadResult, RoundResult, RunContext, WindowSummary } from './results.ts'
import type { ScenarioName } from './selection.ts'
import { latencyHistogram, ratesOf } from './series.ts'
import { measureSoak } from './soak.ts'
import { measureSta } from './sta.ts'
import { runCount, runWindow, singleClosedLoop, singlePaced } from './window.ts'
import { perReading, startCpuMeter, startStageWaits } from './phase-costs.ts'
import { percentile, sortSamples } from './stats.ts'
import type { TargetKind } from './target-process.ts'
import { BENCH_DOMAIN, BENCH_PASSWORD, batchedMessagesPerConnection, benchTopic, devices, messagePayload } from './workload.ts'

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
      const decoded = decodeMessage(topic, payload, receivedAt, { kind: 'device', id, domain: BENCH_DOMAIN }, options)
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

/** One round: every selected scenario once, side by side, on a fresh database. */
export async function runRound(ctx: RunContext, round: number, scenarios: readonly ScenarioName[]): Promise<RoundResult> {
  const s = ctx.settings
  const has = (name: ScenarioName) => scenarios.includes(name)
  const db = await BenchDatabase.create(ctx.adminUrl, `${ctx.runId}_r${round}`,
    devices(Math.max(s.batchedConnections, s.singleConnections, s.peerConnections)).map((id) => ({ id, password: BENCH_PASSWORD })))
  const result: RoundResult = { round }
  try {
    if (has('copy-limit')) {
      progress(`round ${round}: copy-limit`)
      result.copyLimit = await measureCopyLimit(ctx, db)
    }
    if (has('writer')) {
      progress(`round ${round}: writer`)
      result.writer = await measureWriter(ctx, db)
    }
    if (has('pipeline')) {
      progress(`round ${round}: pipeline`)
      result.pipeline = await measurePipeline(ctx, db, false)
    }
    if (has('pipeline-processors')) {
      progress(`round ${round}: pipeline-processors`)
      result.pipelineProcessors = await measurePipeline(ctx, db, true)
    }
    if (has('indicator-history')) result.indicatorHistory = await measureIndicatorHistory(ctx, db, round)
    if (has('pipeline-city')) result.pipelineCity = await measurePipelineCity(ctx, db, round)
    if (has('broker')) result.broker = await measureBroker(ctx, round)
    if (has('ingest-batched')) {
      progress(`round ${round}: batched load against the do-nothing sink (load generator check)`)
      result.batchedSink = await measureBatched(ctx, 'null-sink', null)
      progress(`round ${round}: ingest-batched`)
      result.ingestBatched = await measureBatched(ctx, 'gridline', db)
    }
    if (has('dashboards')) result.dashboards = await measureDashboards(ctx, db, round)
    if (has('map')) result.map = await measureMap(ctx, db, round, (mapPages) => measureBatched(ctx, 'gridline', db, 0, { mapPages }))
    if (has('line-protocol')) result.lineProtocol = await measureLineProtocol(ctx, db, round)
    if (has('sensor-community')) result.sensorCommunity = await measureSensorCommunity(ctx, db, round)
    if (has('influxdb-sink')) result.influxSink = await measureInfluxSink(ctx, db, round, (options) => measureBatched(ctx, 'gridline', db, 0, options))
    if (has('sparkplug')) result.sparkplug = await measureSparkplug(ctx, db, round)
    if (has('ingest-single')) Object.assign(result, await measureSingleMessages(ctx, db, round, has('overload')))
    if (has('alarm-latency')) result.alarmLatency = await measureAlarmLatency(ctx, db, round, result.ingestSingle?.ackedPerSecond)
    if (has('peers')) result.peers = await measurePeers(ctx, db, round)
    if (has('mqtt-client')) result.mqttClient = await measureMqttClient(ctx, db, round)
    if (has('sta')) result.sta = await measureSta(ctx, db, round)
    if (has('soak')) result.soak = await measureSoak(ctx, db, round, result.ingestSingle?.ackedPerSecond ?? NaN)
    return result
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

/**
 * Options: `config`, more of the service's config (the influxdb-sink
 * scenario's secondary sink); `afterLoad`, awaited once the load is
 * acknowledged and counted, before the service stops; `mapPages`, open map
 * pages' streams (the map scenario; its viewer login added by it) instead of dashboards.
 */
async function measureBatched(ctx: RunContext, kind: TargetKind, db: BenchDatabase | null, dashboardCount = 0,
  options: { config?: Record<string, unknown>; afterLoad?: (loadStartedEpochMs: number, storedRows: number) => Promise<void>; mapPages?: number } = {}): Promise<BatchedResult> {
  const s = ctx.settings
  await db?.reset()
  if (dashboardCount > 0 && db) await addBenchViewer(db.url)
  const target = await Target.start(ctx, kind, db, options.config ? { config: options.config } : {})
  try {
    const load = await LoadSet.start(ctx, `load-batched-${kind}`, target.mqttPort, devices(s.batchedConnections))
    // Open before the load starts and read throughout, as operators' screens would be.
    const dashboards = target.httpPort === null ? null
      : dashboardCount > 0 ? await openDashboards(target.httpPort, dashboardCount, devices(s.batchedConnections))
      : (options.mapPages ?? 0) > 0 ? await openMapPages(target.httpPort, options.mapPages!)
      : null
    try {
      const phase: CountPhase = {
        kind: 'count',
        readingsPerMessage: s.readingsPerBatchMessage,
        messagesPerConnection: batchedMessagesPerConnection(s),
        maxInflight: s.batchedMaxInflight,
        timeoutMs: s.countTimeoutMs,
        recordLatency: true,
      }
      const { firstPublishEpochMs, ...result } = await runCount(target, load, phase, db, s.batchedConnections)
      const dashboardStats = await dashboards?.stop()
      await options.afterLoad?.(firstPublishEpochMs, result.storedRows ?? result.ackedMessages * s.readingsPerBatchMessage)
      return { ...(dashboardStats ? { dashboards: dashboardStats } : {}), ...result }
    } finally {
      await dashboards?.stop()
      await load.stop()
    }
  } finally {
    await target.stop()
  }
}

/**
 * ingest-batched without and with open operator dashboards, back to back in
 * one round; which goes first alternates by round so drift on the shared
 * machine does not favour one side.
 */
async function measureDashboards(ctx: RunContext, db: BenchDatabase, round: number): Promise<DashboardsResult> {
  const count = ctx.settings.dashboards
  const run = async (withDashboards: boolean) => {
    progress(`round ${round}: ingest-batched ${withDashboards ? `with ${count} open dashboards` : 'without dashboards'}`)
    return measureBatched(ctx, 'gridline', db, withDashboards ? count : 0)
  }
  let without: BatchedResult
  let withOpen: BatchedResult
  if (round % 2 === 1) {
    without = await run(false)
    withOpen = await run(true)
  } else {
    withOpen = await run(true)
    without = await run(false)
  }
  return { dashboards: count, without, with: withOpen, ratio: withOpen.readingsPerSecond / without.readingsPerSecond }
}

/**
 * ingest-single and ack-latency (and overload when asked), plus the same
 * loads against the do-nothing sink: closed loop first (the load
 * generators' ceiling), then paced at the ack-latency rate (the latency the
 * generators add on their own). The sink stays connected, idle, while the
 * service is measured.
 */
async function measureSingleMessages(ctx: RunContext, db: BenchDatabase, round: number, withOverload: boolean): Promise<Pick<RoundResult, 'singleSink' | 'ingestSingle' | 'ackLatency' | 'sinkAckLatency' | 'overload'>> {
  const s = ctx.settings
  const ids = devices(s.singleConnections)
  const sink = await Target.start(ctx, 'null-sink', null)
  try {
    const sinkLoad = await LoadSet.start(ctx, 'load-single-sink', sink.mqttPort, ids)
    try {
      progress(`round ${round}: single-message load against the do-nothing sink (load generator check)`)
      // The sink is JIT-cold: a discarded warm-up first, so it does not understate the ceiling.
      await runWindow(sink, sinkLoad, { ...singleClosedLoop(s), windowMs: s.warmupMs }, null, null)
      const singleSink = await runWindow(sink, sinkLoad, singleClosedLoop(s), null, null)

      let ingestSingle: WindowSummary
      let ackLatency: WindowSummary
      let overload: OverloadResult | undefined
      await db.reset()
      const service = await Target.start(ctx, 'gridline', db)
      try {
        // GRIDLINE_BENCH_TLS=1: the single-message load connects over TLS (docs/benchmarks.md).
        const tls = service.tls
        progress(`round ${round}: ingest-single${tls ? ' over TLS' : ''} (${s.singleConnections} logins first)`)
        const serviceLoad = await LoadSet.start(ctx, 'load-single-gridline', tls?.port ?? service.mqttPort, ids, tls ? { caFile: tls.caFile } : {})
        try {
          ingestSingle = await runWindow(service, serviceLoad, singleClosedLoop(s), null, db)
          // The pipeline is idle once the window drained: safe to empty the table under the running service.
          await db.reset()
          const rate = ingestSingle.ackedPerSecond / 2
          progress(`round ${round}: ack-latency at ${Math.round(rate)} msg/s`)
          ackLatency = await runWindow(service, serviceLoad, singlePaced(s, rate), rate, db)
          if (withOverload) {
            let base = ingestSingle
            if (s.overloadReadingsPerMessage !== 1) {
              await db.reset()
              progress(`round ${round}: overload 1x: closed loop, ${s.overloadReadingsPerMessage} readings a message`)
              base = await runWindow(service, serviceLoad, { ...singleClosedLoop(s), readingsPerMessage: s.overloadReadingsPerMessage }, null, db)
            }
            overload = await measureOverload(ctx, service, serviceLoad, db, base, round)
          }
        } finally {
          await serviceLoad.stop()
        }
      } finally {
        await service.stop()
      }

      progress(`round ${round}: paced load against the do-nothing sink`)
      const sinkAckLatency = await runWindow(sink, sinkLoad, singlePaced(s, ackLatency.targetRate ?? 0), ackLatency.targetRate, null)
      return { singleSink, ingestSingle, ackLatency, sinkAckLatency, ...(overload ? { overload } : {}) }
    } finally {
      await sinkLoad.stop()
    }
  } finally {
    await sink.stop()
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
async function measureOverload(ctx: RunContext, service: Target, load: LoadSet, db: BenchDatabase, oneX: WindowSummary, round: number): Promise<OverloadResult> {
  const s = ctx.settings
  const baseRate = oneX.ackedPerSecond
  const oneXRssPeakBytes = oneX.observed.rssPeakBytes
  const levels: OverloadLevel[] = []
  for (const level of s.overloadLevels) {
    if ((await service.pendingRows()) === 0) await db.reset()
    const askedRate = baseRate * level
    progress(`round ${round}: overload ${level}x at ${Math.round(askedRate)} msg/s for ${s.overloadOfferMs / 1000} s, then drain`)
    levels.push(await runOverloadLevel(ctx, service, load, db, level, askedRate, oneXRssPeakBytes))
  }
  return { readingsPerMessage: s.overloadReadingsPerMessage, baseRate, maxPendingRows: service.maxPendingRows, oneXRssPeakBytes, levels }
}

async function runOverloadLevel(ctx: RunContext, target: Target, load: LoadSet, db: BenchDatabase, level: number, askedRate: number, oneXRssPeakBytes: number): Promise<OverloadLevel> {
  const s = ctx.settings
  const phase: OverloadPhase = {
    kind: 'overload',
    readingsPerMessage: s.overloadReadingsPerMessage,
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


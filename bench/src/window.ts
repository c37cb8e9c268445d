/**
 * A windowed phase (warm-up, then a measured window) of a load set against a
 * target, summarised: rates, latencies, the target's observation, and what
 * the database holds after it.
 */
import os from 'node:os'
import type { BenchDatabase } from './database.ts'
import { type LoadSet, type Observed, type Sampled, type Target, concat, machineCpuPercent, sum } from './harness.ts'
import type { CountPhase, CountResult, WindowPhase, WindowResult } from './load-generator.ts'
import type { BatchedResult, BenchSettings, LatencySummary, WindowSummary } from './results.ts'
import { perReading, startCpuMeter, startStageWaits } from './phase-costs.ts'
import { latencyHistogram, ratesOf } from './series.ts'
import { latencySummary, sortSamples } from './stats.ts'

/** The single-message load: 1 reading per QoS 1 message, closed loop, up to singleMaxInflight unacknowledged per connection. */
export function singleClosedLoop(s: BenchSettings): WindowPhase {
  return {
    kind: 'window', readingsPerMessage: 1, maxInflight: s.singleMaxInflight, warmupMs: s.warmupMs, windowMs: s.windowMs,
    ratePerSecond: null, recordLatency: true, drainTimeoutMs: s.drainTimeoutMs,
  }
}

/** The same connections paced at totalRate msg/s, all load processes together. */
export function singlePaced(s: BenchSettings, totalRate: number): WindowPhase {
  return { ...singleClosedLoop(s), ratePerSecond: totalRate / s.loadProcesses }
}

export function latencyOf(unsorted: Float64Array): { latencyMs: LatencySummary | null; latencyHistogram: BatchedResult['latencyHistogram'] } {
  if (unsorted.length === 0) return { latencyMs: null, latencyHistogram: null }
  const sorted = sortSamples(unsorted)
  return {
    latencyMs: latencySummary(sorted),
    latencyHistogram: latencyHistogram(sorted),
  }
}

export async function runWindow(target: Observed, load: LoadSet, phase: WindowPhase, targetRate: number | null, db: BenchDatabase | null, sampleIntervalMs = target.settings.sampleIntervalMs): Promise<WindowSummary> {
  const cpu = await startCpuMeter(target, db !== null)
  const waits = await startStageWaits(target.httpPort)
  const sampler = target.sample(sampleIntervalMs)
  const cpuBefore = os.cpus()
  let results: WindowResult[]
  let sampled: Sampled
  try {
    results = await load.run<WindowResult>('window', phase, phase.warmupMs + phase.windowMs + phase.drainTimeoutMs + 10_000)
  } finally {
    sampled = await sampler.stop()
  }
  const machineCpu = machineCpuPercent(cpuBefore, os.cpus())
  const cpuUsed = await cpu.stop()
  const stageWaits = await waits.stop()
  const totalAcked = sum(results.map((r) => r.totalAcked))
  const observation = await target.observe(sampled)
  return {
    target: target.kind,
    targetRate,
    ackedPerSecond: sum(results.map((r) => r.ackedInWindow / (r.windowMs / 1000))),
    publishedPerSecond: sum(results.map((r) => r.publishedInWindow / (r.windowMs / 1000))),
    totalPublished: sum(results.map((r) => r.totalPublished)),
    totalAcked,
    deferred: sum(results.map((r) => r.deferred)),
    unacked: sum(results.map((r) => r.unacked)),
    failedMessages: sum(results.map((r) => r.failedMessages)),
    disconnects: sum(results.map((r) => r.disconnects)),
    ...latencyOf(concat(results.map((r) => r.latenciesMs))),
    timeline: ratesOf(results.map((r) => r.ackTimeline), results[0]?.timelineBucketMs ?? 500),
    storedRows: db ? await db.countTelemetry() : null,
    loadCpuPercent: results.map((r) => r.cpuPercent),
    machineCpuPercent: machineCpu,
    cpuPerReading: perReading(cpuUsed, totalAcked * phase.readingsPerMessage),
    stageWaits,
    observed: observation,
    rssMiB: rssSeries(sampled),
  }
}


/** The target's resident memory over the phase, in MiB, seconds from the first sample. */
function rssSeries({ samples }: Sampled): { atSeconds: number; value: number }[] {
  const t0 = samples[0]?.sample.atMs ?? 0
  return samples.map((x) => ({ atSeconds: (x.sample.atMs - t0) / 1000, value: x.sample.rssBytes / 2 ** 20 }))
}

/**
 * A count phase (a fixed number of messages per connection, closed loop) of a
 * load set against a target, summarised: first PUBLISH to last PUBACK, rows
 * stored in the database after it (`countStored`, default every row of
 * telemetry; null without a database), CPU per stored reading, latencies.
 */
export async function runCount(target: Target, load: LoadSet, phase: CountPhase, db: BenchDatabase | null, connections: number,
  countStored: (() => Promise<number>) | null = db ? () => db.countTelemetry() : null): Promise<Omit<BatchedResult, 'dashboards'> & { firstPublishEpochMs: number }> {
  const cpu = await startCpuMeter(target, db !== null)
  const waits = await startStageWaits(target.httpPort)
  const sampler = target.sample(target.settings.sampleIntervalMs)
  const cpuBefore = os.cpus()
  let results: CountResult[]
  let sampled: Sampled
  try {
    results = await load.run<CountResult>('count', phase, phase.timeoutMs + 10_000)
  } finally {
    sampled = await sampler.stop()
  }
  const machineCpu = machineCpuPercent(cpuBefore, os.cpus())
  const cpuUsed = await cpu.stop()
  const stageWaits = await waits.stop()
  const observation = await target.observe(sampled)
  const ackedMessages = sum(results.map((r) => r.ackedMessages))
  const firstPublishEpochMs = Math.min(...results.map((r) => r.firstPublishEpochMs))
  const elapsedMs = Math.max(...results.map((r) => r.lastAckEpochMs)) - firstPublishEpochMs
  const storedRows = countStored ? await countStored() : null
  const counted = storedRows ?? ackedMessages * phase.readingsPerMessage
  return {
    target: target.kind,
    readingsSent: phase.messagesPerConnection * connections * phase.readingsPerMessage,
    ackedMessages,
    failedMessages: sum(results.map((r) => r.failedMessages)),
    storedRows,
    elapsedMs,
    readingsPerSecond: counted / (elapsedMs / 1000),
    complete: results.every((r) => r.complete),
    disconnects: sum(results.map((r) => r.disconnects)),
    loadCpuPercent: results.map((r) => r.cpuPercent),
    machineCpuPercent: machineCpu,
    cpuPerReading: perReading(cpuUsed, counted),
    stageWaits,
    observed: observation,
    ...latencyOf(concat(results.map((r) => r.latenciesMs))),
    timeline: ratesOf(results.map((r) => r.ackTimeline), results[0]?.timelineBucketMs ?? 500),
    firstPublishEpochMs,
  }
}

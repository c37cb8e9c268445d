/**
 * `alarm-latency`: how long from a reading that crosses a threshold to its
 * alarm event on the broker, with the ingest service under background load.
 * A fresh service runs one threshold rule with hysteresis on pm25 (every
 * environment device, so the background's pm25 readings are evaluated too;
 * they stay below the clear limit). The single-message load generators pace
 * the background; the probe process (alarm-probe.ts) publishes crossings and
 * receives the events with an integration login.
 */
import type { ProbeCrossing, ProbeRunRequest, ProbeRunResult } from './alarm-probe.ts'
import type { BenchDatabase } from './database.ts'
import { LoadSet, Target, progress, sleep } from './harness.ts'
import { ChildHandle } from './ipc.ts'
import type { AlarmEngineStats, AlarmLatencyResult, BenchSettings, RunContext, WindowSummary } from './results.ts'
import { devices, BENCH_DOMAIN, BENCH_PASSWORD, benchTopic } from './workload.ts'
import { latencyOf, runWindow, singlePaced } from './window.ts'

export const alarmProbeDeviceId = (i: number) => `bench-alarm-probe-${i}`
export const ALARM_PROBE_INTEGRATION = 'bench-alarm-ops'
export const ALARM_RULE_ID = 'bench-pm25-high'
const RAISE_ABOVE = 100
const CLEAR_BELOW = 50

/**
 * The service's processors section: defaults, plus the one rule. The probe
 * raises and clears on purpose, many times a second, so flapping suppression
 * is set out of reach; everything else is as shipped.
 */
export function alarmProcessorsConfig(): Record<string, unknown> {
  return {
    alarms: {
      rules: [{ id: ALARM_RULE_ID, type: 'threshold', metric: 'pm25', domains: [BENCH_DOMAIN], raiseAbove: RAISE_ABOVE, clearBelow: CLEAR_BELOW, severity: 'major' }],
      flapping: { maxTransitions: 1_000_000_000, windowSeconds: 1 },
    },
  }
}

/** The background rate: the fixed one when set, else half the round's ingest-single rate, else the fallback. */
export function alarmBackgroundRate(s: BenchSettings, ingestSingleRate: number | undefined): { rate: number; from: AlarmLatencyResult['backgroundRateFrom'] } {
  if (s.alarmBackgroundRate !== null) return { rate: s.alarmBackgroundRate, from: 'fixed' }
  if (ingestSingleRate !== undefined && ingestSingleRate > 0) return { rate: ingestSingleRate / 2, from: 'ingest-single' }
  return { rate: s.alarmFallbackRate, from: 'fixed' }
}

export async function measureAlarmLatency(ctx: RunContext, db: BenchDatabase, round: number, ingestSingleRate: number | undefined): Promise<AlarmLatencyResult> {
  const s = ctx.settings
  const { rate, from } = alarmBackgroundRate(s, ingestSingleRate)
  await db.reset()
  const probeIds = Array.from({ length: s.alarmProbeDevices }, (_, i) => alarmProbeDeviceId(i))
  await db.addDevices([
    ...probeIds.map((id) => ({ id, domain: BENCH_DOMAIN, password: BENCH_PASSWORD })),
    { id: ALARM_PROBE_INTEGRATION, kind: 'integration', password: BENCH_PASSWORD },
  ])
  const service = await Target.start(ctx, 'gridline', db, { processors: alarmProcessorsConfig() })
  try {
    progress(`round ${round}: alarm-latency (${s.singleConnections} background logins first)`)
    const load = await LoadSet.start(ctx, 'load-alarm', service.mqttPort, devices(s.singleConnections))
    const probe = ChildHandle.start(`alarm-probe#${round}`, './alarm-probe.ts', [], ctx.log)
    try {
      await probe.request('connect', {
        port: service.mqttPort, devices: probeIds.map((id) => ({ id, topic: benchTopic(id) })),
        integrationId: ALARM_PROBE_INTEGRATION, password: BENCH_PASSWORD, timeoutMs: s.connectTimeoutMs,
      }, s.connectTimeoutMs + 10_000)
      const probing: ProbeRunRequest = {
        ruleId: ALARM_RULE_ID, metric: 'pm25', raiseValue: RAISE_ABOVE * 1.5, clearValue: CLEAR_BELOW * 0.4,
        warmupCrossings: s.alarmWarmupCrossings, crossings: s.alarmCrossings, intervalMs: s.alarmIntervalMs, settleTimeoutMs: s.alarmSettleTimeoutMs,
      }
      const probeMs = (probing.warmupCrossings + probing.crossings) * probing.intervalMs
      // The background's window covers the crossings; the probe starts once the warm-up is over.
      const phase = { ...singlePaced(s, rate), windowMs: probeMs + 1_000, recordLatency: false }
      progress(`round ${round}: alarm-latency, ${probing.crossings} crossings every ${probing.intervalMs} ms from ${probeIds.length} devices under ${Math.round(rate)} msg/s`)
      const backgroundDone = runWindow(service, load, phase, rate, db)
      let probed: ProbeRunResult
      let background: WindowSummary
      try {
        await sleep(s.warmupMs)
        probed = await probe.request<ProbeRunResult>('run', probing, probeMs + probing.settleTimeoutMs + 30_000)
      } finally {
        background = await backgroundDone
      }
      const engine = await service.alarmStats<AlarmEngineStats>().catch(() => null)
      return summariseProbe(probed, probing, probeIds.length, rate, from, background, engine)
    } finally {
      await probe.stop(10_000)
      await load.stop()
    }
  } finally {
    await service.stop()
  }
}

export function summariseProbe(probed: ProbeRunResult, probing: ProbeRunRequest, probeDevices: number, backgroundRate: number, from: AlarmLatencyResult['backgroundRateFrom'], background: WindowSummary, engine: AlarmEngineStats | null): AlarmLatencyResult {
  const measured = probed.crossings.filter((c) => !c.warmup)
  const latencies = (pick: (c: ProbeCrossing) => number | null, of = measured) => Float64Array.from(of.flatMap((c) => {
    const v = pick(c)
    return v === null ? [] : [v]
  }))
  const events = latencyOf(latencies((c) => c.eventMs))
  return {
    ruleId: probing.ruleId,
    backgroundRate,
    backgroundRateFrom: from,
    background,
    intervalMs: probing.intervalMs,
    probeDevices,
    warmupCrossings: probing.warmupCrossings,
    crossings: measured.length,
    missingEvents: measured.filter((c) => c.eventMs === null).length,
    missingPubacks: measured.filter((c) => c.pubackMs === null).length,
    failedPublishes: probed.crossings.filter((c) => c.failed).length,
    unexpectedEvents: probed.unexpectedEvents,
    firstUnexpected: probed.firstUnexpected,
    publishLateMaxMs: Math.max(0, ...probed.crossings.map((c) => c.lateMs)),
    eventLatencyMs: events.latencyMs,
    eventLatencyHistogram: events.latencyHistogram,
    raiseLatencyMs: latencyOf(latencies((c) => c.eventMs, measured.filter((c) => c.expected === 'raised'))).latencyMs,
    clearLatencyMs: latencyOf(latencies((c) => c.eventMs, measured.filter((c) => c.expected === 'cleared'))).latencyMs,
    pubackLatencyMs: latencyOf(latencies((c) => c.pubackMs)).latencyMs,
    engine,
    samples: probed.crossings,
  }
}

/**
 * `soak`: a long steady run on a fresh service, paced at a share (60%) of
 * the round's ingest-single rate, reporting drift: acknowledged throughput
 * and the service's resident memory, first third against last third, and
 * their least-squares slope. Minutes here (--duration), hours in the field.
 */
import type { BenchDatabase } from './database.ts'
import { LoadSet, Target, progress } from './harness.ts'
import type { WindowPhase } from './load-generator.ts'
import type { RunContext, SoakResult } from './results.ts'
import { devices } from './workload.ts'
import { drift } from './series.ts'
import { runWindow } from './window.ts'

export async function measureSoak(ctx: RunContext, db: BenchDatabase, round: number, baseRate: number): Promise<SoakResult> {
  const s = ctx.settings
  if (!(baseRate > 0)) throw new Error(`soak needs the round's ingest-single rate, got ${baseRate}`)
  const askedRate = baseRate * s.soakLoadShare
  await db.reset()
  const service = await Target.start(ctx, 'gridline', db)
  try {
    const load = await LoadSet.start(ctx, 'load-soak', service.mqttPort, devices(s.singleConnections))
    try {
      progress(`round ${round}: soak at ${Math.round(askedRate)} msg/s for ${Math.round(s.soakMs / 1000)} s`)
      const phase: WindowPhase = {
        kind: 'window', readingsPerMessage: 1, maxInflight: s.singleMaxInflight, warmupMs: 0, windowMs: s.soakMs,
        ratePerSecond: askedRate / s.loadProcesses, recordLatency: false, drainTimeoutMs: s.drainTimeoutMs,
        timelineBucketMs: s.soakSampleMs,
      }
      const window = await runWindow(service, load, phase, askedRate, db, s.soakSampleMs)
      // The last bucket is cut short by the end of the window: leave it out.
      const throughput = window.timeline.filter((p) => p.atSeconds * 1000 <= s.soakMs)
      return {
        durationMs: s.soakMs,
        askedRate,
        baseRate,
        ackedPerSecond: window.ackedPerSecond,
        throughput,
        rssMiB: window.rssMiB,
        throughputDrift: drift(throughput.map((p) => ({ atSeconds: p.atSeconds, value: p.perSecond }))),
        rssDrift: drift(window.rssMiB),
        window,
      }
    } finally {
      await load.stop()
    }
  } finally {
    await service.stop()
  }
}

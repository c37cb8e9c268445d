/**
 * The process `gridline bench profile` runs under clinic: one scenario's
 * system under test in this very process (so clinic sees it), its load from
 * separate load generator processes, for a fixed time; then it cleans up and
 * exits on its own, which is when clinic writes its report.
 *
 * Usage: node --import tsx profile-target.ts <scenario> <database admin url> <duration seconds>
 */
import { createServer } from 'node:net'
import { createLogger } from '@gridline/core'
import { buildIngestService, ingestConfig } from '@gridline/ingest'
import { BenchDatabase, dropAllBenchDatabases } from './database.ts'
import { LoadSet, setQuiet } from './harness.ts'
import { measurePipeline, measureWriter } from './in-process.ts'
import { ChildLog, killAllChildren } from './ipc.ts'
import type { CountPhase, WindowPhase } from './load-generator.ts'
import type { RunContext } from './results.ts'
import { batchedMessagesPerConnection, devices, BASE_TIME_OFFSET_MS, BENCH_PASSWORD } from './workload.ts'
import { QUICK } from './settings.ts'
import { singleClosedLoop } from './window.ts'

type ProfilableScenario = 'writer' | 'pipeline' | 'pipeline-processors' | 'ingest-batched' | 'ingest-single' | 'broker'

async function main(): Promise<void> {
  const [scenario, adminUrl, durationText, logPath] = process.argv.slice(2) as [ProfilableScenario, string, string, string]
  const durationMs = Number(durationText) * 1000
  setQuiet(true)
  const log = new ChildLog(logPath)
  const settings = { ...QUICK, windowMs: durationMs, warmupMs: 0, rows: Math.max(QUICK.rows, Math.round(durationMs * 100)) }
  const ctx: RunContext = {
    adminUrl,
    runId: `bench_profile_${process.pid}`,
    settings,
    log,
    baseTimeMs: Math.floor((Date.now() - BASE_TIME_OFFSET_MS) / 1000) * 1000,
    copyFile: '',
    cpuProfileDir: null,
  }
  const db = await BenchDatabase.create(adminUrl, ctx.runId, devices(settings.singleConnections).map((id) => ({ id, password: BENCH_PASSWORD })))
  try {
    if (scenario === 'writer') await measureWriter(ctx, db)
    else if (scenario === 'pipeline') await measurePipeline(ctx, db, false)
    else if (scenario === 'pipeline-processors') await measurePipeline(ctx, db, true)
    else if (scenario === 'broker') await underLoad(ctx, await startAedes(), 'single')
    else {
      const service = buildIngestService(ingestConfig({
        database: { url: db.url },
        mqtt: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        auth: { mode: 'devices' },
        log: { level: 'warn' },
        ingest: JSON.parse(process.env.GRIDLINE_BENCH_INGEST ?? '{}') as Record<string, unknown>,
      }), createLogger({ level: 'warn', destination: 2 }))
      const ports = await service.start()
      await underLoad(ctx, { port: ports.mqttPort!, stop: () => service.stop() }, scenario === 'ingest-batched' ? 'batched' : 'single')
    }
  } finally {
    await killAllChildren()
    await db.drop().catch(() => undefined)
    await dropAllBenchDatabases()
    await log.close()
  }
}

/** Runs the scenario's load against `target` for the duration, then stops the target. */
async function underLoad(ctx: RunContext, target: { port: number; stop(): Promise<void> }, shape: 'single' | 'batched'): Promise<void> {
  const s = ctx.settings
  try {
    const ids = devices(shape === 'batched' ? s.batchedConnections : s.singleConnections)
    const load = await LoadSet.start(ctx, `load-profile-${shape}`, target.port, ids)
    try {
      if (shape === 'single') await load.run('window', { ...singleClosedLoop(s), recordLatency: false } satisfies WindowPhase, s.windowMs + s.drainTimeoutMs + 10_000)
      else {
        const phase: CountPhase = {
          kind: 'count', readingsPerMessage: s.readingsPerBatchMessage, messagesPerConnection: batchedMessagesPerConnection(s),
          maxInflight: s.batchedMaxInflight, timeoutMs: s.windowMs,
        }
        await load.run('count', phase, s.windowMs + 10_000)
      }
    } finally {
      await load.stop()
    }
  } finally {
    await target.stop()
  }
}

async function startAedes(): Promise<{ port: number; stop(): Promise<void> }> {
  const { Aedes } = await import('aedes')
  const broker = await Aedes.createBroker()
  const server = createServer((socket) => broker.handle(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('aedes: no listening address')
  return {
    port: address.port,
    async stop() {
      server.close()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    },
  }
}

// Leave by running out of work, not process.exit: clinic's sampler writes its
// last records on the way out, and an abrupt exit truncates them. A handle
// left open by a library must not keep the process alive, though.
main().then(() => setTimeout(() => process.exit(0), 15_000).unref(), (err: Error) => {
  process.stderr.write(`profile target: ${err.stack ?? String(err)}\n`)
  process.exit(1)
})

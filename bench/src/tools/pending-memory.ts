/**
 * Memory per pending row: what the ingest service holds for each reading it
 * has taken in and not yet committed. The telemetry table is locked (ACCESS
 * EXCLUSIVE, in a transaction of this tool's) so that no batch commits; the
 * load generators publish QoS 1 messages until the service holds
 * --rows pending rows (below ingest.maxPendingRows, so nothing is held back
 * at the gate), in two fills; the service's memory after a full collection
 * is compared between the fills and with its memory before the load, per
 * pending row. The lock is released and every message must be stored.
 *
 *   npx tsx bench/src/tools/pending-memory.ts [--rows 40000] [--readings 1] [--connections 200] [--database postgres://...] [--snapshots DIR]
 *
 * --readings is readings per message: 1 is ingest-single's shape (one
 * message per row: its packet, its envelope, its held PUBACK), 100 the
 * batched shape. Prints RSS, JS heap and external (Buffer) bytes per row.
 * --snapshots DIR writes V8 heap snapshots at idle and at each fill there
 * (writing one grows the RSS by far more than the rows: read the heap figures then);
 * `npx tsx bench/src/tools/heap-diff.ts idle.heapsnapshot full.heapsnapshot ROWS`
 * then says which objects each pending row adds.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { BenchDatabase, dropAllBenchDatabases } from '../database.ts'
import { LoadSet, Target, sleep } from '../harness.ts'
import { ChildLog, killAllChildren } from '../ipc.ts'
import type { CountPhase, CountResult } from '../load-generator.ts'
import type { RunContext } from '../results.ts'
import { FULL } from '../settings.ts'
import { BENCH_PASSWORD, devices } from '../workload.ts'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '40000' },
    readings: { type: 'string', default: '1' },
    connections: { type: 'string', default: '200' },
    database: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    snapshots: { type: 'string' },
  },
})
const rows = Number(values.rows)
const readingsPerMessage = Number(values.readings)
const connections = Number(values.connections)
const perConnection = Math.max(1, Math.round(rows / readingsPerMessage / connections))

type Memory = Awaited<ReturnType<Target['collectedMemory']>>
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** Waits until the service's pending rows stop growing (every message sent so far is in, or held at a gate). */
async function settledPending(target: Target, sent: number): Promise<number> {
  let pending = -1
  for (let stable = 0; stable < 4;) {
    await sleep(500)
    const now = (await target.pendingRows()) ?? 0
    stable = now === pending && now > 0 ? stable + 1 : 0
    pending = now
    if (now === sent && stable >= 1) break
  }
  return pending
}

const log = new ChildLog(join(tmpdir(), `gridline-pending-memory-${process.pid}.log`))
const ctx: RunContext = {
  adminUrl: values.database, runId: `bench_pendmem_${process.pid}`, settings: { ...FULL, loadProcesses: 2 }, log,
  baseTimeMs: Math.floor((Date.now() - 3_600_000) / 1000) * 1000, copyFile: '', cpuProfileDir: null,
}
const ids = devices(connections)
const db = await BenchDatabase.create(ctx.adminUrl, ctx.runId, ids.map((id) => ({ id, password: BENCH_PASSWORD })))
const locker = new pg.Client({ connectionString: db.url })
try {
  const target = await Target.start(ctx, 'gridline', db, {}, ['--expose-gc'])
  try {
    const quarter = Math.max(1, Math.round(connections / 4))
    const sets = [ids.slice(0, quarter), ids.slice(quarter)]
    const loads = [await LoadSet.start(ctx, 'load-pending-memory-1', target.mqttPort, sets[0]!), await LoadSet.start(ctx, 'load-pending-memory-2', target.mqttPort, sets[1]!)]
    try {
      const before = await target.collectedMemory()
      const snapshot = async (name: string) => {
        if (values.snapshots) console.log(`heap snapshot: ${await target.heapSnapshot(join(values.snapshots, `pending-memory-${name}.heapsnapshot`))}`)
      }
      await snapshot('idle')
      await locker.connect()
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE telemetry IN ACCESS EXCLUSIVE MODE')
      // Two fills while nothing commits: a quarter of --rows (from a quarter
      // of the connections), then the rest.
      // The slope between them is the marginal memory of a pending row; from
      // idle includes fixed costs that grow once under load (the young
      // generation, socket buffers).
      // (A load process runs one phase at a time: the second fill is the other connections'.)
      const levels: { pending: number; held: Memory; asIs: Memory }[] = []
      const running: Promise<CountResult[]>[] = []
      const phase: CountPhase = { kind: 'count', readingsPerMessage, messagesPerConnection: perConnection, maxInflight: perConnection, timeoutMs: 300_000 }
      let sent = 0
      for (const [i, set] of loads.entries()) {
        sent += perConnection * sets[i]!.length * readingsPerMessage
        running.push(set.run<CountResult>('count', phase, 310_000))
        const pending = await settledPending(target, sent)
        const asIs = await target.collectedMemory(true)
        levels.push({ pending, asIs, held: await target.collectedMemory() })
        await snapshot(`${pending}-rows`)
      }
      await locker.query('COMMIT')
      const results = (await Promise.all(running)).flat()
      const acked = results.reduce((n, r) => n + r.ackedMessages, 0)
      const stored = await db.countTelemetry()
      const [lo, hi] = [levels[0]!, levels[1]!]
      const per = (key: keyof Memory, a: Memory, b: Memory, rows: number) => ((b[key] - a[key]) / rows).toFixed(0)
      const line = (what: string, a: Memory, b: Memory, rows: number) =>
        `${what}: RSS ${per('rssBytes', a, b, rows)} B, JS heap ${per('heapUsedBytes', a, b, rows)} B, external ${per('externalBytes', a, b, rows)} B`
      console.log(`readings per message ${readingsPerMessage}, ${connections} connections: ${lo.pending} then ${hi.pending} pending rows (${sent} sent; ${acked} messages acknowledged after the lock was released, ${stored} rows stored)`)
      console.log(line(`per pending row, ${lo.pending} to ${hi.pending} (after a full collection)`, lo.held, hi.held, hi.pending - lo.pending))
      console.log(line(`per pending row, ${lo.pending} to ${hi.pending} (garbage included)`, lo.asIs, hi.asIs, hi.pending - lo.pending))
      console.log(line(`per pending row, idle to ${hi.pending} (after a full collection)`, before, hi.held, hi.pending))
      console.log(`service idle: RSS ${mib(before.rssBytes)}, heap ${mib(before.heapUsedBytes)}; holding ${hi.pending}: RSS ${mib(hi.held.rssBytes)}, heap ${mib(hi.held.heapUsedBytes)}`)
      if (stored !== sent) throw new Error(`stored ${stored} rows, sent ${sent}`)
    } finally {
      for (const l of loads) await l.stop()
    }
  } finally {
    await target.stop()
  }
} finally {
  await locker.end().catch(() => undefined)
  await db.drop()
  await dropAllBenchDatabases()
  await killAllChildren()
}

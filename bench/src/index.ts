/**
 * `gridline bench`: the hot-path benchmark (bench/README.md). Runs every
 * scenario side by side, round after round, and writes results/bench-<time>.json
 * and .md at the repository root.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { dropAllBenchDatabases, postgresVersion } from './database.ts'
import { ChildLog, killAllChildren } from './ipc.ts'
import { type RunRecord, findings, markdownReport, markdownTable, sinkCheck, summarise } from './report.ts'
import { type BenchSettings, type RoundResult, type RunContext, runRound, writeCopyFile } from './scenarios.ts'
import { BASE_TIME_OFFSET_MS } from './workload.ts'

const USAGE = `Usage: gridline bench [--quick] [--rounds N] [--rows N] [--database-url URL] [--cpu-prof]

  --quick             A smoke run of about a minute: small counts, 1 round unless --rounds says otherwise.
  --rounds N          Rounds of every scenario (default 3); figures are the median with min and max.
  --rows N            Rows for copy-limit and readings for ingest-batched (default 1000000, quick 200000).
  --database-url URL  PostgreSQL to create bench_* databases in
                      (default GRIDLINE_BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres).
  --cpu-prof          Write a V8 CPU profile of every ingest service process to results/bench-<time>-profiles/
                      (open in Chrome DevTools); profiling slows the service, so figures are not comparable.`

const FULL: BenchSettings = {
  rows: 1_000_000,
  readingsPerBatchMessage: 100,
  batchedConnections: 4,
  batchedMaxInflight: 100,
  singleConnections: 200,
  singleMaxInflight: 50,
  loadProcesses: 2,
  warmupMs: 3_000,
  windowMs: 10_000,
  drainTimeoutMs: 15_000,
  countTimeoutMs: 180_000,
  connectTimeoutMs: 60_000,
  sampleIntervalMs: 500,
  overloadLevels: [1.5, 3],
  overloadOfferMs: 15_000,
  overloadDrainTimeoutMs: 120_000,
  overloadMinInflight: 5_000,
  overloadGeneratorMemoryBytes: 1.5 * 2 ** 30,
}

const QUICK: BenchSettings = { ...FULL, rows: 200_000, warmupMs: 1_000, windowMs: 3_000, drainTimeoutMs: 10_000, countTimeoutMs: 60_000, overloadOfferMs: 5_000 }

const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url))

/** Runs the benchmark; resolves with the exit code (0 when it ran, whatever the figures say). */
export async function runBenchCli(args: string[]): Promise<number> {
  let values
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        rows: { type: 'string' },
        'database-url': { type: 'string' },
        'cpu-prof': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values
  } catch (err) {
    process.stderr.write(`gridline bench: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const rounds = positiveInteger(values.rounds, values.quick ? 1 : 3)
  const settings: BenchSettings = { ...(values.quick ? QUICK : FULL) }
  settings.rows = positiveInteger(values.rows, settings.rows)
  if (Number.isNaN(rounds) || Number.isNaN(settings.rows)) {
    process.stderr.write(`gridline bench: --rounds and --rows take a whole number above 0.\n\n${USAGE}\n`)
    return 2
  }
  const adminUrl = values['database-url'] ?? process.env.GRIDLINE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

  const started = new Date()
  const stamp = started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  await mkdir(RESULTS_DIR, { recursive: true })
  const log = new ChildLog(join(RESULTS_DIR, `bench-${stamp}.log`))
  const scratch = await mkdtemp(join(os.tmpdir(), 'gridline-bench-'))
  const command = invocation(args)

  // Ctrl-C: end the children (which rejects whatever waits on them), then
  // let the finally below drop the databases. A second Ctrl-C leaves at once.
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write('gridline bench: stopping now; bench_* databases may be left behind.\n')
      process.exit(130)
    }
    interrupted = true
    process.stderr.write(`gridline bench: ${signal}: stopping the children and dropping the benchmark databases...\n`)
    void killAllChildren(3_000, true)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    const ctx: RunContext = {
      adminUrl,
      runId: `bench_${stamp.replace(/[^0-9]/g, '').slice(0, 14)}_${process.pid}`,
      settings,
      log,
      // Whole seconds, so timestamps in the data read cleanly.
      baseTimeMs: Math.floor((Date.now() - BASE_TIME_OFFSET_MS) / 1000) * 1000,
      copyFile: join(scratch, 'telemetry.copy'),
      cpuProfileDir: values['cpu-prof'] ? join(RESULTS_DIR, `bench-${stamp}-profiles`) : null,
    }
    const postgres = await postgresVersion(adminUrl)
    await writeCopyFile(ctx.copyFile, settings, ctx.baseTimeMs)
    process.stderr.write(`gridline bench: ${rounds} round(s), ${settings.rows} rows; child logs in ${log.path}\n`)

    const results: RoundResult[] = []
    for (let round = 1; round <= rounds && !interrupted; round++) results.push(await runRound(ctx, round))
    if (interrupted) return 130

    const finished = new Date()
    const record: RunRecord = {
      command,
      argv: process.argv,
      cwd: process.cwd(),
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: (finished.getTime() - started.getTime()) / 1000,
      quick: values.quick ?? false,
      rounds,
      settings,
      machine: {
        platform: os.platform(),
        release: os.release(),
        arch: os.arch(),
        cpus: os.cpus(),
        totalMemoryBytes: os.totalmem(),
        node: process.version,
        postgres,
      },
      summary: summarise(results),
      findings: findings(results),
      results,
      logFile: log.lines > 0 ? log.path : null,
    }
    const base = join(RESULTS_DIR, `bench-${stamp}`)
    await writeFile(`${base}.json`, `${JSON.stringify(record, null, 2)}\n`)
    await writeFile(`${base}.md`, markdownReport(record))
    process.stdout.write(`\n${markdownTable(record.summary)}\n\n${sinkCheck(results)}\n\n`)
    if (record.findings.length > 0) process.stdout.write(`Findings:\n${record.findings.map((f) => `- ${f}`).join('\n')}\n\n`)
    process.stdout.write(`Command: ${command} (in ${process.cwd()}), ${Math.round(record.durationSeconds)} s\nResults: ${base}.md and .json\n`)
    return 0
  } catch (err) {
    if (interrupted) return 130
    process.stderr.write(`gridline bench: failed: ${(err as Error).stack ?? String(err)}\nChild logs: ${log.path}\n`)
    return 1
  } finally {
    await killAllChildren()
    for (const failure of await dropAllBenchDatabases()) process.stderr.write(`gridline bench: ${failure.message}\n`)
    await rm(scratch, { recursive: true, force: true })
    await log.close()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** The command line as typed, as far as npm lets us know it: `npm run bench`, `npx gridline bench` or `gridline bench`. */
function invocation(args: string[]): string {
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' ')
  return [process.env.npm_command === 'exec' ? 'npx gridline bench' : 'gridline bench', ...args].join(' ')
}

/** The flag's whole number, the default when absent, NaN when it is not a whole number above 0. */
function positiveInteger(flag: string | undefined, fallback: number): number {
  if (flag === undefined) return fallback
  const n = Number(flag)
  return Number.isInteger(n) && n > 0 ? n : NaN
}

/**
 * `gridline bench`: named benchmark scenarios, run side by side round after
 * round, with results as JSON, markdown and an HTML page under results/
 * (docs/benchmarks.md). `gridline bench profile <scenario>` runs one under
 * clinic instead (profile.ts).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { dropAllBenchDatabases, postgresVersion } from './database.ts'
import { progress } from './harness.ts'
import { htmlReport } from './html-report.ts'
import { ChildLog, killAllChildren } from './ipc.ts'
import { runProfileCli } from './profile.ts'
import { type RunRecord, findings, markdownReport, markdownTable, sinkCheck, summarise } from './report.ts'
import type { BenchSettings, RoundResult, RunContext } from './results.ts'
import { runRound, writeCopyFile } from './scenarios.ts'
import { SCENARIOS, type ScenarioName, selectScenarios } from './selection.ts'
import { FULL, QUICK } from './settings.ts'
import { BASE_TIME_OFFSET_MS } from './workload.ts'

const USAGE = `Usage: gridline bench [scenario ...] [--quick] [--rounds N] [--duration S] [--rows N] [--sta-readings N] [--alarm-rate N] [--database-url URL] [--cpu-prof]
       gridline bench profile <scenario> [--duration S] [--database-url URL]

Scenarios (default: all but soak): ${SCENARIOS.join(', ')}.
A scenario also runs what it needs for its ratio or rate (writer: copy-limit; overload, peers, soak: ingest-single).

  --quick             A smoke run: small counts, short windows, 1 round unless --rounds says otherwise.
  --rounds N          Rounds of every scenario (default 3); figures are the median with min and max.
  --duration S        Length of the soak in seconds (default 180; quick 30).
  --rows N            Rows for copy-limit, writer, pipeline and ingest-batched (default 1000000, quick 200000).
  --sta-readings N    Readings stored for sta, over 1000 Datastreams (default 10000000, quick 200000).
  --alarm-rate N      Background load of alarm-latency in msg/s (default: half the round's ingest-single rate
                      when ingest-single runs too, else 30000).
  --database-url URL  PostgreSQL to create bench_* databases in
                      (default GRIDLINE_BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres).
  --cpu-prof          Write a V8 CPU profile of every ingest service process to results/bench-<time>-profiles/
                      (open in Chrome DevTools); profiling slows the service, so figures are not comparable.

Results: results/bench-<time>.json, .md and .html (git ignores results/).`

export const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url))
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface BenchOptions {
  scenarios: ScenarioName[]
  settings: BenchSettings
  rounds: number
  adminUrl: string
  resultsDir: string
  quick: boolean
  cpuProf: boolean
  /** The command line as the user typed it, for the report. */
  command: string
  /** Set by Ctrl-C: no further round starts. */
  interrupted?: () => boolean
}

export interface BenchRun {
  record: RunRecord
  files: { json: string; markdown: string; html: string; log: string | null }
}

/**
 * Runs the scenarios round after round and writes the results. Children and
 * bench_* databases are cleaned up on the way out, on error too.
 */
export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const started = new Date()
  const stamp = started.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  await mkdir(options.resultsDir, { recursive: true })
  const log = new ChildLog(join(options.resultsDir, `bench-${stamp}.log`))
  const scratch = await mkdtemp(join(os.tmpdir(), 'gridline-bench-'))
  try {
    const ctx: RunContext = {
      adminUrl: options.adminUrl,
      runId: `bench_${stamp.replace(/[^0-9]/g, '').slice(0, 14)}_${process.pid}`,
      settings: options.settings,
      log,
      // Whole seconds, so timestamps in the data read cleanly.
      baseTimeMs: Math.floor((Date.now() - BASE_TIME_OFFSET_MS) / 1000) * 1000,
      copyFile: join(scratch, 'telemetry.copy'),
      cpuProfileDir: options.cpuProf ? join(options.resultsDir, `bench-${stamp}-profiles`) : null,
    }
    const postgres = await postgresVersion(options.adminUrl)
    if (options.scenarios.includes('copy-limit')) await writeCopyFile(ctx.copyFile, options.settings, ctx.baseTimeMs)
    progress(`${options.rounds} round(s) of ${options.scenarios.join(', ')}; child logs in ${log.path}`)

    const results: RoundResult[] = []
    for (let round = 1; round <= options.rounds && !options.interrupted?.(); round++) results.push(await runRound(ctx, round, options.scenarios))

    const finished = new Date()
    const record: RunRecord = {
      command: options.command,
      argv: process.argv,
      cwd: process.cwd(),
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: (finished.getTime() - started.getTime()) / 1000,
      quick: options.quick,
      rounds: results.length,
      scenarios: options.scenarios,
      settings: options.settings,
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
    const base = join(options.resultsDir, `bench-${stamp}`)
    const files = { json: `${base}.json`, markdown: `${base}.md`, html: `${base}.html`, log: record.logFile }
    await writeFile(files.json, `${JSON.stringify(record, null, 2)}\n`)
    await writeFile(files.markdown, markdownReport(record))
    await writeFile(files.html, htmlReport(record, files.markdown))
    return { record, files }
  } finally {
    await killAllChildren()
    for (const failure of await dropAllBenchDatabases()) progress(failure.message)
    await rm(scratch, { recursive: true, force: true })
    await log.close()
  }
}

/** Runs the benchmark from the command line; resolves with the exit code (0 when it ran, whatever the figures say). */
export async function runBenchCli(args: string[]): Promise<number> {
  if (args[0] === 'profile') return runProfileCli(args.slice(1))
  let parsed
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        rows: { type: 'string' },
        'sta-readings': { type: 'string' },
        'alarm-rate': { type: 'string' },
        'database-url': { type: 'string' },
        'cpu-prof': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    process.stderr.write(`gridline bench: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  let selection
  try {
    selection = selectScenarios(positionals)
  } catch (err) {
    process.stderr.write(`gridline bench: ${(err as Error).message}\n`)
    return 2
  }
  const rounds = positiveInteger(values.rounds, values.quick ? 1 : 3)
  const settings: BenchSettings = { ...(values.quick ? QUICK : FULL) }
  settings.rows = positiveInteger(values.rows, settings.rows)
  settings.staReadings = positiveInteger(values['sta-readings'], settings.staReadings)
  settings.soakMs = positiveInteger(values.duration, settings.soakMs / 1000) * 1000
  if (values['alarm-rate'] !== undefined) settings.alarmBackgroundRate = positiveInteger(values['alarm-rate'], NaN)
  if ([rounds, settings.rows, settings.staReadings, settings.soakMs, settings.alarmBackgroundRate].some(Number.isNaN)) {
    process.stderr.write(`gridline bench: --rounds, --rows, --sta-readings, --duration and --alarm-rate take a whole number above 0.\n\n${USAGE}\n`)
    return 2
  }
  if (selection.added.length > 0) progress(`also running ${selection.added.join(', ')}, which ${positionals.join(', ')} need(s)`)

  // Ctrl-C: end the children (which rejects whatever waits on them), then
  // let runBench drop the databases. A second Ctrl-C leaves at once.
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
  const command = invocation(args)
  try {
    const { record, files } = await runBench({
      scenarios: selection.scenarios,
      settings,
      rounds,
      adminUrl: values['database-url'] ?? process.env.GRIDLINE_BENCH_DATABASE_URL ?? DEFAULT_ADMIN_URL,
      resultsDir: RESULTS_DIR,
      quick: values.quick ?? false,
      cpuProf: values['cpu-prof'] ?? false,
      command,
      interrupted: () => interrupted,
    })
    if (interrupted) return 130
    process.stdout.write(`\n${markdownTable(record.summary)}\n\n${sinkCheck(record.results)}\n\n`)
    if (record.findings.length > 0) process.stdout.write(`Findings:\n${record.findings.map((f) => `- ${f}`).join('\n')}\n\n`)
    process.stdout.write(`Command: ${command} (in ${process.cwd()}), ${Math.round(record.durationSeconds)} s\nResults: ${files.markdown}, .json and .html\n`)
    return 0
  } catch (err) {
    if (interrupted) return 130
    process.stderr.write(`gridline bench: failed: ${(err as Error).stack ?? String(err)}\nChild logs: ${RESULTS_DIR}bench-*.log\n`)
    return 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** The command line as typed, as far as npm lets us know it: `npm run bench`, `npx gridline bench` or `gridline bench`. */
export function invocation(args: string[]): string {
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' ')
  return [process.env.npm_command === 'exec' ? 'npx gridline bench' : 'gridline bench', ...args].join(' ')
}

/** The flag's whole number, the default when absent, NaN when it is not a whole number above 0. */
export function positiveInteger(flag: string | undefined, fallback: number): number {
  if (flag === undefined) return fallback
  const n = Number(flag)
  return Number.isInteger(n) && n > 0 ? n : NaN
}

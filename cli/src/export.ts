import { createWriteStream, renameSync, rmSync } from 'node:fs'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { GridlineError } from '@gridline/core'
import { EXPORT_KINDS, type IngestConfig, REPORT_CSS, airQualityReport, parseExportRequest, parseReportParams, reportCsv, reportHtml, streamExport } from '@gridline/ingest'
import pg from 'pg'

export const EXPORT_USAGE = `Usage: gridline export readings|rollups|indicators|alarms --from TIME --to TIME
         [--device ID | --area KIND:NAME] [--metric M] [--resolution 1m|1h] [--name INDICATOR]
         [--severity LIST] [--format csv|jsonl] [--limit N] [--output FILE] [--config FILE]
       gridline export air-quality --district NAME --date YYYY-MM-DD [--format csv|html|json] [--output FILE]

TIME is ISO 8601 with its offset (2026-11-01T00:00:00+07:00); KIND is district, metered_area,
road_segment or circuit. Writes to stdout, or to FILE (via FILE.partial, renamed when complete).
docs/exports.md describes the columns and limits.`

function usage(message: string): never {
  throw new GridlineError('GRIDLINE_USAGE', `${message}\n${EXPORT_USAGE}`)
}

/** stdout as a stream that waits for 'drain' (and is never ended: the process still writes after). */
function stdoutStream(): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      if (process.stdout.write(chunk)) done()
      else process.stdout.once('drain', () => done())
    },
  })
}

/**
 * `gridline export ...`: the console's exports, streamed from the database the
 * other commands use (DATABASE_URL or database.url), to stdout or a file.
 */
export async function exportCommand(args: string[], loadConfig: (path: string | undefined) => IngestConfig): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${EXPORT_USAGE}\n`)
    return 0
  }
  let parsed
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: Object.fromEntries(['config', 'device', 'area', 'metric', 'resolution', 'name', 'severity', 'from', 'to', 'format', 'limit', 'output', 'district', 'date'].map((k) => [k, { type: 'string' as const }])),
    })
  } catch (err) {
    usage((err as Error).message)
  }
  const [kind, ...extra] = parsed.positionals
  const v = parsed.values as Record<string, string | undefined>
  if (!kind) usage('Which export: readings, rollups, indicators, alarms or air-quality.')
  if (extra.length) usage(`Unexpected argument "${extra[0]}".`)
  if (kind !== 'air-quality' && !(EXPORT_KINDS as readonly string[]).includes(kind)) usage(`Unknown export "${kind}".`)
  const flag = (err: unknown): never => usage(`--${(err as Error).message}`)
  const config = loadConfig(v.config ?? process.env.GRIDLINE_CONFIG)
  const url = config.database.url
  if (!url) throw new GridlineError('GRIDLINE_CONFIG_INVALID', 'No database: set DATABASE_URL or database.url in the config file.')

  let request
  let report
  try {
    if (kind === 'air-quality') report = parseReportParams({ district: v.district, date: v.date, format: v.format || 'csv' })
    else request = parseExportRequest(kind, v)
  } catch (err) {
    flag(err)
  }
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'gridline export' })
  pool.on('error', () => undefined)
  const file = v.output
  const partial = file ? `${file}.partial` : undefined
  const out = partial ? createWriteStream(partial) : stdoutStream()
  try {
    if (report) {
      const r = await airQualityReport(pool, report.district, report.date)
      // The printable page from a file has no server to fetch its style sheet: inlined.
      const text = report.format === 'csv' ? reportCsv(r) : report.format === 'json' ? `${JSON.stringify(r, null, 2)}\n`
        : reportHtml(r, 'data:text/css;base64,' + Buffer.from(REPORT_CSS).toString('base64'))
      out.end(text)
      await finished(out)
    } else {
      await streamExport(pool, request!, out)
    }
    if (file && partial) renameSync(partial, file)
  } catch (err) {
    if (partial) rmSync(partial, { force: true })
    if ((err as { code?: string }).code === 'ECONNREFUSED') throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', `Cannot reach the database: ${(err as Error).message}`, { cause: err })
    throw err
  } finally {
    await pool.end()
  }
  if (file) process.stderr.write(`Wrote ${file}.\n`)
  return 0
}

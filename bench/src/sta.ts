import { createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '@gridline/core'
import { buildIngestService, ingestConfig } from '@gridline/ingest'
import pg from 'pg'
import type { BenchDatabase } from './database.ts'
import { progress } from './harness.ts'
import type { RunContext, StaResult } from './results.ts'

/**
 * `sta`: the three SensorThings queries of issue 17 through the real service
 * over HTTP, on `staReadings` stored readings spread over `staDatastreams`
 * Datastreams (one PM2.5 reading per Datastream every 10 s, ending now), p50
 * and p95 of `staRequests` requests each after one discarded warm-up. The
 * rows are written to a COPY text file and loaded with psql's \copy (10
 * million in about a minute), so the load is not what is measured.
 */
export async function measureSta(ctx: RunContext, db: BenchDatabase, round: number): Promise<StaResult> {
  const s = ctx.settings
  const datastreams = s.staDatastreams
  const perStream = Math.ceil(s.staReadings / datastreams)
  const spacingMs = 10_000
  await db.reset()
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  pool.on('error', () => undefined)
  const scratch = mkdtempSync(join(tmpdir(), 'gridline-bench-sta-'))
  const service = buildIngestService(ingestConfig({
    database: { url: db.url },
    mqtt: { port: 0, host: '127.0.0.1' },
    http: { port: 0, host: '127.0.0.1' },
    console: { nodeRed: { enabled: false }, dataDir: scratch },
    sta: { rateLimit: { requestsPerMinute: 1_000_000, burst: 100_000 } },
    log: { level: 'silent' },
  }), createLogger({ level: 'silent' }))
  try {
    progress(`round ${round}: sta, loading ${perStream * datastreams} readings of ${datastreams} Datastreams`)
    const started = performance.now()
    const endMs = Math.floor(Date.now() / 1000) * 1000
    await pool.query(`DELETE FROM sta_datastreams WHERE device_id LIKE 'bench-sta-%'`)
    await pool.query(`INSERT INTO devices (id, kind, domain) SELECT 'bench-sta-' || i, 'device', 'environment' FROM generate_series(1, $1::int) i ON CONFLICT DO NOTHING`, [datastreams])
    const file = join(scratch, 'sta.copy')
    await writeReadings(file, datastreams, perStream, endMs, spacingMs)
    const { rows: loaded } = await db.copyWithPsql(file, Math.max(s.countTimeoutMs, 600_000))
    rmSync(file)
    await pool.query(`INSERT INTO sta_datastreams (device_id, metric, first_time, last_time)
      SELECT 'bench-sta-' || i, 'pm25', $2::timestamptz, $3::timestamptz FROM generate_series(1, $1::int) i
      ON CONFLICT (device_id, metric) WHERE device_id IS NOT NULL DO NOTHING`, [datastreams, new Date(endMs - (perStream - 1) * spacingMs), new Date(endMs)])
    await pool.query('ANALYZE telemetry; ANALYZE sta_datastreams; ANALYZE devices')
    const loadMs = performance.now() - started
    // The service starts on the loaded tables: its Datastream tracker reads sta_datastreams once.
    const { httpPort } = await service.start()
    const { rows } = await pool.query(`SELECT id FROM sta_datastreams WHERE device_id = 'bench-sta-1' AND metric = 'pm25'`)
    const one = Number(rows[0].id)
    const dayAgo = new Date(endMs - 86_400_000).toISOString()
    const base = `http://127.0.0.1:${httpPort}/sta/v1.1`
    const top = Math.min(datastreams, 1000)
    const queries = [
      { name: 'count and a page of Observations', path: '/Observations?$count=true&$top=100' },
      { name: `latest Observation of ${top} Datastreams`, path: `/Datastreams?$top=${top}&$expand=${encodeURIComponent('Observations($top=1;$orderby=phenomenonTime desc)')}` },
      { name: 'one day of one Datastream', path: `/Datastreams(${one})/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime ge ${dayAgo}`)}` },
    ]
    const out: StaResult['queries'] = []
    for (const q of queries) {
      progress(`round ${round}: sta, ${q.name} (${s.staRequests} requests)`)
      const times: number[] = []
      let entities = 0
      for (let r = 0; r <= s.staRequests; r++) {
        const t0 = performance.now()
        const res = await fetch(`${base}${q.path}`)
        const body = await res.json() as { value?: unknown[] }
        if (res.status !== 200) throw new Error(`sta: ${q.path}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`)
        // The first is a warm-up (plans, caches): not counted.
        if (r > 0) times.push(performance.now() - t0)
        entities = body.value?.length ?? 0
      }
      times.sort((a, b) => a - b)
      const at = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!
      out.push({ ...q, requests: times.length, entities, p50Ms: at(0.5), p95Ms: at(0.95) })
    }
    return { readings: loaded, datastreams, loadMs, queries: out }
  } finally {
    await service.stop()
    await pool.end()
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** COPY text of `perStream` readings per Datastream, the last at `endMs`, in the table's column order (TELEMETRY_COPY_COLUMNS). */
async function writeReadings(file: string, datastreams: number, perStream: number, endMs: number, spacingMs: number): Promise<void> {
  const out = createWriteStream(file)
  const received = new Date(endMs).toISOString()
  for (let i = 1; i <= datastreams; i++) {
    const lines: string[] = []
    for (let j = perStream - 1; j >= 0; j--) {
      lines.push(`${new Date(endMs - j * spacingMs).toISOString()}\tbench-sta-${i}\tpm25\t${(i + j) % 200}\t0\t\\N\t${received}\t0\n`)
    }
    if (!out.write(lines.join(''))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

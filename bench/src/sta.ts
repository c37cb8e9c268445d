import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '@gridline/core'
import { buildIngestService, ingestConfig } from '@gridline/ingest'
import pg from 'pg'

/**
 * `sta` (not yet in the scenario list): the three SensorThings queries of
 * issue 17 on `readings` stored readings spread over `datastreams`
 * Datastreams, through the real service over HTTP, p50 and p95 of `rounds`
 * requests each. Loads the rows with one INSERT ... generate_series (one
 * reading per Datastream per `spacingS` seconds, ending now), so the load is
 * not what is measured. Goals (docs/sensorthings.md): each p95 under 300 ms.
 */
export interface StaBenchResult {
  readings: number
  datastreams: number
  loadMs: number
  queries: { name: string; path: string; p50Ms: number; p95Ms: number }[]
}

export async function measureSta(databaseUrl: string, options: { readings: number; datastreams: number; rounds?: number; spacingS?: number }): Promise<StaBenchResult> {
  const { datastreams } = options
  const perStream = Math.ceil(options.readings / datastreams)
  const spacingS = options.spacingS ?? 10
  const rounds = options.rounds ?? 20
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  pool.on('error', () => undefined)
  const service = buildIngestService(ingestConfig({
    database: { url: databaseUrl },
    mqtt: { port: 0, host: '127.0.0.1' },
    http: { port: 0, host: '127.0.0.1' },
    console: { nodeRed: { enabled: false }, dataDir: mkdtempSync(join(tmpdir(), 'gridline-bench-sta-')) },
    sta: { rateLimit: { requestsPerMinute: 1_000_000, burst: 100_000 } },
    log: { level: 'silent' },
  }), createLogger({ level: 'silent' }))
  try {
    const { httpPort } = await service.start()
    const started = performance.now()
    await pool.query(`INSERT INTO devices (id, kind, domain) SELECT 'bench-aq-' || i, 'device', 'environment' FROM generate_series(1, $1::int) i ON CONFLICT DO NOTHING`, [datastreams])
    await pool.query(`INSERT INTO telemetry (time, device_id, metric, value, quality)
      SELECT now() - (j * $3::int || ' seconds')::interval, 'bench-aq-' || i, 'pm25', (i + j) % 200, 0
        FROM generate_series(1, $1::int) i, generate_series(0, $2::int - 1) j ON CONFLICT DO NOTHING`, [datastreams, perStream, spacingS])
    await pool.query(`INSERT INTO sta_datastreams (device_id, metric, first_time, last_time)
      SELECT 'bench-aq-' || i, 'pm25', now() - ($2::int * $3::int || ' seconds')::interval, now() FROM generate_series(1, $1::int) i
      ON CONFLICT (device_id, metric) WHERE device_id IS NOT NULL DO NOTHING`, [datastreams, perStream, spacingS])
    await pool.query('ANALYZE telemetry; ANALYZE sta_datastreams')
    const loadMs = performance.now() - started
    const { rows } = await pool.query(`SELECT id FROM sta_datastreams WHERE device_id = 'bench-aq-1'`)
    const one = Number(rows[0].id)
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString()
    const base = `http://127.0.0.1:${httpPort}/sta/v1.1`
    const queries = [
      { name: 'count and a page of Observations', path: '/Observations?$count=true&$top=100' },
      { name: `latest Observation of ${datastreams} Datastreams`, path: `/Datastreams?$top=${Math.min(datastreams, 1000)}&$expand=${encodeURIComponent('Observations($top=1;$orderby=phenomenonTime desc)')}` },
      { name: 'one day of one Datastream', path: `/Datastreams(${one})/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime ge ${dayAgo}`)}` },
    ]
    const out: StaBenchResult['queries'] = []
    for (const q of queries) {
      const times: number[] = []
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now()
        const res = await fetch(`${base}${q.path}`)
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`${q.path}: HTTP ${res.status}`)
        times.push(performance.now() - t0)
      }
      times.sort((a, b) => a - b)
      const at = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!
      out.push({ ...q, p50Ms: at(0.5), p95Ms: at(0.95) })
    }
    return { readings: perStream * datastreams, datastreams, loadMs, queries: out }
  } finally {
    await service.stop()
    await pool.end()
  }
}

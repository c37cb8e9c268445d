import { createLogger } from '@gridline/core'
import { LiveDeviceDirectory } from '@gridline/ingest'
import pg from 'pg'
import { cityWorkload } from './city-workload.ts'
import type { BenchDatabase } from './database.ts'
import { progress } from './harness.ts'
import { measurePipeline } from './in-process.ts'
import type { PipelineCityResult, RunContext } from './results.ts'
import { BENCH_PASSWORD } from './workload.ts'

const GATEWAY = 'city-bench-gateway'

/**
 * `pipeline` and `pipeline-processors` on a city's day instead of the
 * copy-limit rows: the same in-process hot path (intake, group commit,
 * TimescaleSink; with every processor after each commit), on readings whose
 * event time spans up to a day, so the indicators' windows close and their
 * values are written to indicator_values as the service does (history on,
 * its default). The devices are registered (district, road segment, metered
 * area) and looked up through the service's own live registry. Which side
 * runs first alternates by round.
 */
export async function measurePipelineCity(ctx: RunContext, db: BenchDatabase, round: number): Promise<PipelineCityResult> {
  const workload = cityWorkload(ctx.settings.rows, Date.now())
  await db.addDevices([{ id: GATEWAY, kind: 'gateway', password: BENCH_PASSWORD }])
  for (const domain of ['environment', 'traffic', 'water'] as const) {
    await db.addBehindGateway(workload.devices.filter((d) => d.domain === domain).map((d) => ({ id: d.id, metadata: d.metadata })), domain, GATEWAY)
  }
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  pool.on('error', () => undefined)
  const directory = new LiveDeviceDirectory(pool, db.url, createLogger({ level: 'silent' }))
  await directory.start()
  try {
    const hours = (workload.toMs - workload.fromMs) / 3_600_000
    const run = async (withProcessors: boolean) => {
      progress(`round ${round}: pipeline-city ${withProcessors ? 'with every processor' : 'without processors'} (${workload.devices.length} devices, ${hours.toFixed(1)} h, ${workload.rows} rows)`)
      const result = await measurePipeline(ctx, db, withProcessors, { messages: workload.messages, directory })
      const { rows } = await pool.query<{ n: string; names: string[] | null }>('SELECT count(*) AS n, array_agg(DISTINCT name) AS names FROM indicator_values')
      return { result, indicatorValues: Number(rows[0]?.n ?? 0), names: (rows[0]?.names ?? []).sort() }
    }
    const first = await run(round % 2 === 0)
    const second = await run(round % 2 !== 0)
    const [without, withProcessors] = round % 2 === 0 ? [second, first] : [first, second]
    if (without.indicatorValues !== 0) throw new Error(`pipeline-city: ${without.indicatorValues} indicator values stored without processors`)
    return {
      devices: workload.devices.length,
      hours,
      rows: workload.rows,
      without: without.result,
      with: withProcessors.result,
      ratio: withProcessors.result.rowsPerSecond / without.result.rowsPerSecond,
      indicatorValues: withProcessors.indicatorValues,
      indicatorNames: withProcessors.names,
    }
  } finally {
    await directory.stop()
    await pool.end()
  }
}

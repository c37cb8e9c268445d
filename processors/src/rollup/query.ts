import { type SqlQueryable, minuteRollupsSql } from './sql.ts'

export type QueryResolution = 'raw' | '1m' | '1h'

export interface TelemetryQuery {
  deviceId: string
  metric: string
  /** Start, epoch ms, inclusive. */
  from: number
  /** End, epoch ms, exclusive. */
  to: number
  /** At most this many points: the resolution steps up (and 1 h buckets are merged) until it fits. */
  maxPoints?: number
}

/** One point of a series. `value` is the average of the good readings (the reading itself for raw). */
export interface TelemetryPoint {
  /** Epoch ms: the reading's time, or the bucket's start. */
  time: number
  /** null when the bucket had no good reading. */
  value: number | null
  min: number | null
  max: number | null
  /** Readings in the bucket, good or not. */
  count: number
  /** Readings that were not GOOD (0 for raw points: raw returns good readings only). */
  nonGood: number
}

export interface TelemetrySeries {
  resolution: QueryResolution
  /** Width of each point's bucket in ms (0 for raw). */
  stepMs: number
  points: TelemetryPoint[]
}

/** Ranges up to these sizes are answered from the finer source. */
export const QUERY_THRESHOLDS = {
  rawMaxRangeMs: 2 * 3_600_000,
  minuteMaxRangeMs: 3 * 86_400_000,
} as const

const MINUTE = 60_000
const HOUR = 3_600_000

interface Row { t: number; value: number | null; min: number | null; max: number | null; count: string | number; non_good: string | number }

const toPoint = (r: Row): TelemetryPoint => ({
  time: Number(r.t),
  value: r.value === null ? null : Number(r.value),
  min: r.min === null ? null : Number(r.min),
  max: r.max === null ? null : Number(r.max),
  count: Number(r.count),
  nonGood: Number(r.non_good),
})

/**
 * Reads one device's metric over [from, to), choosing the source from the
 * range: raw `telemetry` (good readings only) up to 2 h, 1-minute rollups up to
 * 3 days (`telemetry_1m` and the single-reading minutes from `telemetry`,
 * minuteRollupsSql), `telemetry_1h` beyond; with `maxPoints`, a coarser source (and then
 * merged hours) is used until the points fit. The newest minute or hour may
 * not be in `telemetry_1h` yet: buckets are written when they close.
 */
export async function queryTelemetry(db: SqlQueryable, query: TelemetryQuery): Promise<TelemetrySeries> {
  const { deviceId, metric, from, to } = query
  if (!(to > from)) throw new RangeError(`The query range is empty: from ${from} must be before to ${to}.`)
  const maxPoints = query.maxPoints ?? Infinity
  const range = to - from

  if (range <= QUERY_THRESHOLDS.rawMaxRangeMs) {
    const limit = Number.isFinite(maxPoints) ? maxPoints + 1 : null
    const { rows } = await db.query<Row>(
      `SELECT extract(epoch FROM time) * 1000 AS t, value, value AS min, value AS max, 1 AS count, 0 AS non_good
       FROM telemetry
       WHERE device_id = $1 AND metric = $2 AND time >= to_timestamp($3::float8 / 1000.0) AND time < to_timestamp($4::float8 / 1000.0) AND quality = 0
       ORDER BY time LIMIT $5::int`,
      [deviceId, metric, from, to, limit],
    )
    if (rows.length <= maxPoints) return { resolution: 'raw', stepMs: 0, points: rows.map(toPoint) }
  }

  const useMinutes = range <= QUERY_THRESHOLDS.minuteMaxRangeMs && range / MINUTE <= maxPoints
  const base = useMinutes ? MINUTE : HOUR
  // Both: the buckets that overlap [from, to).
  const source = useMinutes
    ? `${minuteRollupsSql({ device: (col) => `${col} = $1`, metric: '$2', from: `to_timestamp(($3::float8 - $6::float8) / 1000.0) + INTERVAL '1 microsecond'`, to: 'to_timestamp($4::float8 / 1000.0)', oneSeries: true })} AS m`
    : `telemetry_1h WHERE device_id = $1 AND metric = $2
       AND bucket > to_timestamp(($3::float8 - $6::float8) / 1000.0) AND bucket < to_timestamp($4::float8 / 1000.0)`
  // Whole hours per point when even hourly buckets are too many.
  const step = range / base <= maxPoints ? base : Math.ceil(range / maxPoints / HOUR) * HOUR
  const { rows } = await db.query<Row>(
    `SELECT extract(epoch FROM date_bin($5::float8 * INTERVAL '1 millisecond', bucket, TIMESTAMPTZ 'epoch')) * 1000 AS t,
            sum(avg * (count - non_good)) / NULLIF(sum(count - non_good) FILTER (WHERE avg IS NOT NULL), 0) AS value,
            min(min) AS min, max(max) AS max, sum(count) AS count, sum(non_good) AS non_good
     FROM ${source}
     GROUP BY 1 ORDER BY 1`,
    [deviceId, metric, from, to, step, base],
  )
  return { resolution: useMinutes ? '1m' : '1h', stepMs: step, points: rows.map(toPoint) }
}

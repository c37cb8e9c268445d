import type { SqlClient } from '@gridline/core'

/**
 * The one method processors need from a database client (core's SqlClient
 * contract). A node-postgres `Pool` or `Client` fits.
 */
export type SqlQueryable = Pick<SqlClient, 'query'>

const NEEDS_QUOTING = /[",\\{}\s]|^$|^null$/i
const NEEDS_ESCAPING = /["\\]/

/**
 * A PostgreSQL array literal of numbers (`{1,2.5,NaN}`) [PostgreSQL 15, 8.15.2
 * "Array Value Input"], for a `$n::float8[]` or `$n::int[]` parameter. NaN and
 * the infinities are written as PostgreSQL spells them. node-postgres builds
 * the same literal by quoting and escaping every element: on the rollup
 * writes that was more CPU than the rest of the statement's preparation.
 */
export function numberArrayLiteral(values: readonly number[]): string {
  // String(-0) is "0": the one number join would change.
  for (const v of values) if (v === 0 && 1 / v < 0) return `{${values.map((x) => (x === 0 && 1 / x < 0 ? '-0' : x)).join(',')}}`
  return `{${values.join(',')}}`
}

/**
 * A PostgreSQL array literal of text (`{aq-1,"a b",NULL}`): elements that need
 * it are quoted, with `"` and `\` escaped; null is NULL. Device ids and metric
 * names never need quoting (the decoder allows [A-Za-z0-9_.-]), so this is
 * usually one join.
 */
export function textArrayLiteral(values: readonly (string | null)[]): string {
  let plain = true
  for (const v of values) if (v === null || NEEDS_QUOTING.test(v)) { plain = false; break }
  if (plain) return `{${values.join(',')}}`
  // Only the elements that need it are quoted, and only those holding `"` or `\` are escaped.
  return `{${values.map((v) => (v === null ? 'NULL' : !NEEDS_QUOTING.test(v) ? v : NEEDS_ESCAPING.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`)).join(',')}}`
}

/** SQL text for the pieces of `minuteRollupsSql`: a predicate on a device id column, the metric, and the range. */
export interface MinuteRollupsScope {
  /** A predicate on the given device id column, e.g. `(col) => \`${col} = $1\``. */
  device: (column: string) => string
  /** An SQL expression for the metric, or null for every metric. */
  metric: string | null
  /** SQL timestamptz expressions: minutes starting in [from, to). */
  from: string
  to: string
  /**
   * One device and one metric (`device` an equality, `metric` set): telemetry
   * is then read only for the hours whose readings telemetry_1m does not hold
   * in full (telemetry_1h's count against the sum of its minutes'), so a
   * device reporting every second costs what it did before minutes were left out.
   */
  oneSeries?: boolean
}

const AGGREGATES = `count(*)::int AS count,
                 min(t.value) FILTER (WHERE t.quality = 0) AS min, max(t.value) FILTER (WHERE t.quality = 0) AS max,
                 avg(t.value) FILTER (WHERE t.quality = 0) AS avg,
                 (array_agg(t.value ORDER BY t.time DESC) FILTER (WHERE t.quality = 0))[1] AS last,
                 (count(*) FILTER (WHERE t.quality <> 0))::int AS non_good`

/**
 * The complete 1-minute rollups of a scope, as an SQL subquery with the
 * columns of `telemetry_1m` (bucket, device_id, metric, count, min, max, avg,
 * last, non_good). `telemetry_1m` stores the minutes that held two readings
 * or more (docs/rollups.md#single-reading-minutes): a minute with one reading
 * is that reading, so it is computed here from `telemetry`, as is every
 * minute not written yet. Rows of `telemetry_1m` win where both have one.
 */
export function minuteRollupsSql(scope: MinuteRollupsScope): string {
  const metric = (col: string) => (scope.metric === null ? '' : ` AND ${col} = ${scope.metric}`)
  // Raw readings of the minutes starting in [from, to): from the first minute start at or after `from`.
  const ceil = (t: string) => `(date_bin(INTERVAL '1 minute', (${t}) - INTERVAL '1 microsecond', TIMESTAMPTZ 'epoch') + INTERVAL '1 minute')`
  const rawFrom = ceil(scope.from)
  const rawTo = ceil(scope.to)
  const raw = scope.oneSeries === true && scope.metric !== null
    ? `SELECT date_bin(INTERVAL '1 minute', t.time, TIMESTAMPTZ 'epoch') AS bucket, t.device_id, t.metric, ${AGGREGATES}
            FROM generate_series(date_bin(INTERVAL '1 hour', ${rawFrom}, TIMESTAMPTZ 'epoch'), ${rawTo}, INTERVAL '1 hour') AS hs(hour)
            JOIN telemetry t ON ${scope.device('t.device_id')}${metric('t.metric')}
             AND t.time >= greatest(hs.hour, ${rawFrom}) AND t.time < least(hs.hour + INTERVAL '1 hour', ${rawTo})
           WHERE NOT EXISTS (
             SELECT 1 FROM telemetry_1h h
              WHERE ${scope.device('h.device_id')}${metric('h.metric')} AND h.bucket = hs.hour
                AND h.count = (SELECT coalesce(sum(s.count), 0) FROM telemetry_1m s
                                WHERE ${scope.device('s.device_id')}${metric('s.metric')} AND s.bucket >= hs.hour AND s.bucket < hs.hour + INTERVAL '1 hour'))
           GROUP BY 1, 2, 3`
    : `SELECT date_bin(INTERVAL '1 minute', t.time, TIMESTAMPTZ 'epoch') AS bucket, t.device_id, t.metric, ${AGGREGATES}
            FROM telemetry t
           WHERE ${scope.device('t.device_id')}${metric('t.metric')} AND t.time >= ${rawFrom} AND t.time < ${rawTo}
           GROUP BY 1, 2, 3`
  return `(
  SELECT s.bucket, s.device_id, s.metric, s.count, s.min, s.max, s.avg, s.last, s.non_good
    FROM telemetry_1m s
   WHERE ${scope.device('s.device_id')}${metric('s.metric')} AND s.bucket >= ${scope.from} AND s.bucket < ${scope.to}
  UNION ALL
  SELECT r.bucket, r.device_id, r.metric, r.count, r.min, r.max, r.avg, r.last, r.non_good
    FROM (${raw}) r
   WHERE NOT EXISTS (SELECT 1 FROM telemetry_1m s WHERE s.device_id = r.device_id AND s.metric = r.metric AND s.bucket = r.bucket)
)`
}

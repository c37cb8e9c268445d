import type { IndicatorEvent, Reading } from '../../stream/events.ts'
import { type SqlQueryable, numberArrayLiteral as nums, textArrayLiteral as texts } from '../../rollup/sql.ts'

/** An indicator value's identity: one per indicator, scope, key and window time. */
export const indicatorKey = (e: Pick<IndicatorEvent, 'name' | 'scope' | 'key' | 'time'>): string => `${e.name}\u0000${e.scope}\u0000${e.key}\u0000${e.time}`

/** What is stored of a value, to tell a recomputed one that changed from one that did not. */
export interface StoredIndicator {
  value: number
  level: string | null
  revision: number
}

/** One stored indicator value, as the query API answers it. */
export interface IndicatorRecord {
  name: string
  scope: IndicatorEvent['scope']
  key: string
  /** Epoch ms: the window's time as the indicator gives it (docs/indicators.md). */
  time: number
  value: number
  level: string | null
  details: Record<string, number | string | boolean> | null
  /** 0 as first computed; +1 per correction (late readings, a replay that found a different value). */
  revision: number
  computedAt: number
}

export interface IndicatorQuery {
  name: string
  scope?: IndicatorEvent['scope']
  key?: string
  /** Epoch ms, inclusive. */
  from: number
  /** Epoch ms, exclusive. */
  to: number
  /** Newest values first are cut; at most this many, capped at 10,000 (default 1,000). */
  limit?: number
}

export interface IndicatorHistoryStats {
  /** Values written (new or changed). */
  written: number
  /** Values that changed a stored one (revision + 1). */
  corrected: number
  /** Writes that failed (retried at the next flush). */
  failedFlushes: number
  /** Values waiting to be written. */
  pending: number
}

/** Values held for writing at most; past it the oldest are dropped and counted (the database has been away for long). */
const MAX_PENDING = 200_000
const MAX_QUERY_ROWS = 10_000

/**
 * The `indicator_values` table: every indicator value, keyed by indicator,
 * scope, key and window time, written in batches (upsert: a recomputed value
 * that changed bumps its revision, one that did not is left alone).
 */
export class IndicatorHistoryStore {
  private pending = new Map<string, IndicatorEvent>()
  private flushing: Promise<void> | null = null
  readonly stats: IndicatorHistoryStats = { written: 0, corrected: 0, failedFlushes: 0, pending: 0 }
  /** Values dropped because too many waited for the database. */
  dropped = 0

  constructor(private readonly db: SqlQueryable) {}

  /** Holds a value for the next flush; a later value of the same key replaces it. */
  record(event: IndicatorEvent): void {
    const key = indicatorKey(event)
    this.pending.delete(key)
    this.pending.set(key, event)
    if (this.pending.size > MAX_PENDING) {
      this.pending.delete(this.pending.keys().next().value!)
      this.dropped++
    }
    this.stats.pending = this.pending.size
  }

  /** Writes what is held; a failure keeps it for the next flush (and rejects). Flushes never overlap. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing
    if (this.pending.size === 0) return
    const batch = [...this.pending.values()]
    this.pending = new Map()
    this.flushing = this.write(batch).catch((err: unknown) => {
      // Put back what failed, under anything newer that came in meanwhile.
      for (const e of batch) if (!this.pending.has(indicatorKey(e))) this.pending.set(indicatorKey(e), e)
      this.stats.failedFlushes++
      throw err
    }).finally(() => {
      this.flushing = null
      this.stats.pending = this.pending.size
    })
    return this.flushing
  }

  private async write(batch: IndicatorEvent[]): Promise<void> {
    const { rows } = await this.db.query<{ revision: number }>(
      `INSERT INTO indicator_values AS v (name, scope, key, time, value, level, details)
       SELECT n, s, k, to_timestamp(t / 1000.0), v, l, NULLIF(d, 'null'::jsonb)
         FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::float8[]), unnest($5::float8[]), unnest($6::text[]),
                         jsonb_array_elements($7::jsonb)) AS u(n, s, k, t, v, l, d)
       ON CONFLICT (name, scope, key, time) DO UPDATE
         SET value = EXCLUDED.value, level = EXCLUDED.level, details = EXCLUDED.details, revision = v.revision + 1, computed_at = now()
         WHERE (v.value, v.level, v.details) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.level, EXCLUDED.details)
       RETURNING revision`,
      [
        texts(batch.map((e) => e.name)), texts(batch.map((e) => e.scope)), texts(batch.map((e) => e.key)),
        nums(batch.map((e) => e.time)), nums(batch.map((e) => e.value)),
        texts(batch.map((e) => e.level ?? null)),
        // The details as one JSON array (null: none), not a text[] of JSON: no quoting and escaping per value.
        JSON.stringify(batch.map((e) => e.details ?? null)),
      ],
    )
    this.stats.written += rows.length
    for (const r of rows) if (Number(r.revision) > 0) this.stats.corrected++
  }

  /** Stored values with a window time in [from, to), by key: what a replay or a recomputation compares with. */
  async stored(from: number, to: number, names: readonly string[] | null = null): Promise<Map<string, StoredIndicator>> {
    const { rows } = await this.db.query<{ name: string; scope: IndicatorEvent['scope']; key: string; t: string | number; value: number; level: string | null; revision: number }>(
      `SELECT name, scope, key, (extract(epoch FROM time) * 1000)::bigint AS t, value, level, revision FROM indicator_values
        WHERE time >= to_timestamp($1 / 1000.0) AND time < to_timestamp($2 / 1000.0) AND ($3::text[] IS NULL OR name = ANY($3))`,
      [from, to, names],
    )
    const out = new Map<string, StoredIndicator>()
    for (const r of rows) out.set(indicatorKey({ name: r.name, scope: r.scope, key: r.key, time: Number(r.t) }), { value: Number(r.value), level: r.level, revision: Number(r.revision) })
    return out
  }

  /** One indicator's values over [from, to), oldest first, at most `limit` (default 1,000, at most 10,000). */
  async query(q: IndicatorQuery): Promise<IndicatorRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1_000), 1), MAX_QUERY_ROWS)
    const { rows } = await this.db.query<{ name: string; scope: IndicatorEvent['scope']; key: string; t: string | number; value: number; level: string | null; details: Record<string, number | string | boolean> | null; revision: number; c: string | number }>(
      `SELECT name, scope, key, (extract(epoch FROM time) * 1000)::bigint AS t, value, level, details, revision, (extract(epoch FROM computed_at) * 1000)::bigint AS c
         FROM indicator_values
        WHERE name = $1 AND ($2::text IS NULL OR scope = $2) AND ($3::text IS NULL OR key = $3)
          AND time >= to_timestamp($4 / 1000.0) AND time < to_timestamp($5 / 1000.0)
        ORDER BY time, scope, key LIMIT $6`,
      [q.name, q.scope ?? null, q.key ?? null, q.from, q.to, limit],
    )
    return rows.map((r) => ({ name: r.name, scope: r.scope, key: r.key, time: Number(r.t), value: Number(r.value), level: r.level, details: r.details, revision: Number(r.revision), computedAt: Number(r.c) }))
  }

  /** The indicators stored, with their scopes and keys (at most 10,000): what a chart may ask for. */
  async catalog(): Promise<{ name: string; scope: string; key: string; first: number; last: number; values: number }[]> {
    const { rows } = await this.db.query<{ name: string; scope: string; key: string; first: string | number; last: string | number; n: string | number }>(
      `SELECT name, scope, key, (extract(epoch FROM min(time)) * 1000)::bigint AS first, (extract(epoch FROM max(time)) * 1000)::bigint AS last, count(*) AS n
         FROM indicator_values GROUP BY name, scope, key ORDER BY name, scope, key LIMIT ${MAX_QUERY_ROWS}`,
    )
    return rows.map((r) => ({ name: r.name, scope: r.scope, key: r.key, first: Number(r.first), last: Number(r.last), values: Number(r.n) }))
  }
}

/** Devices are asked for this many at a time (one `= ANY` array each). */
const DEVICE_CHUNK = 1_000
/** The rows of some devices' metrics over [$3, $4): `device_id = ANY` and `metric = ANY` lead the primary key (device_id, metric, time), an index range scan on either engine. */
const TELEMETRY_RANGE = 'FROM telemetry WHERE device_id = ANY($1) AND metric = ANY($2) AND time >= to_timestamp($3 / 1000.0) AND time < to_timestamp($4 / 1000.0)'

/** How many readings of these devices' metrics are stored in [from, to). */
export async function countStoredReadings(db: SqlQueryable, q: { devices: readonly { id: string }[]; metrics: readonly string[]; from: number; to: number }): Promise<number> {
  let n = 0
  for (let i = 0; i < q.devices.length; i += DEVICE_CHUNK) {
    const { rows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n ${TELEMETRY_RANGE}`, [q.devices.slice(i, i + DEVICE_CHUNK).map((d) => d.id), q.metrics, q.from, q.to])
    n += Number(rows[0]?.n ?? 0)
  }
  return n
}

/** Stored telemetry as readings, in time order, one slice of `sliceMs` at a time: what a replay or a recomputation runs the indicators over. */
export async function* storedReadings(db: SqlQueryable, q: { devices: readonly { id: string; domain: string }[]; metrics: readonly string[]; from: number; to: number; sliceMs?: number; maxRows?: number }): AsyncGenerator<Reading[]> {
  const slice = q.sliceMs ?? 3_600_000
  const domains = new Map(q.devices.map((d) => [d.id, d.domain]))
  const ids = [...domains.keys()]
  let left = q.maxRows ?? Number.POSITIVE_INFINITY
  if (ids.length === 0 || q.metrics.length === 0) return
  for (let start = q.from; start < q.to && left > 0; start += slice) {
    const end = Math.min(start + slice, q.to)
    const out: Reading[] = []
    for (let i = 0; i < ids.length; i += DEVICE_CHUNK) {
      const { rows } = await db.query<{ t: string | number; r: string | number; device_id: string; metric: string; value: number; quality: number; seq: string | null; flags: number }>(
        `SELECT (extract(epoch FROM time) * 1000)::bigint AS t, (extract(epoch FROM received_at) * 1000)::bigint AS r, device_id, metric, value, quality, seq, flags ${TELEMETRY_RANGE}`,
        [ids.slice(i, i + DEVICE_CHUNK), q.metrics, start, end],
      )
      for (const row of rows) {
        out.push({ time: Number(row.t), receivedAt: Number(row.r), deviceId: row.device_id, domain: domains.get(row.device_id) ?? '', metric: row.metric, value: Number(row.value), quality: Number(row.quality), seq: row.seq === null ? -1 : Number(row.seq), flags: Number(row.flags) })
      }
    }
    out.sort((a, b) => a.time - b.time)
    if (out.length > left) out.length = left
    left -= out.length
    if (out.length > 0) yield out
  }
}

import type { SqlQueryable } from '../rollup/sql.ts'
import type { SeqGap, SequenceTracker } from './sequence-tracker.ts'

/**
 * Persists the gap ledger to `sequence_gaps` so operators can query it in SQL.
 * Only devices whose gaps changed are written, in one statement per flush:
 * their rows are replaced by their current open gaps.
 */
export class SequenceGapStore {
  constructor(private readonly db: SqlQueryable) {}

  /** Writes what changed since the last flush. On failure the devices stay changed and the error is thrown. */
  async flush(tracker: SequenceTracker): Promise<number> {
    const changed = tracker.takeChanged()
    if (changed.size === 0) return 0
    const devices = [...changed.keys()]
    const gaps = [...changed.values()].flat()
    try {
      await this.db.query(
        `WITH incoming AS (
           SELECT * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[], $6::float8[])
             AS g(device_id, seq_from, seq_to, after_ms, before_ms)
         ), removed AS (
           DELETE FROM sequence_gaps s
           WHERE s.device_id = ANY($1::text[])
             AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.device_id = s.device_id AND i.seq_from = s.seq_from)
         )
         INSERT INTO sequence_gaps (device_id, seq_from, seq_to, after_time, before_time, updated_at)
         SELECT device_id, seq_from, seq_to,
                to_timestamp(NULLIF(after_ms, 'NaN') / 1000.0), to_timestamp(NULLIF(before_ms, 'NaN') / 1000.0), now()
         FROM incoming
         ON CONFLICT (device_id, seq_from) DO UPDATE SET seq_to = EXCLUDED.seq_to, updated_at = now()
           WHERE sequence_gaps.seq_to IS DISTINCT FROM EXCLUDED.seq_to`,
        [devices, gaps.map((g) => g.deviceId), gaps.map((g) => g.from), gaps.map((g) => g.to), gaps.map((g) => g.after), gaps.map((g) => g.before)],
      )
    } catch (error) {
      tracker.markChanged(devices)
      throw error
    }
    return devices.length
  }

  /** Every persisted open gap, for `SequenceTracker.restore` at start. */
  async load(): Promise<SeqGap[]> {
    const { rows } = await this.db.query<{ device_id: string; seq_from: string; seq_to: string; after_ms: number | null; before_ms: number | null }>(
      `SELECT device_id, seq_from, seq_to,
              extract(epoch FROM after_time) * 1000 AS after_ms, extract(epoch FROM before_time) * 1000 AS before_ms
       FROM sequence_gaps ORDER BY device_id, seq_from`,
    )
    return rows.map((r) => ({
      deviceId: r.device_id,
      from: Number(r.seq_from),
      to: Number(r.seq_to),
      after: r.after_ms === null ? Number.NaN : Number(r.after_ms),
      before: r.before_ms === null ? Number.NaN : Number(r.before_ms),
    }))
  }
}

/**
 * Flushes changed gaps every `intervalMs` until the returned function is
 * called; that final call flushes once more. Failures go to `onError` and
 * are retried at the next tick.
 */
export function persistGapsPeriodically(tracker: SequenceTracker, store: SequenceGapStore, intervalMs: number, onError: (error: unknown) => void): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve()
  const tick = () => {
    running = running.then(() => store.flush(tracker)).catch(onError)
    return running
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await tick()
  }
}

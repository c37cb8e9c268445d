import pg, { type Pool } from 'pg'
import { TEST_PASSWORD } from '../../testing/index.ts'

// Shared by this folder's integration tests: a Basic login, what a write left
// in the telemetry and rejected tables, and a lock that holds commits back.

/** `Authorization: Basic` for a login (TEST_PASSWORD unless given). */
export const basic = (user: string, password = TEST_PASSWORD): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** The device's telemetry rows, by time and metric. */
export async function telemetryRows(pool: Pool, deviceId: string): Promise<{ metric: string; time: number; value: number }[]> {
  return (await telemetryRowsWithSeq(pool, deviceId)).map(({ metric, time, value }) => ({ metric, time, value }))
}

/** The same, with each row's seq (null when the reading had none). */
export async function telemetryRowsWithSeq(pool: Pool, deviceId: string): Promise<{ metric: string; time: number; value: number; seq: number | null }[]> {
  const { rows } = await pool.query<{ metric: string; time: Date; value: number; seq: string | null }>('SELECT metric, time, value, seq FROM telemetry WHERE device_id = $1 ORDER BY time, metric', [deviceId])
  return rows.map((r) => ({ metric: r.metric, time: r.time.getTime(), value: Number(r.value), seq: r.seq === null ? null : Number(r.seq) }))
}

/** The dead letters of a reason for a device (null: refused before any device was known), oldest first. */
export async function deadLetters(pool: Pool, deviceId: string | null, reason: string): Promise<{ detail: string; topic: string }[]> {
  const { rows } = await pool.query<{ detail: string; topic: string }>('SELECT detail, topic FROM rejected WHERE reason = $1 AND device_id IS NOT DISTINCT FROM $2 ORDER BY id', [reason, deviceId])
  return rows
}

/** Holds `table` in an ACCESS EXCLUSIVE lock from a connection of its own, so no commit to it completes; resolves with the release (idempotent). */
export async function lockTable(databaseUrl: string, table: string): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: databaseUrl })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
  let released = false
  return async () => {
    if (released) return
    released = true
    await locker.query('ROLLBACK')
    await locker.end()
  }
}

import { type TestDatabase, createMigratedTestDatabase } from '../../../test/support.ts'

/** A fresh database with the full schema (telemetry, then the processors' migrations). */
export const migratedTestDatabase = createMigratedTestDatabase

/** Inserts committed telemetry rows directly, as the writer would have. */
export async function insertTelemetry(db: TestDatabase, rows: { time: number; deviceId: string; metric: string; value: number; quality?: number }[]): Promise<void> {
  await db.pool.query(
    `INSERT INTO telemetry (time, device_id, metric, value, quality)
     SELECT to_timestamp(t / 1000.0), d, m, v, q FROM unnest($1::float8[], $2::text[], $3::text[], $4::float8[], $5::smallint[]) AS u(t, d, m, v, q)`,
    [rows.map((r) => r.time), rows.map((r) => r.deviceId), rows.map((r) => r.metric), rows.map((r) => r.value), rows.map((r) => r.quality ?? 0)],
  )
}

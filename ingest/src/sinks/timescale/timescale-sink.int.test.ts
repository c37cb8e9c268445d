import pg from 'pg'
import { createMigratedTestDatabase, silentLogger } from '../../../../test/support.ts'
import { type StoredRow, sinkConformance } from '../conformance.ts'
import { TimescaleSink } from './timescale-sink.ts'

sinkConformance('timescale', async () => {
  const db = await createMigratedTestDatabase()
  const pool = new pg.Pool({ connectionString: db.url, max: 4 })
  return {
    sink: new TimescaleSink(pool, silentLogger(), { rejectedPayloadMaxBytes: 4096 }),
    async stored(deviceId) {
      const { rows } = await db.pool.query<{ metric: string; t: string; value: number; quality: number; seq: string | null }>(
        'SELECT metric, (extract(epoch FROM time) * 1000)::bigint AS t, value, quality, seq FROM telemetry WHERE device_id = $1', [deviceId])
      return rows.map((r): StoredRow => ({ deviceId, metric: r.metric, time: Number(r.t), value: r.value, quality: r.quality, seq: r.seq === null ? null : Number(r.seq) }))
    },
    async deadLetters(deviceId) {
      const { rows } = await db.pool.query<{ reason: string }>('SELECT reason FROM rejected WHERE device_id = $1 OR client_id = $1 ORDER BY id', [deviceId])
      return rows.map((r) => r.reason)
    },
    async refuseValue(value) {
      // A constraint the wire contract does not know about stands in for any data error.
      await db.pool.query(`ALTER TABLE telemetry ADD CONSTRAINT conformance_refuse CHECK (value <> ${value})`)
      return async () => { await db.pool.query('ALTER TABLE telemetry DROP CONSTRAINT conformance_refuse') }
    },
    async cleanup() {
      await pool.end()
      await db.drop()
    },
  }
}, { primary: true })

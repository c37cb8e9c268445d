import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import pg from 'pg'
import { createLogger, type Logger } from '@gridline/core'
import { type IngestConfig, type StorageOptions, ingestConfig, migrate, pgSqlClient } from '@gridline/ingest'

export interface TestDatabase {
  url: string
  name: string
  /** A pool on the database, for assertions. */
  pool: pg.Pool
  drop(): Promise<void>
}

/** A fresh, empty database for one test file, on the machine's PostgreSQL (see global-setup). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('databaseAdminUrl')
  const name = `gridline_test_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  // Named so tests that cut the service's connections can spare the test's own.
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4, application_name: 'test-keep' })
  pool.on('error', () => undefined)
  return {
    url: url.toString(),
    name,
    pool,
    async drop() {
      await pool.end()
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await c.end()
    },
  }
}

/** A fresh database with the whole gridline schema (ingest's migrations and the processors'), `storage` as `migrate` takes it. */
export async function createMigratedTestDatabase(storage?: StorageOptions): Promise<TestDatabase> {
  const db = await createTestDatabase()
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

/** A logger that drops everything (tests assert on behaviour and metrics, not log lines). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' })
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`)
}

/**
 * A folder of the recorded data sets (`../shared/datasets`, never copied into
 * the repository): GRIDLINE_DATASETS, else next to the checkout, else the
 * workplace's copy. Missing data fails the test rather than skipping it.
 */
export function datasetPath(name: string): string {
  const candidates = [
    process.env.GRIDLINE_DATASETS,
    fileURLToPath(new URL('../../shared/datasets', import.meta.url)),
    '/work/shared/datasets',
  ].filter((c): c is string => typeof c === 'string' && c.length > 0)
  for (const root of candidates) {
    const path = join(root, name)
    if (existsSync(path)) return path
  }
  throw new Error(`Data set ${name} not found in ${candidates.join(', ')}; set GRIDLINE_DATASETS to the datasets folder.`)
}

const dataDirs: string[] = []
process.once('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * A fresh folder under the OS's temporary folder for one service's files
 * (console.dataDir: Node-RED's flows), removed when the test process exits.
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
 * Every test that builds a service uses this (ingest/src/test-isolation.test.ts checks).
 */
export function testIngestConfig(overrides: Record<string, unknown> = {}): IngestConfig {
  const consoleOverrides = (overrides.console ?? {}) as Record<string, unknown>
  return ingestConfig({ ...overrides, console: { dataDir: testDataDir(), ...consoleOverrides } })
}

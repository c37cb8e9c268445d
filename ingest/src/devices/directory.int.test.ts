import pg from 'pg'
import { afterAll, beforeAll, expect, test, vi } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase, silentLogger } from '../../../test/support.ts'
import { pgSqlClient } from '../storage/sql-client.ts'
import { DeviceStore } from './device-store.ts'
import { LiveDeviceDirectory } from './directory.ts'

// Counts the scrypt checks the directory runs (the real ones still run).
const checks = vi.hoisted(() => ({ count: 0 }))
vi.mock('./passwords.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./passwords.ts')>()
  return {
    ...real,
    verifyPassword: (password: string, stored: string) => {
      checks.count++
      return real.verifyPassword(password, stored)
    },
  }
})

const PASSWORD = 'correct horse battery staple'
let db: TestDatabase
let pool: pg.Pool
let directory: LiveDeviceDirectory

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  await new DeviceStore(pgSqlClient(db.pool)).add({ id: 'aq-1', domain: 'environment', password: PASSWORD })
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  directory = new LiveDeviceDirectory(pool, db.url, silentLogger())
  await directory.start()
})

afterAll(async () => {
  await directory?.stop()
  await pool?.end()
  await db?.drop()
})

test('only the secret that last verified skips scrypt; a wrong one and an unknown id each cost a full check', async () => {
  const scrypts = async (id: string, password: string) => {
    const before = checks.count
    const device = await directory.authenticate(id, password)
    return { ok: device !== undefined, scrypt: checks.count - before }
  }
  expect(await scrypts('aq-1', PASSWORD)).toEqual({ ok: true, scrypt: 1 })
  expect(await scrypts('aq-1', PASSWORD)).toEqual({ ok: true, scrypt: 0 })
  // Before the fix a wrong guess against a cached device was one SHA-256: 7,741 guesses/s.
  expect(await scrypts('aq-1', 'a wrong guess')).toEqual({ ok: false, scrypt: 1 })
  expect(await scrypts('aq-1', PASSWORD)).toEqual({ ok: true, scrypt: 0 })
  expect(await scrypts('nobody', 'a wrong guess')).toEqual({ ok: false, scrypt: 1 })
})

import { type AddressInfo, createServer } from 'node:net'
import { Writable } from 'node:stream'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { GridlineError, createLogger } from '@gridline/core'
import { type TestDatabase, createMigratedTestDatabase, startTestService } from '@gridline/ingest/testing'
import { silentLogger, waitFor } from '../../../test/support.ts'
import { INSTANCE_LOCK_KEY, InstanceLock } from './instance-lock.ts'

// One ingest process per database (docs/adr/0001-multiple-ingest-processes.md):
// a second one is refused before it listens, or with `warn` runs and says so.

let db: TestDatabase

beforeAll(async () => {
  db = await createMigratedTestDatabase()
})

afterAll(async () => {
  await db?.drop()
})

async function lockHolders(): Promise<string[]> {
  const { rows } = await db.pool.query<{ application_name: string }>(
    `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted AND a.datname = current_database()`,
    [INSTANCE_LOCK_KEY],
  )
  return rows.map((r) => r.application_name)
}

/** A logger whose error lines are kept, to assert the warning is loud. */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; errors: string[] } {
  const errors: string[] = []
  const destination = new Writable({ write(chunk, _encoding, done) { errors.push(String(chunk)); done() } })
  const logger = createLogger({ level: 'error', destination })
  return { logger, errors }
}

describe('the one-ingest-process lock', () => {
  test('a second lock on the same database is refused with GRIDLINE_SECOND_INSTANCE naming the holder', async () => {
    const first = await InstanceLock.acquire(db.url, 'refuse', silentLogger())
    try {
      expect(first.isHeld).toBe(true)
      const holders = await lockHolders()
      expect(holders).toHaveLength(1)
      expect(holders[0]).toMatch(new RegExp(`^gridline-ingest .+ pid ${process.pid}$`))
      const refused = await InstanceLock.acquire(db.url, 'refuse', silentLogger()).then(() => null, (err: unknown) => err)
      expect(refused).toBeInstanceOf(GridlineError)
      expect((refused as GridlineError).code).toBe('GRIDLINE_SECOND_INSTANCE')
      expect((refused as GridlineError).message).toContain(`pid ${process.pid}`)
      expect((refused as GridlineError).message).toContain('docs/operations.md#one-ingest-process-per-database')
      // The refused attempt let go of its connection: still one holder.
      expect(await lockHolders()).toHaveLength(1)
    } finally {
      await first.release()
    }
    expect(await lockHolders()).toEqual([])
  })

  test('with warn, the second runs, logs an error, and takes the lock once the first lets go', async () => {
    const first = await InstanceLock.acquire(db.url, 'refuse', silentLogger())
    const { logger, errors } = recordingLogger()
    const second = await InstanceLock.acquire(db.url, 'warn', logger, 50)
    try {
      expect(second.isHeld).toBe(false)
      expect(errors.join('\n')).toContain('GRIDLINE_SECOND_INSTANCE')
      await first.release()
      await waitFor(() => second.isHeld, 5_000, 'the second process to take the lock')
      expect(await lockHolders()).toHaveLength(1)
    } finally {
      await first.release()
      await second.release()
    }
  })

  test('a lost session is noticed and the lock taken again', async () => {
    const lock = await InstanceLock.acquire(db.url, 'refuse', silentLogger(), 50)
    try {
      const admin = new pg.Client({ connectionString: db.url })
      await admin.connect()
      await admin.query(`SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted`, [INSTANCE_LOCK_KEY])
      await admin.end()
      await waitFor(() => !lock.isHeld, 5_000, 'the lost session to be noticed')
      await waitFor(() => lock.isHeld, 5_000, 'the lock to be taken again')
      expect(await lockHolders()).toHaveLength(1)
    } finally {
      await lock.release()
    }
  })

  test('release is idempotent', async () => {
    const lock = await InstanceLock.acquire(db.url, 'refuse', silentLogger())
    await lock.release()
    await lock.release()
    expect(await lockHolders()).toEqual([])
  })
})

describe('the ingest service', () => {
  test('a second service on the same database refuses to start with GRIDLINE_SECOND_INSTANCE', async () => {
    const first = await startTestService({ database: db })
    try {
      const refused = await startTestService({ database: db }).then(() => null, (err: unknown) => err)
      expect((refused as GridlineError).code).toBe('GRIDLINE_SECOND_INSTANCE')
      expect(await lockHolders()).toHaveLength(1)
    } finally {
      await first.stop()
    }
    expect(await lockHolders()).toEqual([])
  })

  test('with processors.onSecondInstance: warn the second starts and logs the error', async () => {
    const first = await startTestService({ database: db })
    const { logger, errors } = recordingLogger()
    try {
      const second = await startTestService({ database: db, config: { processors: { onSecondInstance: 'warn' } }, logger })
      expect(second.mqttPort).toBeGreaterThan(0)
      expect(errors.some((l) => l.includes('GRIDLINE_SECOND_INSTANCE'))).toBe(true)
      await second.stop()
    } finally {
      await first.stop()
    }
  })

  test('a service whose start fails after taking the lock lets go of it', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const failed = await startTestService({ database: db, config: { http: { port } } }).then(() => null, (err: unknown) => err)
      expect((failed as GridlineError).code).toBe('GRIDLINE_PORT_IN_USE')
      expect(await lockHolders()).toEqual([])
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })

  test('a service that stopped lets the next one start on the same database', async () => {
    const first = await startTestService({ database: db })
    await first.stop()
    const next = await startTestService({ database: db })
    expect(await lockHolders()).toHaveLength(1)
    await next.stop()
  })
})

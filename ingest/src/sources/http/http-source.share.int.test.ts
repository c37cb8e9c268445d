import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { TEST_PASSWORD, type TestService, startTestService } from '../../testing/index.ts'

// A login's share of uncommitted rows (ingest.maxPendingRowsPerConnection)
// over HTTP: a write past it waits for room, as the broker stops reading a
// connection, and gets 429 with Retry-After only after shareWaitMs. Before
// this, the third 5,000-line body of a Telegraf-shaped load (4 connections,
// one token) got 429 at once and was dropped by the bench's client.

let t: TestService
beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'aq-1', domain: 'environment' }],
    config: {
      ingest: { maxPendingRowsPerConnection: 2 },
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, shareWaitMs: 1_500 } },
    },
  })
})
afterAll(async () => {
  await t?.stop()
})

const auth = `Basic ${Buffer.from(`aq-1:${TEST_PASSWORD}`).toString('base64')}`
const write = (lines: string) => fetch(`${t.sourceUrl('http')}/write?precision=ms`, { method: 'POST', body: lines, headers: { Authorization: auth } })

async function lock(): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: t.db.url })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE telemetry IN ACCESS EXCLUSIVE MODE')
  return async () => {
    await locker.query('ROLLBACK')
    await locker.end()
  }
}

test('a write past the login\'s share waits for the earlier ones to commit, then is stored', async () => {
  const unlock = await lock()
  const first = write('env,device=aq-1 pm25=1,temperature=20 1764986400000')
  await new Promise((resolve) => setTimeout(resolve, 200))
  let secondAnswered = false
  const second = write('env,device=aq-1 pm25=2 1764986401000').then((r) => { secondAnswered = true; return r })
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(secondAnswered).toBe(false)
  await unlock()
  expect((await first).status).toBe(204)
  expect((await second).status).toBe(204)
  const { rows } = await t.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'aq-1'")
  expect(rows[0]!.n).toBe(3)
})

test('one that finds no room within shareWaitMs gets 429 with Retry-After, and is not stored', async () => {
  const unlock = await lock()
  try {
    const first = write('env,device=aq-1 pm25=3,temperature=21 1764986402000')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = Date.now()
    const second = await write('env,device=aq-1 pm25=4 1764986403000')
    expect(second.status).toBe(429)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_200)
    expect(second.headers.get('retry-after')).toBe('1')
    expect(await second.json()).toEqual({ error: expect.stringContaining('rows waiting for their commit') })
    await unlock()
    expect((await first).status).toBe(204)
  } finally {
    await unlock().catch(() => undefined)
  }
  const { rows } = await t.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'aq-1' AND value = 4")
  expect(rows[0]!.n).toBe(0)
})

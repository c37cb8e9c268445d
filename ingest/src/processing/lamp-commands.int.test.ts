import type { Envelope } from '@gridline/core'
import type { IndicatorEvent } from '@gridline/processors'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase, silentLogger, waitFor } from '../../../test/support.ts'
import { COMMAND_MIGRATIONS } from '../commands/migrations.ts'
import { ingestConfig } from '../config.ts'
import { ProcessorHost } from './processor-host.ts'

// Lamps that meter power only (no lamp_on): the lighting indicators judge them by their
// confirmed commands, those stored before the start (device_commands) and those that settle live.

const MIN = 60_000
const NIGHT = Date.parse('2026-01-10T21:00:00+07:00')
let db: TestDatabase
let host: ProcessorHost
const events: IndicatorEvent[] = []

/** A committed message of one device's power readings (time, W), as the pipeline hands it on. */
const committed = (deviceId: string, readings: [number, number][]): Envelope => ({
  decoded: { rows: { data: readings.flatMap(([time, watts]) => [time, deviceId, 'power', watts, 0, -1, 0]) }, domain: 'lighting' },
  receivedAt: readings.at(-1)![0],
}) as unknown as Envelope

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  const { rows: applied } = await db.pool.query('SELECT version FROM gridline_migrations')
  for (const m of COMMAND_MIGRATIONS) if (!applied.some((r) => r.version === m.version)) await db.pool.query(m.sql)
  const insert = (id: string, deviceId: string, action: string, params: object, at: number) => db.pool.query(
    `INSERT INTO device_commands (id, device_id, domain, action, params, status, username, sent_at, replied_at)
     VALUES ($1, $2, 'lighting', $3, $4, 'ok', 'op', to_timestamp($5 / 1000.0), to_timestamp($5 / 1000.0 + 0.5))`,
    [id, deviceId, action, JSON.stringify(params), at])
  // lamp-off: switched off at 20:00 and left so. lamp-back: switched off, later handed back to its schedule.
  await insert('00000000-0000-4000-8000-000000000001', 'lamp-off', 'switch', { on: false }, NIGHT - 60 * MIN)
  await insert('00000000-0000-4000-8000-000000000002', 'lamp-back', 'switch', { on: false }, NIGHT - 60 * MIN)
  await insert('00000000-0000-4000-8000-000000000003', 'lamp-back', 'schedule', {}, NIGHT - 30 * MIN)
  // A failed command changed nothing on the lamp.
  await db.pool.query(`INSERT INTO device_commands (id, device_id, domain, action, params, status, username, sent_at)
    VALUES ('00000000-0000-4000-8000-000000000004', 'lamp-back', 'lighting', 'switch', '{"on": false}', 'timeout', 'op', to_timestamp($1 / 1000.0))`, [NIGHT - 10 * MIN])
  const config = ingestConfig({ processors: { indicators: { history: { enabled: false } }, alarms: { enabled: false }, rollups: { enabled: false } } }).processors
  host = new ProcessorHost(config, { pool: db.pool, directory: null, logger: silentLogger() })
  host.hub.subscribe({ name: 'test', kinds: ['indicator'] }, (event) => { if (event.kind === 'indicator' && event.name === 'lamp_failure') events.push(event) })
  await host.start()
})

afterAll(async () => {
  await host?.stop()
  await db?.drop()
})

test('a lamp switched off by a command stored before the start is not failed at night; one handed back to its schedule is', async () => {
  const dark: [number, number][] = [[NIGHT, 121], ...[1, 2, 3, 4, 5].map((m): [number, number] => [NIGHT + m * MIN, 0])]
  host.onCommitted([committed('lamp-off', dark), committed('lamp-back', dark)])
  await waitFor(() => events.some((e) => e.key === 'lamp-back'), 5_000, 'lamp-back failed')
  expect(events.map((e) => [e.key, e.value])).toEqual([['lamp-back', 1]])
})

test('a switch command that settles live is followed from its confirmation', async () => {
  host.onCommand({
    id: '00000000-0000-4000-8000-000000000005', deviceId: 'lamp-off', domain: 'lighting', action: 'switch', params: { on: true },
    status: 'ok', detail: null, user: 'op', sentAt: NIGHT + 10 * MIN, repliedAt: NIGHT + 10 * MIN + 500,
  })
  // Not confirmed: changes nothing.
  host.onCommand({
    id: '00000000-0000-4000-8000-000000000006', deviceId: 'lamp-off', domain: 'lighting', action: 'switch', params: { on: false },
    status: 'rejected', detail: 'busy', user: 'op', sentAt: NIGHT + 10 * MIN, repliedAt: NIGHT + 10 * MIN + 700,
  })
  host.onCommitted([committed('lamp-off', [[NIGHT + 11 * MIN, 0], [NIGHT + 12 * MIN, 0]])])
  await waitFor(() => events.some((e) => e.key === 'lamp-off'), 5_000, 'lamp-off failed')
  expect(events.filter((e) => e.key === 'lamp-off')).toMatchObject([{ value: 1, time: NIGHT + 12 * MIN, details: { switchedOn: true } }])
})

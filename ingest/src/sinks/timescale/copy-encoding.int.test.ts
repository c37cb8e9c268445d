import fc from 'fast-check'
import { Rows } from '@gridline/processors'
import { MAX_TIMESTAMP_MS } from '@gridline/schemas'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase } from '../../../../test/support.ts'
import type { Envelope } from '../../pipeline/envelope.ts'
import { TELEMETRY_COPY_COLUMNS, encodeTelemetry, encodeTelemetryBinary } from './copy-encoding.ts'

let db: TestDatabase
let client: pg.Client

beforeAll(async () => {
  db = await createTestDatabase()
  client = new pg.Client({ connectionString: db.url })
  await client.connect()
  for (const table of ['from_text', 'from_binary']) {
    await client.query(`CREATE TABLE ${table} (time timestamptz, device_id text, metric text, value double precision,
      quality smallint, seq bigint, received_at timestamptz, flags smallint)`)
  }
})

afterAll(async () => {
  await client?.end()
  await db?.drop()
})

async function copy(table: string, data: string | Buffer, binary: boolean): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${TELEMETRY_COPY_COLUMNS}) FROM STDIN${binary ? ' WITH (FORMAT binary)' : ''}`))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    stream.end(data)
  })
}

const row = fc.record({
  time: fc.oneof(fc.integer({ min: 0, max: MAX_TIMESTAMP_MS }), fc.constantFrom(0, 946_684_800_000, 946_684_799_999, MAX_TIMESTAMP_MS, Date.parse('2026-11-28T03:00:00Z'))),
  deviceId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  metric: fc.stringMatching(/^[a-z][a-z0-9_]{0,63}$/),
  // The decoder turns -0 into 0 before rows reach an encoder.
  value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(0, 1, 5e-324, 1.7976931348623157e308)).map((v) => (v === 0 ? 0 : v)),
  quality: fc.integer({ min: 0, max: 3 }),
  seq: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER)),
  flags: fc.integer({ min: 0, max: 3 }),
})

test('the binary COPY encoding stores exactly what the text encoding stores', async () => {
  const samples = fc.sample(fc.array(row, { minLength: 1, maxLength: 40 }), 60)
  let envelopes: Envelope[] = []
  for (const [n, rows] of samples.entries()) {
    const decoded = new Rows()
    for (const r of rows) decoded.push(r.time, r.deviceId, r.metric, r.value, r.quality, r.seq, r.flags)
    envelopes.push({ receivedAt: Date.parse('2026-11-28T03:00:00Z') + n * 977, decoded: { rows: decoded } } as Envelope)
  }
  envelopes = [...envelopes, { receivedAt: 0, decoded: { rows: new Rows() } } as Envelope]
  await copy('from_text', encodeTelemetry(envelopes), false)
  await copy('from_binary', encodeTelemetryBinary(envelopes), true)
  const text = await client.query(`SELECT ${TELEMETRY_COPY_COLUMNS}, value::text AS exact FROM from_text ORDER BY 1, 2, 3, 4, 6`)
  const binary = await client.query(`SELECT ${TELEMETRY_COPY_COLUMNS}, value::text AS exact FROM from_binary ORDER BY 1, 2, 3, 4, 6`)
  expect(binary.rows.length).toBe(samples.reduce((n, s) => n + s.length, 0))
  expect(binary.rows).toEqual(text.rows)
})

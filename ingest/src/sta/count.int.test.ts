import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

// $count as FROST-Server's countMode ESTIMATE_LIMIT, in the real service: the planner's
// estimate first; a set estimated above sta.maxExactCount is not counted row by row
// (the estimate, marked X-Sta-Count-Estimated), a smaller one is counted exactly.

let t: TestService
let sta: string
let id: number
const T0 = Date.parse('2026-12-01T00:00:00Z')

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'aq-1', domain: 'environment' }],
    config: { sta: { datastreamFlushMs: 100, maxExactCount: 50 } },
  })
  sta = `${t.httpUrl}/sta/v1.1`
  const client = await t.connect('aq-1')
  // 400 readings a minute apart, in 4 messages of 100.
  for (let m = 0; m < 4; m++) {
    const readings = Array.from({ length: 100 }, (_, i) => ({ ts: new Date(T0 + (m * 100 + i) * 60_000).toISOString(), seq: m * 100 + i + 1, values: { pm25: (m * 100 + i) % 40 } }))
    await client.publishAsync('telemetry/environment/aq-1', JSON.stringify(readings), { qos: 1 })
  }
  await client.endAsync()
  await waitFor(async () => (await t.db.pool.query(`SELECT count(*)::int AS n FROM sta_datastreams WHERE device_id = 'aq-1'`)).rows[0].n >= 1, 10_000, 'datastream tracked')
  id = Number((await t.db.pool.query(`SELECT id FROM sta_datastreams WHERE device_id = 'aq-1' AND metric = 'pm25'`)).rows[0].id)
  // The statistics autovacuum would gather on a real table.
  await t.db.pool.query('ANALYZE telemetry')
})

afterAll(async () => {
  await t?.stop()
})

test('a set the planner puts above maxExactCount gets its estimate, marked, not a count', async () => {
  const res = await fetch(`${sta}/Datastreams(${id})/Observations?$count=true&$top=2`)
  const body = await res.json() as { '@iot.count': number; value: unknown[] }
  expect(res.status).toBe(200)
  expect(res.headers.get('x-sta-count-estimated')).toBe('true')
  expect(body['@iot.count']).toBeGreaterThan(50)
  // The planner's figure from the statistics: the 400 stored, within the planner's usual error.
  expect(body['@iot.count']).toBeGreaterThan(100)
  expect(body['@iot.count']).toBeLessThan(4_000)
  expect(body.value).toHaveLength(2)
})

test('a set the planner puts at or below maxExactCount is counted exactly', async () => {
  // pm25 = 0 on every 40th reading: 10 of 400.
  const res = await fetch(`${sta}/Datastreams(${id})/Observations?$count=true&$top=1&$filter=${encodeURIComponent('result eq 0')}`)
  const body = await res.json() as { '@iot.count': number }
  expect(res.status).toBe(200)
  expect(res.headers.get('x-sta-count-estimated')).toBeNull()
  expect(body['@iot.count']).toBe(10)
})

test('an empty set counts 0 exactly', async () => {
  const res = await fetch(`${sta}/Datastreams(${id})/Observations?$count=true&$filter=${encodeURIComponent('result gt 1000')}`)
  const body = await res.json() as { '@iot.count': number; value: unknown[] }
  expect(res.headers.get('x-sta-count-estimated')).toBeNull()
  expect(body['@iot.count']).toBe(0)
  expect(body.value).toEqual([])
})

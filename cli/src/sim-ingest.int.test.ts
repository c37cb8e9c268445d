import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { waitFor } from '../../test/support.ts'
import { MALFORMED_VARIANTS, type DeviceSpec, Simulator } from '@gridline/firmware-sim'

let t: TestService
let db: TestDatabase
let url: string
const simulators: Simulator[] = []

const devices: DeviceSpec[] = [
  { id: 'sim-traffic-1', kind: 'traffic_counter', password: 'pw-traffic-1' },
  { id: 'sim-pump-1', kind: 'pump', password: 'pw-pump-1' },
  { id: 'sim-lamp-1', kind: 'street_light', password: 'pw-lamp-1' },
  { id: 'sim-river-1', kind: 'river_gauge', password: 'pw-river-1' },
]

beforeAll(async () => {
  const domains: Record<string, string> = { traffic_counter: 'traffic', pump: 'water', street_light: 'lighting', river_gauge: 'environment' }
  t = await startTestService({
    devices: [
      ...devices.map((d) => ({ id: d.id, domain: domains[d.kind!]!, password: d.password! })),
      { id: 'sim-aq-bad', domain: 'environment', password: 'pw-bad' },
    ],
    config: { ingest: { flushIntervalMs: 5 } },
  })
  ;({ db, mqttUrl: url } = t)
})

afterAll(async () => {
  await Promise.all(simulators.map((s) => s.stop()))
  await t?.stop()
})

test('simulated devices log in with their own credentials and their readings land in telemetry', async () => {
  const sim = new Simulator({ url, devices, intervalMs: 100 })
  simulators.push(sim)
  await sim.start()
  await sim.allConnected(10_000)
  await waitFor(async () => {
    const { rows } = await db.pool.query('SELECT count(DISTINCT device_id) AS n FROM telemetry')
    return Number(rows[0].n) === devices.length
  }, 10_000, 'rows from every device')
  const { rows } = await db.pool.query(`SELECT device_id, metric FROM telemetry GROUP BY device_id, metric ORDER BY device_id, metric`)
  const metrics = (id: string) => rows.filter((r) => r.device_id === id).map((r) => r.metric)
  expect(metrics('sim-lamp-1')).toEqual(['dim_level', 'energy', 'lamp_fault', 'lamp_on', 'power', 'voltage'])
  expect(metrics('sim-pump-1')).toEqual(['flow', 'pressure', 'pump_on'])
  expect(metrics('sim-river-1')).toEqual(['rainfall', 'water_level'])
  // Every catalogued value is in range: quality 0.
  const bad = await db.pool.query(`SELECT count(*) AS n FROM telemetry WHERE quality <> 0`)
  expect(Number(bad.rows[0].n)).toBe(0)
  const telemetryRejects = await db.pool.query(`SELECT count(*) AS n FROM rejected WHERE topic LIKE 'telemetry/%'`)
  expect(Number(telemetryRejects.rows[0].n)).toBe(0)
  expect(sim.stats.authFailures).toBe(0)
})

test('malformed-payload faults are refused by the ingest service with their reasons', async () => {
  const sim = new Simulator({ url, devices: [{ id: 'sim-aq-bad', kind: 'air_quality', password: 'pw-bad' }], intervalMs: 20, faults: { malformed: 1 }, seed: 3 })
  simulators.push(sim)
  await sim.start()
  await sim.allConnected(10_000)
  await waitFor(() => sim.stats.acknowledged >= 40, 10_000, '40 acknowledged messages')
  const { rows } = await db.pool.query(`SELECT DISTINCT reason FROM rejected WHERE device_id = 'sim-aq-bad' AND topic LIKE 'telemetry/%'`)
  const reasons = rows.map((r) => r.reason as string)
  expect(reasons.length).toBeGreaterThan(2)
  for (const reason of reasons) expect(MALFORMED_VARIANTS).toContain(reason)
  const stored = await db.pool.query(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'sim-aq-bad'`)
  expect(Number(stored.rows[0].n)).toBe(0)
})

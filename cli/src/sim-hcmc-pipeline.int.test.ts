import { fileURLToPath } from 'node:url'
import type { IngestService } from '@gridline/ingest'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import type { IndicatorEvent, Reading } from '@gridline/processors'
import { independentHourlyVnAqi } from '@gridline/processors/testing'
import { Quality } from '@gridline/schemas'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { datasetPath, waitFor } from '../../test/support.ts'
import { loadDataset, loadMapping, Replayer } from '@gridline/firmware-sim/replay'

// Proof on real data, end to end: the whole Nha Be recording (README.txt of
// 01_hcmc_nhabe_sensor_community) replayed by the simulator over MQTT into the
// real ingest service with its default processors. What is stored must carry
// the flags a careful person would set, and the hourly VN_AQI the service
// computes must match an independent calculation from the stored rows.

const DEVICE = 'hcmc-nhabe-esp8266-12779556'
const PASSWORD = 'replay-password'
let t: TestService
let db: TestDatabase
let service: IngestService
const indicators: IndicatorEvent[] = []

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: DEVICE, domain: 'environment', password: PASSWORD, metadata: { district: 'Nhà Bè' } }],
    config: {
      // The service's default group commit, not the kit's 2 ms.
      ingest: { flushIntervalMs: 5 },
      // The recording is from 2018: once it has been replayed, the indicators' idle clock
      // (wall time) passes every window, so the last ones close too.
      processors: { indicators: { idleTickMs: 200, airQuality: { usAqi: false } } },
    },
  })
  ;({ db, service } = t)
  const { mqttPort } = t
  service.processing.hub.subscribe({ name: 'proof', kinds: ['indicator'], metrics: ['vn_aqi_hourly'] }, (event) => {
    if (event.kind === 'indicator' && event.scope === 'device') indicators.push(event)
  })
  const mapping = loadMapping(fileURLToPath(new URL('../../firmware-sim/mappings/01_hcmc_nhabe_sensor_community.yaml', import.meta.url)))
  const dataset = loadDataset(datasetPath('01_hcmc_nhabe_sensor_community'), mapping)
  const result = await new Replayer({
    url: `mqtt://127.0.0.1:${mqttPort}`, dataset, asFastAsPossible: true, passwords: new Map([[DEVICE, PASSWORD]]),
  }).run(120_000)
  // 13,260 rows, two of them without any value (README.txt: ragged rows).
  expect(result.readingsSent).toBe(13_258)
}, 180_000)

afterAll(async () => {
  await t?.stop()
})

test('every recorded row is stored once, and the saturated and stuck values carry their quality', async () => {
  const { rows } = await db.pool.query(`SELECT count(DISTINCT time)::int AS readings,
      count(*) FILTER (WHERE quality = ${Quality.SATURATED})::int AS saturated,
      count(*) FILTER (WHERE quality = ${Quality.STUCK} AND metric = 'humidity')::int AS stuck_humidity
    FROM telemetry WHERE device_id = $1`, [DEVICE])
  // The same figures as the processors' own replay of the file (processors/src/quality/hcmc-replay.test.ts),
  // now through MQTT, the broker, the pipeline and PostgreSQL.
  expect(rows[0]).toEqual({ readings: 13_258, saturated: 3, stuck_humidity: 5_230 })
})

test('the recording\'s gaps are in the gap ledger or visible as time gaps, and nothing is missing by seq', async () => {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM (
      SELECT time - lag(time) OVER (ORDER BY time) AS gap FROM (SELECT DISTINCT time FROM telemetry WHERE device_id = $1) t) g
    WHERE gap > interval '10 minutes'`, [DEVICE])
  expect(rows[0].n).toBe(12)
  // The replay numbered every row, so the seq ledger must be empty: no reading was lost on the way.
  const gaps = await db.pool.query(`SELECT count(*)::int AS n FROM sequence_gaps WHERE device_id = $1`, [DEVICE])
  expect(gaps.rows[0].n).toBe(0)
})

test('hourly VN_AQI from the live service matches an independent calculation from the stored rows', async () => {
  const { rows } = await db.pool.query<{ time: Date; metric: string; value: number; quality: number }>(
    `SELECT time, metric, value, quality FROM telemetry WHERE device_id = $1 AND metric IN ('pm25', 'pm10') ORDER BY time`, [DEVICE])
  const stored: Reading[] = rows.map((r) => ({
    time: r.time.getTime(), receivedAt: 0, deviceId: DEVICE, domain: 'environment', metric: r.metric, value: r.value, quality: r.quality, seq: -1, flags: 0,
  }))
  const expected = independentHourlyVnAqi(stored)
  expect(expected.size).toBeGreaterThan(500)
  // The last hour's window is still open: with no newer reading its watermark advances
  // with the wall clock (allowedLatenessMs after the window's end, in real time).
  const lastHour = Math.max(...expected.keys())
  await waitFor(() => indicators.length >= expected.size - 1, 20_000, 'every closed hour\'s VN_AQI')
  const ours = new Map(indicators.map((e) => [e.time, e.value]))
  expect([...expected.keys()].filter((time) => !ours.has(time))).toEqual(ours.has(lastHour) ? [] : [lastHour])
  const mismatches = [...ours].filter(([time, value]) => expected.get(time) !== value)
  expect(mismatches).toEqual([])
  expect(service.processing.indicators?.stats.late).toBe(0)
})

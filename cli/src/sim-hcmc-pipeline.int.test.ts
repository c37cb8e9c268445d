import { fileURLToPath } from 'node:url'
import type { IngestService } from '@gridline/ingest'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import type { IndicatorEvent, Reading } from '@gridline/processors'
import { independentHourlyVnAqi } from '@gridline/processors/testing'
import { Quality } from '@gridline/schemas'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { datasetPath, waitFor } from '../../test/support.ts'
import { type AirrohrReplayResult, loadAirrohrArchive, loadDataset, loadMapping, replayAirrohr, Replayer } from '@gridline/firmware-sim/replay'

// Proof on real data, end to end: the whole Nha Be recording (README.txt of
// 01_hcmc_nhabe_sensor_community) replayed by the simulator over MQTT into the
// real ingest service with its default processors. What is stored must carry
// the flags a careful person would set, and the hourly VN_AQI the service
// computes must match an independent calculation from the stored rows.
// The same recording is also POSTed over HTTP the way the station's airrohr
// firmware sent it (one POST per row, its headers, string values, no time)
// as a second device: it must store the same readings, each once.

const DEVICE = 'hcmc-nhabe-esp8266-12779556'
const PASSWORD = 'replay-password'
/** The station again, as the firmware's HTTP posts: found by its chip id. */
const HTTP_DEVICE = 'hcmc-nhabe-http'
let posted: AirrohrReplayResult
let postedStarted = 0
let t: TestService
let db: TestDatabase
let service: IngestService
const indicators: IndicatorEvent[] = []

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: DEVICE, domain: 'environment', password: PASSWORD, metadata: { district: 'Nhà Bè' } },
      { id: HTTP_DEVICE, domain: 'environment', password: PASSWORD, metadata: { district: 'Nhà Bè', sensorCommunityId: '12779556' } },
    ],
    config: {
      // One station posts every 150 s; a replay as fast as it is answered is faster than the default per-login limit.
      sources: { http: { type: 'http', host: '127.0.0.1', port: 0, rateLimit: { requestsPerSecond: 0 } } },
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

  const archive = loadAirrohrArchive(datasetPath('01_hcmc_nhabe_sensor_community'))
  expect(archive.chipId).toBe('12779556')
  // One row holds a time and nothing else: no firmware sends that.
  expect(archive.posts.length + archive.emptyRows).toBe(13_260)
  postedStarted = Date.now()
  posted = await replayAirrohr({ url: `${t.sourceUrl('http')}/sensor-community`, archive, username: HTTP_DEVICE, password: PASSWORD })
}, 300_000)

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

test('the recording POSTed as the airrohr firmware sends it stores the same readings as the MQTT replay, each once, stamped on receipt', async () => {
  expect(posted.refusals).toEqual([])
  expect(posted).toMatchObject({ posts: posted.accepted, refused: 0, failed: 0, retries: 0 })
  expect(posted.posts).toBeGreaterThanOrEqual(13_258)
  const counts = async (device: string) => (await db.pool.query<{ metric: string; n: number; readings: number }>(
    'SELECT metric, count(*)::int AS n, count(DISTINCT time)::int AS readings FROM telemetry WHERE device_id = $1 GROUP BY metric ORDER BY metric', [device])).rows
  const overMqtt = await counts(DEVICE)
  const overHttp = await counts(HTTP_DEVICE)
  expect(overMqtt.map((r) => r.metric)).toEqual(['humidity', 'pm10', 'pm25', 'temperature'])
  expect(overHttp).toEqual(overMqtt)
  // Once each: one reading per POST that carried a measurement, at a distinct receive time.
  const times = await db.pool.query<{ readings: number; first: Date; last: Date }>('SELECT count(DISTINCT time)::int AS readings, min(time) AS first, max(time) AS last FROM telemetry WHERE device_id = $1', [HTTP_DEVICE])
  expect(times.rows[0]!.readings).toBe(13_258)
  expect(times.rows[0]!.first.getTime()).toBeGreaterThanOrEqual(postedStarted - 1_000)
  // The same values in the same order: the firmware's strings, parsed as the MQTT replay's numbers.
  const series = async (device: string) => (await db.pool.query<{ metric: string; values: number[] }>(
    'SELECT metric, array_agg(value ORDER BY time) AS values FROM telemetry WHERE device_id = $1 GROUP BY metric ORDER BY metric', [device])).rows
  expect(await series(HTTP_DEVICE)).toEqual(await series(DEVICE))
  // The firmware's diagnostics (samples, min_micro, max_micro, signal) are counted, not stored.
  const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text()
  expect(metrics).toMatch(/gridline_http_ignored_values_total\{component_id="http",field="signal"\} 13259/)
  const dead = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rejected WHERE device_id = $1', [HTTP_DEVICE])
  expect(dead.rows[0]!.n).toBe(0)
})

import { Subject } from 'rxjs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, silentLogger } from '../../../../test/support.ts'
import { insertTelemetry, migratedTestDatabase } from '../../rollup/test-db.ts'
import type { IndicatorEvent, Reading } from '../../stream/events.ts'
import { IndicatorsConfigSchema } from '../config.ts'
import { createIndicators } from '../indicators.ts'
import { lookupOf, reading } from '../shared/test-support.ts'
import { IndicatorHistory } from './history.ts'

// Indicator history against the real PostgreSQL: a service stopped in the
// middle of a day and started again neither repeats nor skips that day's
// VN_AQI, and a late reading corrects a value already stored. Each "run" is
// what ProcessorHost does: live indicators whose events go through the
// history, readings written to telemetry before the indicators see them.

const MIN = 60_000
const HOUR = 3_600_000
// 2026-11-01 00:00 in Vietnam (UTC+7): the local day the test is about.
const DAY = Date.UTC(2026, 9, 31, 17, 0, 0)
const config = IndicatorsConfigSchema.parse({ allowedLatenessMs: 60_000, history: { correctionDelayMs: 0 } })
const deviceList = [{ id: 'aq-hc', domain: 'environment', metadata: { district: 'hai-chau' } }]
const devices = lookupOf(deviceList)
let db: TestDatabase

beforeAll(async () => {
  db = await migratedTestDatabase()
}, 60_000)
afterAll(async () => {
  await db?.drop()
})

/** A PM2.5 series with a shape (morning and evening peaks), every 10 minutes. */
const pm25At = (t: number) => Math.round(20 + 30 * Math.abs(Math.sin(((t - DAY) / HOUR) * 0.4)))
const series = (from: number, to: number): Reading[] => {
  const out: Reading[] = []
  for (let t = from; t < to; t += 10 * MIN) out.push(reading('aq-hc', 'pm25', t, pm25At(t)))
  return out
}

/** One run of the service: live indicators through the history, from `now` on. */
function run(now: () => number) {
  const history = new IndicatorHistory(config.history, config, { db: db.pool, devices, listDevices: () => deviceList, logger: silentLogger(), now })
  const input = new Subject<Reading>()
  const emitted: IndicatorEvent[] = []
  const corrections: IndicatorEvent[] = []
  ;(history as unknown as { deps: { onCorrection: (e: IndicatorEvent) => void } }).deps.onCorrection = (e) => corrections.push(e)
  const sub = input.pipe(createIndicators(config, { devices }).operator).subscribe((e) => {
    if (history.accept(e)) emitted.push(e)
  })
  return {
    history, emitted, corrections,
    async live(readings: Reading[]) {
      await insertTelemetry(db, readings.map((r) => ({ time: r.time, deviceId: r.deviceId, metric: r.metric, value: r.value })))
      for (const r of readings) {
        history.observe(r)
        input.next(r)
      }
    },
    warmUp: () => history.warmUp((r) => input.next(r), new Set(['pm25'])),
    async stop() {
      history.closeWindows()
      input.complete()
      sub.unsubscribe()
      await history.stop()
    },
  }
}

const stored = async (name: string) => (await db.pool.query<{ key: string; t: string; value: number; revision: number }>(
  'SELECT key, (extract(epoch FROM time) * 1000)::bigint AS t, value, revision FROM indicator_values WHERE name = $1 ORDER BY time, key', [name])).rows
  .map((r) => ({ key: r.key, time: Number(r.t), value: Number(r.value), revision: r.revision }))

describe('indicator history', () => {
  test('a restart at 13:05 neither repeats nor skips the day\'s VN_AQI; what is stored equals one uninterrupted run', async () => {
    // The reference: one run over the whole day and into the next (so the day closes), no history.
    const whole = series(DAY - 12 * HOUR, DAY + 25 * HOUR)
    const reference: IndicatorEvent[] = []
    const ref = new Subject<Reading>()
    ref.pipe(createIndicators(config, { devices }).operator).subscribe((e) => reference.push(e))
    for (const r of whole) ref.next(r)

    const restartAt = DAY + 13 * HOUR + 5 * MIN
    const first = run(() => restartAt)
    await first.live(whole.filter((r) => r.time < restartAt))
    await first.stop()
    const second = run(() => restartAt)
    const report = await second.warmUp()
    expect(report.readings).toBeGreaterThan(0)
    await second.live(whole.filter((r) => r.time >= restartAt))
    await second.stop()

    for (const name of ['vn_aqi_daily', 'vn_aqi_hourly', 'us_aqi_hourly']) {
      const expected = reference.filter((e) => e.name === name && e.time >= DAY && e.time < DAY + 24 * HOUR)
      expect(expected.length).toBeGreaterThan(0)
      const rows = (await stored(name)).filter((r) => r.time >= DAY && r.time < DAY + 24 * HOUR)
      // The same values, once each, never revised.
      expect(rows).toEqual(expected.map((e) => ({ key: e.key, time: e.time, value: e.value, revision: 0 })).sort((a, b) => a.time - b.time || a.key.localeCompare(b.key)))
      // And emitted once across the two runs: the second held back what the first had stored.
      const emitted = [...first.emitted, ...second.emitted].filter((e) => e.name === name && e.time >= DAY && e.time < DAY + 24 * HOUR)
      expect(emitted.map((e) => `${e.key}@${e.time}`).sort()).toEqual(expected.map((e) => `${e.key}@${e.time}`).sort())
    }
    const daily = (await stored('vn_aqi_daily')).filter((r) => r.time === DAY)
    expect(daily.map((r) => r.key).sort()).toEqual(['aq-hc', 'hai-chau'])
    expect(report.alreadyStored).toBeGreaterThan(0)
  }, 60_000)

  test('a late reading for a closed hour corrects the stored hourly (and the day), revision 1, sent on as a correction', async () => {
    const day2 = DAY + 3 * 24 * HOUR
    const live = run(() => day2 + 30 * HOUR)
    await live.live(series(day2, day2 + 26 * HOUR))
    await live.history.store.flush()
    const before = (await stored('vn_aqi_hourly')).find((r) => r.key === 'aq-hc' && r.time === day2 + 6 * HOUR)!
    expect(before.revision).toBe(0)
    // A burst of late readings for 05:00-06:00 (the hourly value stamped 06:00, its end), long after it closed (a gateway's backlog).
    const late = Array.from({ length: 6 }, (_, i) => ({ ...reading('aq-hc', 'pm25', day2 + 5 * HOUR + (i * 10 + 5) * MIN, 400), receivedAt: day2 + 26 * HOUR }))
    await live.live(late)
    expect(live.history.counts.lateReadings).toBe(6)
    const corrected = await live.history.correct()
    expect(corrected).toBeGreaterThan(0)
    await live.history.store.flush()
    const after = (await stored('vn_aqi_hourly')).find((r) => r.key === 'aq-hc' && r.time === day2 + 6 * HOUR)!
    expect(after.revision).toBe(1)
    expect(after.value).toBeGreaterThan(before.value)
    expect(live.corrections.some((e) => e.name === 'vn_aqi_hourly' && e.key === 'aq-hc' && e.time === day2 + 6 * HOUR && e.details?.corrected === true)).toBe(true)
    // The daily value moved with it; hours the late readings do not touch (before 05:00) are not revised.
    expect((await stored('vn_aqi_daily')).find((r) => r.key === 'aq-hc' && r.time === day2)?.revision).toBe(1)
    expect((await stored('vn_aqi_hourly')).filter((r) => r.key === 'aq-hc' && r.time > day2 && r.time <= day2 + 5 * HOUR).every((r) => r.revision === 0)).toBe(true)
    await live.stop()
  }, 60_000)

  test('a warm-up over more than maxWarmupRows readings starts later: the newest are replayed', async () => {
    const capped = IndicatorsConfigSchema.parse({ allowedLatenessMs: 60_000, history: { maxWarmupRows: 30 } })
    const now = DAY + 20 * HOUR // the first test stored a reading every 10 minutes of this day
    const history = new IndicatorHistory(capped.history, capped, { db: db.pool, devices, listDevices: () => deviceList, logger: silentLogger(), now: () => now })
    const fed: Reading[] = []
    const report = await history.warmUp((r) => fed.push(r), new Set(['pm25']))
    // 6 readings an hour: the last 5 hours hold 30, the 6th hour back would pass the cap.
    expect(report.from).toBe(now - 5 * HOUR)
    expect(fed.length).toBe(30)
    expect(fed.every((r) => r.time >= now - 5 * HOUR && r.time < now)).toBe(true)
    await history.stop()
  })
})

describe('IndicatorHistoryStore writes', () => {
  test('details go in as they were (quotes, backslashes, braces, Vietnamese, booleans), none as NULL, keys with spaces and quotes as they are; a changed value is a revision', async () => {
    const { IndicatorHistoryStore } = await import('./history-store.ts')
    const store = new IndicatorHistoryStore(db.pool)
    const time = DAY - 30 * 24 * HOUR
    const details = { dominant: 'pm25', note: 'say "hi" \\ Hải Châu {a,b}', complete: false, hours: 18 }
    store.record({ kind: 'indicator', name: 'vn_aqi_hourly', scope: 'district', key: 'Hải Châu "old town"', time, value: 80, level: 'moderate', details })
    store.record({ kind: 'indicator', name: 'vn_aqi_hourly', scope: 'device', key: 'aq-plain', time, value: 12 })
    await store.flush()
    store.record({ kind: 'indicator', name: 'vn_aqi_hourly', scope: 'device', key: 'aq-plain', time, value: 13 })
    await store.flush()
    const { rows } = await db.pool.query<{ key: string; value: number; level: string | null; details: unknown; revision: number }>(
      'SELECT key, value, level, details, revision FROM indicator_values WHERE time = to_timestamp($1 / 1000.0)', [time])
    expect(rows.sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual([
      { key: 'Hải Châu "old town"', value: 80, level: 'moderate', details, revision: 0 },
      { key: 'aq-plain', value: 13, level: null, details: null, revision: 1 },
    ])
  })
})

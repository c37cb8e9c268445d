import { Quality } from '@gridline/schemas'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { TestDatabase } from '../../../test/support.ts'
import { queryTelemetry } from './query.ts'
import { RollupStore } from './rollup-store.ts'
import { insertTelemetry, migratedTestDatabase } from './test-db.ts'

const T = Date.UTC(2026, 10, 28, 0, 0, 0)
const MIN = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
let db: TestDatabase

beforeAll(async () => {
  db = await migratedTestDatabase()
  // Raw: one reading per minute for 3 hours, value = minute index; every 10th is flagged.
  await insertTelemetry(db, Array.from({ length: 180 }, (_, i) => ({
    time: T + i * MIN, deviceId: 'aq-1', metric: 'pm25', value: i, quality: i % 10 === 9 ? Quality.STUCK : Quality.GOOD,
  })))
  // Rollups for 10 days, written the way the processor writes them.
  const store = new RollupStore(db.pool)
  const base = { kind: 'rollup' as const, deviceId: 'aq-1', metric: 'pm25', correction: false }
  await store.upsert(Array.from({ length: 240 }, (_, h) => ({
    ...base, resolution: '1h' as const, bucket: T + h * HOUR, count: 60, min: h, max: h + 10, avg: h + 5, last: h + 1, nonGood: h === 3 ? 60 : 0,
  })).map((e) => (e.nonGood === 60 ? { ...e, min: Number.NaN, max: Number.NaN, avg: Number.NaN, last: Number.NaN } : e)))
  await store.upsert(Array.from({ length: 4 * 1440 }, (_, m) => ({
    ...base, resolution: '1m' as const, bucket: T + m * MIN, count: 1, min: m, max: m, avg: m, last: m, nonGood: 0,
  })))
})
// aq-2 reports every 5 minutes: its minutes are not in telemetry_1m (one reading each) but one, which held two.
const SPARSE_FROM = T + 20 * DAY
beforeAll(async () => {
  await insertTelemetry(db, [
    ...Array.from({ length: 36 }, (_, i) => ({ time: SPARSE_FROM + i * 5 * MIN + 10_000, deviceId: 'aq-2', metric: 'pm25', value: i })),
    { time: SPARSE_FROM + 30_000, deviceId: 'aq-2', metric: 'pm25', value: 99, quality: Quality.SPIKE },
  ])
  await new RollupStore(db.pool).upsert([{ kind: 'rollup', resolution: '1m', deviceId: 'aq-2', metric: 'pm25', bucket: SPARSE_FROM, count: 2, min: 0, max: 0, avg: 0, last: 0, nonGood: 1, correction: false }])
})
afterAll(async () => {
  await db?.drop()
})

describe('queryTelemetry', () => {
  test('minutes of one reading, not in telemetry_1m, are read from telemetry; stored minutes are not counted twice', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-2', metric: 'pm25', from: SPARSE_FROM, to: SPARSE_FROM + 3 * HOUR })
    expect(series.resolution).toBe('1m')
    expect(series.points).toHaveLength(36)
    expect(series.points[0]).toEqual({ time: SPARSE_FROM, value: 0, min: 0, max: 0, count: 2, nonGood: 1 })
    expect(series.points[1]).toEqual({ time: SPARSE_FROM + 5 * MIN, value: 1, min: 1, max: 1, count: 1, nonGood: 0 })
    expect(series.points.at(-1)).toEqual({ time: SPARSE_FROM + 175 * MIN, value: 35, min: 35, max: 35, count: 1, nonGood: 0 })
    // A range starting mid-minute takes the minute it starts in, as for stored minutes.
    const mid = await queryTelemetry(db.pool, { deviceId: 'aq-2', metric: 'pm25', from: SPARSE_FROM + 5 * MIN + 30_000, to: SPARSE_FROM + 3 * HOUR })
    expect(mid.points[0]!.time).toBe(SPARSE_FROM + 5 * MIN)
    expect(mid.points).toHaveLength(35)
  })

  test('an hour whose readings telemetry_1m holds in full (telemetry_1h\'s count) is not read from telemetry', async () => {
    const H = T + 30 * DAY
    const store = new RollupStore(db.pool)
    const base = { kind: 'rollup' as const, deviceId: 'aq-3', metric: 'pm25', min: 1, max: 1, avg: 1, last: 1, nonGood: 0, correction: false }
    // Hour 0: two stored minutes of 2 readings, and the hour says 4: whole. Hour 1: the hour says 3, its minutes 2: one is in telemetry.
    await store.upsert([
      { ...base, resolution: '1m', bucket: H, count: 2 }, { ...base, resolution: '1m', bucket: H + MIN, count: 2 },
      { ...base, resolution: '1h', bucket: H, count: 4 },
      { ...base, resolution: '1m', bucket: H + HOUR, count: 2 }, { ...base, resolution: '1h', bucket: H + HOUR, count: 3 },
    ])
    // A raw row telemetry_1m does not hold, in each hour: only the second hour's is read.
    await insertTelemetry(db, [{ time: H + 30 * MIN, deviceId: 'aq-3', metric: 'pm25', value: 7 }, { time: H + HOUR + 30 * MIN, deviceId: 'aq-3', metric: 'pm25', value: 8 }])
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-3', metric: 'pm25', from: H, to: H + 3 * HOUR })
    expect(series.points.map((p) => [(p.time - H) / MIN, p.count, p.value])).toEqual([[0, 2, 1], [1, 2, 1], [60, 2, 1], [90, 1, 8]])
  })

  test('up to 2 hours: raw good readings', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T, to: T + 30 * MIN })
    expect(series.resolution).toBe('raw')
    expect(series.points).toHaveLength(27) // 30 minutes minus the flagged 9th, 19th, 29th
    expect(series.points[0]).toEqual({ time: T, value: 0, min: 0, max: 0, count: 1, nonGood: 0 })
    expect(series.points.some((p) => p.value === 9)).toBe(false)
  })

  test('raw that would exceed maxPoints steps up to rollups that fit', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T, to: T + 60 * MIN, maxPoints: 50 })
    expect(series.resolution).toBe('1h')
    expect(series.points).toEqual([{ time: T, value: 5, min: 0, max: 10, count: 60, nonGood: 0 }])
  })

  test('up to 3 days: minute rollups', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T + DAY, to: T + 2 * DAY })
    expect(series.resolution).toBe('1m')
    expect(series.stepMs).toBe(MIN)
    expect(series.points).toHaveLength(1440)
    expect(series.points[0]).toEqual({ time: T + DAY, value: 1440, min: 1440, max: 1440, count: 1, nonGood: 0 })
  })

  test('beyond 3 days: hourly rollups, with an all-flagged hour as nulls', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T, to: T + 5 * DAY })
    expect(series.resolution).toBe('1h')
    expect(series.points).toHaveLength(120)
    expect(series.points[3]).toEqual({ time: T + 3 * HOUR, value: null, min: null, max: null, count: 60, nonGood: 60 })
  })

  test('maxPoints merges hours, weighting averages by good readings', async () => {
    const series = await queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T, to: T + 10 * DAY, maxPoints: 10 })
    expect(series.stepMs).toBe(DAY)
    expect(series.points).toHaveLength(10)
    // Day 0: hours 0..23 with avg h + 5, hour 3 all flagged: (sum of h + 5 over h != 3) / 23.
    const expected = Array.from({ length: 24 }, (_, h) => h).filter((h) => h !== 3).reduce((s, h) => s + h + 5, 0) / 23
    expect(series.points[0]!.value).toBeCloseTo(expected, 10)
    expect(series.points[0]).toMatchObject({ time: T, min: 0, max: 33, count: 1440, nonGood: 60 })
  })

  test('an empty range is refused with a clear error', async () => {
    await expect(queryTelemetry(db.pool, { deviceId: 'aq-1', metric: 'pm25', from: T, to: T })).rejects.toThrow(/range is empty/)
  })
})

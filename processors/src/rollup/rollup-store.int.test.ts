import { Quality } from '@gridline/schemas'
import { Subject, lastValueFrom, toArray } from 'rxjs'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { type TestDatabase, waitFor } from '../../../test/support.ts'
import { SequenceGapStore } from '../sequence/gap-store.ts'
import { SequenceTracker } from '../sequence/sequence-tracker.ts'
import type { Reading, RollupEvent } from '../stream/events.ts'
import { RollupProcessor } from './rollup-processor.ts'
import { RollupStore } from './rollup-store.ts'
import { minuteRollupsSql } from './sql.ts'
import { insertTelemetry, migratedTestDatabase } from './test-db.ts'

const T = Date.UTC(2026, 10, 28, 3, 0, 0)
const S = 1000
let db: TestDatabase

beforeAll(async () => {
  db = await migratedTestDatabase()
})
afterAll(async () => {
  await db?.drop()
})
beforeEach(async () => {
  await db.pool.query('TRUNCATE telemetry, telemetry_1m, telemetry_1h, sequence_gaps')
})

async function stored(table: string) {
  const { rows } = await db.pool.query(
    `SELECT extract(epoch FROM bucket) * 1000 AS bucket, device_id, metric, count, min, max, avg, last, non_good FROM ${table} ORDER BY device_id, metric, bucket`,
  )
  return rows.map((r) => ({ ...r, bucket: Number(r.bucket) }))
}

/** Every minute of aq-1's pm25 as queries see them: telemetry_1m and the single-reading minutes from telemetry. */
async function minutes() {
  const { rows } = await db.pool.query(
    `SELECT extract(epoch FROM bucket) * 1000 AS bucket, device_id, metric, count, min, max, avg, last, non_good
       FROM ${minuteRollupsSql({ device: (col) => `${col} = 'aq-1'`, metric: `'pm25'`, from: `TIMESTAMPTZ '2000-01-01Z'`, to: `TIMESTAMPTZ '2100-01-01Z'` })} AS m
      ORDER BY bucket`,
  )
  return rows.map((r) => ({ ...r, bucket: Number(r.bucket) }))
}

function reading(time: number, value: number, quality: number = Quality.GOOD, deviceId = 'aq-1'): Reading {
  return { time, receivedAt: time, deviceId, domain: 'environment', metric: 'pm25', value, quality, seq: -1, flags: 0 }
}

/** Commits readings to telemetry first (as ingest does), then pushes them through the processor. */
async function commitAndPush(subject: Subject<Reading>, readings: Reading[]) {
  await insertTelemetry(db, readings)
  for (const r of readings) subject.next(r)
}

describe('RollupStore', () => {
  test('upserts a batch per resolution, with NaN statistics stored as NULL, and overwrites on conflict', async () => {
    const store = new RollupStore(db.pool)
    const event = (bucket: number, resolution: '1m' | '1h', avg: number): RollupEvent => ({
      kind: 'rollup', resolution, deviceId: 'aq-1', metric: 'pm25', bucket, count: 3, min: 1, max: 5, avg, last: 4, nonGood: 1, correction: false,
    })
    await store.upsert([event(T, '1m', 3), event(T + 60 * S, '1m', Number.NaN), event(T, '1h', 2)])
    await store.upsert([event(T, '1m', 3.5)])
    const minutes = await stored('telemetry_1m')
    expect(minutes).toEqual([
      { bucket: T, device_id: 'aq-1', metric: 'pm25', count: 3, min: 1, max: 5, avg: 3.5, last: 4, non_good: 1 },
      { bucket: T + 60 * S, device_id: 'aq-1', metric: 'pm25', count: 3, min: 1, max: 5, avg: null, last: 4, non_good: 1 },
    ])
    expect(await stored('telemetry_1h')).toHaveLength(1)
  })
})

describe('RollupProcessor against PostgreSQL', () => {
  test('closed buckets are written; a late reading corrects the stored rollup and emits a correction', async () => {
    const processor = new RollupProcessor({ recomputeFirstBucket: false, allowedLatenessMs: 0, flushIntervalMs: 3_600_000 }, { db: db.pool })
    const readings = new Subject<Reading>()
    const events: RollupEvent[] = []
    const sub = readings.pipe(processor.operator).subscribe((e) => events.push(e))

    await commitAndPush(readings, [reading(T + 10 * S, 10), reading(T + 20 * S, 20), reading(T + 30 * S, 999.9, Quality.SATURATED), reading(T + 70 * S, 40)])
    await processor.flush()
    expect(await stored('telemetry_1m')).toEqual([
      { bucket: T, device_id: 'aq-1', metric: 'pm25', count: 3, min: 10, max: 20, avg: 15, last: 20, non_good: 1 },
    ])

    // Late for minute 0 (closed), stored first like any reading.
    await commitAndPush(readings, [reading(T + 50 * S, 60)])
    expect(processor.counts.lateReadings).toBe(1)
    await processor.flush()
    const corrected = { bucket: T, device_id: 'aq-1', metric: 'pm25', count: 4, min: 10, max: 60, avg: 30, last: 60, non_good: 1 }
    expect(await stored('telemetry_1m')).toEqual([corrected])
    expect(events.filter((e) => e.correction)).toEqual([
      { kind: 'rollup', resolution: '1m', deviceId: 'aq-1', metric: 'pm25', bucket: T, count: 4, min: 10, max: 60, avg: 30, last: 60, nonGood: 1, correction: true },
    ])

    // End of stream: the open minute and hour are written.
    readings.complete()
    await processor.flush()
    sub.unsubscribe()
    // Minute 1 held one reading: not written, and read from telemetry.
    expect((await stored('telemetry_1m')).map((r) => r.bucket)).toEqual([T])
    expect(processor.counts.singleReadingMinutes).toBe(1)
    expect(await minutes()).toEqual([corrected, { bucket: T + 60 * S, device_id: 'aq-1', metric: 'pm25', count: 1, min: 40, max: 40, avg: 40, last: 40, non_good: 0 }])
    expect(await stored('telemetry_1h')).toEqual([
      { bucket: T, device_id: 'aq-1', metric: 'pm25', count: 5, min: 10, max: 60, avg: 32.5, last: 40, non_good: 1 },
    ])
    expect(processor.counts.writeErrors).toBe(0)
  })

  test('after a restart the first bucket is recomputed from telemetry, not overwritten with what memory saw', async () => {
    // The previous process stored and saw these; this one starts mid-minute.
    await insertTelemetry(db, [reading(T + 5 * S, 1), reading(T + 15 * S, 2)].map((r) => ({ ...r })))
    const processor = new RollupProcessor({ allowedLatenessMs: 0, flushIntervalMs: 3_600_000 }, { db: db.pool })
    const readings = new Subject<Reading>()
    const done = lastValueFrom(readings.pipe(processor.operator, toArray()))
    await commitAndPush(readings, [reading(T + 25 * S, 3), reading(T + 65 * S, 4), reading(T + 125 * S, 5)])
    readings.complete()
    const events = await done
    const minute0 = events.find((e) => e.resolution === '1m' && e.bucket === T)
    expect(minute0).toMatchObject({ count: 3, min: 1, max: 3, avg: 2, last: 3, correction: false })
    expect((await stored('telemetry_1m')).map((r) => [r.bucket, r.count])).toEqual([[T, 3]])
    expect((await minutes()).map((r) => [r.bucket, r.count])).toEqual([[T, 3], [T + 60 * S, 1], [T + 120 * S, 1]])
    expect(await stored('telemetry_1h')).toMatchObject([{ bucket: T, count: 5, avg: 3 }])
  })

  test('after a restart a first bucket that starts after the last stored reading is written from memory, one that does not is recomputed', async () => {
    const received = async (rows: { time: number; value: number; device?: string }[], receivedAt: number) => db.pool.query(
      `INSERT INTO telemetry (time, device_id, metric, value, quality, received_at)
       SELECT to_timestamp(t / 1000.0), d, 'pm25', v, 0, to_timestamp($4::float8 / 1000.0) FROM unnest($1::float8[], $2::text[], $3::float8[]) AS u(t, d, v)`,
      [rows.map((r) => r.time), rows.map((r) => r.device ?? 'aq-1'), rows.map((r) => r.value), receivedAt])
    // Before this process: aq-1 up to minute 0 (its readings at 10 s and 50 s); aq-2 up to 10 s into minute 2.
    await received([{ time: T + 10 * S, value: 1 }, { time: T + 50 * S, value: 2 }, { time: T + 130 * S, value: 9, device: 'aq-2' }], Date.now() - 60_000)
    const processor = new RollupProcessor({ allowedLatenessMs: 0, flushIntervalMs: 3_600_000 }, { db: db.pool })
    const readings = new Subject<Reading>()
    const done = lastValueFrom(readings.pipe(processor.operator, toArray()))
    // This process: aq-1 from minute 1 on; aq-2 in minute 2 again, and on.
    const now = Date.now()
    const push = async (...rs: Reading[]) => {
      for (const r of rs) {
        await received([{ time: r.time, value: r.value, device: r.deviceId }], now)
        readings.next({ ...r, receivedAt: now })
      }
    }
    await push(reading(T + 70 * S, 3), reading(T + 140 * S, 5, Quality.GOOD, 'aq-2'))
    // The lookup of what was stored before, for both new series at once, before their first buckets close.
    await waitFor(() => processor.counts.probed === 2, 5_000, 'the previous readings to be looked up')
    await push(reading(T + 130 * S, 4), reading(T + 200 * S, 6, Quality.GOOD, 'aq-2'))
    readings.complete()
    const events = await done
    const bucket = (device: string, resolution: string, at: number) => events.find((e) => e.deviceId === device && e.resolution === resolution && e.bucket === at)
    // aq-1: minute 1 is its first and nothing before the start reaches it: from memory. Its hour holds minute 0's readings: recomputed.
    expect(bucket('aq-1', '1m', T + 60 * S)).toMatchObject({ count: 1, avg: 3 })
    expect(bucket('aq-1', '1h', T)).toMatchObject({ count: 4, min: 1, max: 4, avg: 2.5, last: 4 })
    // aq-2: minute 2 held a reading from before the start: recomputed with it.
    expect(bucket('aq-2', '1m', T + 120 * S)).toMatchObject({ count: 2, min: 5, max: 9, avg: 7 })
    // Recomputed: aq-1's hour, aq-2's minute 2 and hour; not aq-1's minute 1, nor aq-2's minute 3 (not first).
    expect(processor.counts.recomputed).toBe(3)
  })

  test('a failed write is kept and retried at the next flush', async () => {
    let fail = true
    const flaky = { query: (sql: string, params?: unknown[]) => (fail ? Promise.reject(new Error('connection lost')) : db.pool.query(sql, params)) }
    const errors: unknown[] = []
    const processor = new RollupProcessor({ recomputeFirstBucket: false, allowedLatenessMs: 0, flushIntervalMs: 3_600_000 }, {
      db: flaky as never,
      onError: (e) => errors.push(e),
    })
    const readings = new Subject<Reading>()
    const sub = readings.pipe(processor.operator).subscribe()
    readings.next(reading(T + 1 * S, 6))
    readings.next(reading(T + 2 * S, 8))
    readings.next(reading(T + 61 * S, 8))
    await processor.flush()
    expect(errors).toHaveLength(1)
    expect(processor.counts.pendingWrites).toBe(1)
    fail = false
    await processor.flush()
    expect(await stored('telemetry_1m')).toMatchObject([{ bucket: T, avg: 7 }])
    sub.unsubscribe()
  })

  test('single-reading minutes are not written, and every minute reads back as if they had been', async () => {
    // Every 5 minutes for 2 hours, twice in some minutes (a retry, a second sample), one flagged.
    const input: Reading[] = []
    for (let i = 0; i < 24; i++) {
      input.push(reading(T + i * 300 * S + 7 * S, i, i === 5 ? Quality.SPIKE : Quality.GOOD))
      if (i % 6 === 0) input.push(reading(T + i * 300 * S + 40 * S, 100 + i))
    }
    await insertTelemetry(db, input)
    const run = async (storeSingleReadingMinutes: boolean) => {
      await db.pool.query('TRUNCATE telemetry_1m, telemetry_1h')
      const processor = new RollupProcessor({ recomputeFirstBucket: false, allowedLatenessMs: 0, flushIntervalMs: 3_600_000, storeSingleReadingMinutes }, { db: db.pool })
      const readings = new Subject<Reading>()
      const done = lastValueFrom(readings.pipe(processor.operator, toArray()))
      for (const r of input) readings.next(r)
      readings.complete()
      const events = await done
      await processor.flush()
      return { events, stored: await stored('telemetry_1m'), minutes: await minutes(), hours: await stored('telemetry_1h'), counts: processor.counts }
    }
    const all = await run(true)
    const some = await run(false)
    expect(all.stored).toHaveLength(24)
    expect(some.stored.map((r) => r.count)).toEqual([2, 2, 2, 2])
    expect(some.counts.singleReadingMinutes).toBe(20)
    // The same minutes, the same hours, the same events on the stream.
    expect(some.minutes).toEqual(all.stored)
    expect(some.hours).toEqual(all.hours)
    expect(some.events).toEqual(all.events)
  })
})

describe('SequenceGapStore', () => {
  test('persists open gaps, follows late arrivals, and loads them back', async () => {
    const tracker = new SequenceTracker()
    const store = new SequenceGapStore(db.pool)
    for (const s of [1, 10, 11, 20]) tracker.observe('aq-1', s, T + s * 60 * S)
    tracker.observe('aq-2', 1, T)
    expect(await store.flush(tracker)).toBe(1)
    const gaps = async () => (await db.pool.query('SELECT device_id, seq_from, seq_to, missing FROM sequence_gaps ORDER BY device_id, seq_from')).rows
      .map((r) => [r.device_id, Number(r.seq_from), Number(r.seq_to), Number(r.missing)])
    expect(await gaps()).toEqual([['aq-1', 2, 9, 8], ['aq-1', 12, 19, 8]])

    tracker.observe('aq-1', 5, T + 5 * 60 * S)
    tracker.observe('aq-1', 12, T + 12 * 60 * S)
    tracker.observe('aq-1', 19, T + 19 * 60 * S)
    for (const s of [13, 14, 15, 16, 17, 18]) tracker.observe('aq-1', s, T + s * 60 * S)
    await store.flush(tracker)
    expect(await gaps()).toEqual([['aq-1', 2, 4, 3], ['aq-1', 6, 9, 4]])

    const loaded = await store.load()
    expect(loaded[0]).toEqual({ deviceId: 'aq-1', from: 2, to: 4, after: T + 60 * S, before: T + 10 * 60 * S })
    const restarted = new SequenceTracker()
    restarted.restore(loaded)
    expect(restarted.observe('aq-1', 3, T + 3 * 60 * S)).toBe('late')
  })
})

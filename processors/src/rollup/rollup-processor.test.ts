import { Subject } from 'rxjs'
import { describe, expect, test } from 'vitest'
import type { Reading } from '../stream/events.ts'
import { RollupProcessor } from './rollup-processor.ts'

// The processor's write queue against a stand-in database: a catch-up burst (a day of
// buffered readings forwarded at once) must hold intake back, not drop rollups, while the
// writes succeed; only a database that fails has the oldest dropped at the cap.

const T = Date.UTC(2026, 11, 1)
const MIN = 60_000
// One reading a minute: every closed minute is written (storeSingleReadingMinutes), so each reading makes a write.
const SETTINGS = { recomputeFirstBucket: false, allowedLatenessMs: 0, flushIntervalMs: 3_600_000, writeBatchRows: 100, maxPendingWrites: 1_000, storeSingleReadingMinutes: true }

function reading(i: number): Reading {
  return { time: T + i * MIN, receivedAt: T + i * MIN, deviceId: 'aq-1', domain: 'environment', metric: 'pm25', value: i % 50, quality: 0, seq: i, flags: 0 }
}

/** A database whose upserts wait until `open` is called, then answer at once; counts the buckets written. */
function gatedDatabase() {
  let opened = false
  const waiting: (() => void)[] = []
  const db = {
    written: 0,
    statements: 0,
    async query(_sql: string, params?: unknown[]) {
      db.statements++
      if (!opened) await new Promise<void>((resolve) => waiting.push(resolve))
      // The first parameter is the buckets' array literal, `{t1,t2,...}`.
      db.written += String(params?.[0] ?? '{}').slice(1, -1).split(',').filter(Boolean).length
      return { rows: [], rowCount: 0 }
    },
    open() {
      opened = true
      for (const resolve of waiting.splice(0)) resolve()
    },
  }
  return db
}

describe('RollupProcessor write queue', () => {
  test('closed buckets piling up faster than they are written hold intake back, drop nothing, and release it once written', async () => {
    const db = gatedDatabase()
    const held: boolean[] = []
    const processor = new RollupProcessor(SETTINGS, { db, onBacklog: (h) => held.push(h) })
    const input = new Subject<Reading>()
    let emitted = 0
    const sub = input.pipe(processor.operator).subscribe(() => emitted++)
    // Each reading closes the previous minute. Intake goes on until held (half the cap of
    // 1,000), then the batch already committed arrives (here 300 more), as the pipeline would.
    let i = 0
    while (!processor.backlogged && i < 5_000) input.next(reading(i++))
    expect(i).toBeLessThan(600)
    for (const end = i + 300; i < end; i++) input.next(reading(i))
    expect(held).toEqual([true])
    expect(processor.backlogged).toBe(true)
    expect(processor.counts.droppedWrites).toBe(0)
    // A flush started by itself at writeBatchRows, not at the hourly timer: it waits on the database.
    await new Promise((resolve) => setImmediate(resolve))
    expect(db.statements).toBe(1)
    db.open()
    await processor.flush()
    expect(held).toEqual([true, false])
    expect(processor.counts.droppedWrites).toBe(0)
    expect(processor.counts.pendingWrites).toBe(0)
    expect(db.written).toBe(emitted)
    expect(processor.counts.written).toBe(emitted)
    sub.unsubscribe()
  })

  test('while writes fail intake is not held for the rollups: past the cap the oldest are dropped and counted, a tenth at a time', async () => {
    const failing = { query: async () => { throw new Error('connection lost') } }
    const held: boolean[] = []
    const errors: unknown[] = []
    const processor = new RollupProcessor(SETTINGS, { db: failing, onBacklog: (h) => held.push(h), onError: (e) => errors.push(e) })
    const input = new Subject<Reading>()
    let emitted = 0
    const sub = input.pipe(processor.operator).subscribe(() => emitted++)
    input.next(reading(0))
    input.next(reading(1))
    await processor.flush()
    expect(errors).toHaveLength(1)
    for (let i = 2; i <= 3_000; i++) input.next(reading(i))
    await processor.flush()
    expect(held).toEqual([])
    const { droppedWrites, pendingWrites } = processor.counts
    expect(pendingWrites).toBeLessThanOrEqual(SETTINGS.maxPendingWrites)
    expect(droppedWrites + pendingWrites).toBe(emitted)
    // Dropped in chunks of at least a tenth of the cap.
    expect(droppedWrites).toBeGreaterThanOrEqual(SETTINGS.maxPendingWrites / 10)
    sub.unsubscribe()
  })
})

describe('single-reading minutes and the live stream', () => {
  const every5 = (i: number): Reading => ({ ...reading(0), time: T + i * 5 * MIN, receivedAt: T + i * 5 * MIN, seq: i })

  test('not stored and taken by nobody: no event is made, yet each is counted; once someone takes rollups they are emitted again', () => {
    let taken = false
    const processor = new RollupProcessor({ ...SETTINGS, storeSingleReadingMinutes: false }, { db: gatedDatabase(), eventsTaken: () => taken })
    const input = new Subject<Reading>()
    const minutes: number[] = []
    const sub = input.pipe(processor.operator).subscribe((e) => { if (e.resolution === '1m') minutes.push((e.bucket - T) / MIN) })
    for (let i = 0; i < 5; i++) input.next(every5(i)) // closes the minutes at 0, 5, 10, 15
    expect(minutes).toEqual([])
    expect(processor.counts.singleReadingMinutes).toBe(4)
    taken = true
    input.next(every5(5)) // closes minute 20
    expect(minutes).toEqual([20])
    expect(processor.counts.singleReadingMinutes).toBe(5)
    expect(processor.counts.pendingWrites).toBe(0)
    sub.unsubscribe()
  })

  test('stored (storeSingleReadingMinutes): every minute is emitted and written whether or not anyone takes it', () => {
    const processor = new RollupProcessor(SETTINGS, { db: gatedDatabase(), eventsTaken: () => false })
    const input = new Subject<Reading>()
    let minutes = 0
    const sub = input.pipe(processor.operator).subscribe((e) => { if (e.resolution === '1m') minutes++ })
    for (let i = 0; i < 5; i++) input.next(every5(i))
    expect(minutes).toBe(4)
    expect(processor.counts.pendingWrites).toBe(4)
    sub.unsubscribe()
  })
})

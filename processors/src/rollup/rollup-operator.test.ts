import { Quality } from '@gridline/schemas'
import { TestScheduler } from 'rxjs/testing'
import { describe, expect, test } from 'vitest'
import type { Reading, RollupEvent } from '../stream/events.ts'
import type { RollupConfig } from './config.ts'
import { rollupWindows } from './rollup-operator.ts'
import type { RecomputeRequest } from './rollup-windows.ts'

// Event times: a whole hour, so minute buckets are T, T + 60 s, ...
const T = Date.UTC(2026, 10, 28, 3, 0, 0)
const S = 1000

function reading(time: number, value: number, deviceId = 'aq-1', quality: number = Quality.GOOD, metric = 'pm25'): Reading {
  return { time, receivedAt: time, deviceId, domain: 'environment', metric, value, quality, seq: -1, flags: 0 }
}

function rollup(resolution: '1m' | '1h', bucket: number, fields: Partial<RollupEvent>, deviceId = 'aq-1'): RollupEvent {
  return { kind: 'rollup', resolution, deviceId, metric: 'pm25', bucket, count: 0, min: 0, max: 0, avg: 0, last: 0, nonGood: 0, correction: false, ...fields }
}

const BASE: Partial<RollupConfig> = { allowedLatenessMs: 30 * S, recomputeFirstBucket: false, idleTimeoutMs: 10 * S, idleCheckIntervalMs: 1 * S }

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
}

describe('rollupWindows (marbles: frames are processing-time ms)', () => {
  test('a minute closes when the watermark passes its end; the hour at the end of the stream', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-b-c-d-|', {
        a: reading(T + 0 * S, 10),
        b: reading(T + 20 * S, 30),
        c: reading(T + 50 * S, 20),
        d: reading(T + 95 * S, 40), // watermark T + 65 s >= end of minute 0
      })
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('------a-(bc|)', {
        a: rollup('1m', T, { count: 3, min: 10, max: 30, avg: 20, last: 20 }),
        b: rollup('1m', T + 60 * S, { count: 1, min: 40, max: 40, avg: 40, last: 40 }),
        c: rollup('1h', T, { count: 4, min: 10, max: 40, avg: 25, last: 40 }),
      })
    })
  })

  test('non-good readings are counted but not in min, max, avg or last', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-b-c-|', {
        a: reading(T + 1 * S, 10),
        b: reading(T + 2 * S, 999.9, 'aq-1', Quality.SATURATED),
        c: reading(T + 3 * S, 5000, 'aq-1', Quality.OUT_OF_RANGE),
      })
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('------(ab|)', {
        a: rollup('1m', T, { count: 3, min: 10, max: 10, avg: 10, last: 10, nonGood: 2 }),
        b: rollup('1h', T, { count: 3, min: 10, max: 10, avg: 10, last: 10, nonGood: 2 }),
      })
    })
  })

  test('a bucket of only non-good readings has NaN statistics', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-|', { a: reading(T, 1, 'aq-1', Quality.BAD) })
      const nan = { count: 1, min: Number.NaN, max: Number.NaN, avg: Number.NaN, last: Number.NaN, nonGood: 1 }
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('--(ab|)', { a: rollup('1m', T, nan), b: rollup('1h', T, nan) })
    })
  })

  test('last is the value with the latest event time, not the last to arrive', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-b-|', { a: reading(T + 40 * S, 7), b: reading(T + 10 * S, 3) })
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('----(ab|)', {
        a: rollup('1m', T, { count: 2, min: 3, max: 7, avg: 5, last: 7 }),
        b: rollup('1h', T, { count: 2, min: 3, max: 7, avg: 5, last: 7 }),
      })
    })
  })

  test('a reading within the allowed lateness still counts; a later one is late and asks for a correction', () => {
    const requests: RecomputeRequest[] = []
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-b-c-d-|', {
        a: reading(T + 10 * S, 1),
        b: reading(T + 80 * S, 2), // watermark T + 50 s: minute 0 still open
        c: reading(T + 55 * S, 3), // in time
        d: reading(T + 100 * S, 4), // watermark T + 70 s: closes minute 0
      })
      expectObservable(source.pipe(rollupWindows(BASE, { onRecompute: (r) => requests.push(r) }))).toBe('------a-(bc|)', {
        a: rollup('1m', T, { count: 2, min: 1, max: 3, avg: 2, last: 3 }),
        b: rollup('1m', T + 60 * S, { count: 2, min: 2, max: 4, avg: 3, last: 4 }),
        c: rollup('1h', T, { count: 4, min: 1, max: 4, avg: 2.5, last: 4 }),
      })
    })
    expect(requests).toEqual([])

    // The same stream, then a reading for the closed minute 0 before the end.
    const requested: RecomputeRequest[] = []
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-d-e-|', { a: reading(T + 10 * S, 1), d: reading(T + 100 * S, 4), e: reading(T + 59 * S, 100) })
      expectObservable(source.pipe(rollupWindows(BASE, { onRecompute: (r) => requested.push(r) }))).toBe('--a---(bc|)', {
        a: rollup('1m', T, { count: 1, min: 1, max: 1, avg: 1, last: 1 }),
        b: rollup('1m', T + 60 * S, { count: 1, min: 4, max: 4, avg: 4, last: 4 }),
        // The hour is still open: the late minute's reading counts in it.
        c: rollup('1h', T, { count: 3, min: 1, max: 100, avg: 35, last: 4 }),
      })
    })
    expect(requested).toEqual([{ resolution: '1m', deviceId: 'aq-1', metric: 'pm25', bucket: T, correction: true }])
  })

  test('watermarks are per device: a device whose clock is an hour behind is not late', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const H = 3600 * S
      const source = cold<Reading>('a-b-c-d-|', {
        a: reading(T + H + 10 * S, 1, 'fast'),
        b: reading(T + 10 * S, 2, 'slow'),
        c: reading(T + H + 100 * S, 3, 'fast'),
        d: reading(T + 100 * S, 4, 'slow'),
      })
      const slow = (res: '1m' | '1h', bucket: number, v: number, count = 1) =>
        rollup(res, bucket, { count, min: v, max: v, avg: v, last: v }, 'slow')
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('----a-b-(cdef|)', {
        a: rollup('1m', T + H, { count: 1, min: 1, max: 1, avg: 1, last: 1 }, 'fast'),
        b: slow('1m', T, 2),
        c: rollup('1m', T + H + 60 * S, { count: 1, min: 3, max: 3, avg: 3, last: 3 }, 'fast'),
        d: rollup('1h', T + H, { count: 2, min: 1, max: 3, avg: 2, last: 3 }, 'fast'),
        e: slow('1m', T + 60 * S, 4),
        f: rollup('1h', T, { count: 2, min: 2, max: 4, avg: 3, last: 4 }, 'slow'),
      })
    })
  })

  test('a device that goes quiet has its buckets closed by processing time', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // One reading at T + 10 s, then silence. Its watermark advances with the clock once it has been quiet
      // for 10 s: minute 0 closes when T + 10 s + quiet - 30 s reaches T + 60 s (quiet = 80 s), the hour at 3620 s.
      const source = cold<Reading>('a 3999999ms |', { a: reading(T + 10 * S, 5) })
      const stats = { count: 1, min: 5, max: 5, avg: 5, last: 5 }
      expectObservable(source.pipe(rollupWindows(BASE))).toBe('80000ms a 3539999ms b 379999ms |', {
        a: rollup('1m', T, stats),
        b: rollup('1h', T, stats),
      })
    })
  })

  test('the first bucket of a series after start is recomputed, later ones come from memory', () => {
    const requests: RecomputeRequest[] = []
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Reading>('a-b-c-|', { a: reading(T + 30 * S, 1), b: reading(T + 95 * S, 2), c: reading(T + 160 * S, 3) })
      expectObservable(source.pipe(rollupWindows({ ...BASE, recomputeFirstBucket: true }, { onRecompute: (r) => requests.push(r) })))
        .toBe('----a-(b|)', { a: rollup('1m', T + 60 * S, { count: 1, min: 2, max: 2, avg: 2, last: 2 }), b: rollup('1m', T + 120 * S, { count: 1, min: 3, max: 3, avg: 3, last: 3 }) })
    })
    expect(requests).toEqual([
      { resolution: '1m', deviceId: 'aq-1', metric: 'pm25', bucket: T, correction: false },
      { resolution: '1h', deviceId: 'aq-1', metric: 'pm25', bucket: T, correction: false },
    ])
  })
})

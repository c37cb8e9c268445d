import fc from 'fast-check'
import { Quality, RowFlags } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import { AlarmEngine } from '../alarms/engine.ts'
import type { AlarmEventDetail } from '../alarms/alarm-event.ts'
import { RollupWindows } from '../rollup/rollup-windows.ts'
import type { RecomputeRequest } from '../rollup/rollup-windows.ts'
import type { Reading, RollupEvent } from './events.ts'
import { ReadingBatch, readingCursor } from './batch.ts'

// The after-commit processors read a committed batch as columns. Whatever
// they compute from a batch must be what they compute from the same readings
// one object at a time.

const T = Date.UTC(2026, 11, 4, 8, 0, 0)

const readingArb: fc.Arbitrary<Reading> = fc.record({
  time: fc.integer({ min: T, max: T + 3 * 3_600_000 }),
  receivedAt: fc.constant(T),
  deviceId: fc.constantFrom('aq-1', 'aq-2', 'pump-1'),
  domain: fc.constantFrom('environment', 'water'),
  metric: fc.constantFrom('pm25', 'pressure'),
  value: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  quality: fc.constantFrom(Quality.GOOD, Quality.GOOD, Quality.UNCERTAIN),
  seq: fc.integer({ min: -1, max: 1_000 }),
  flags: fc.constantFrom(0, RowFlags.SERVER_TIME, RowFlags.BACKFILL),
})

describe('ReadingBatch', () => {
  test('keeps every field of every reading, as objects and through a cursor', () => {
    fc.assert(fc.property(fc.array(readingArb, { maxLength: 50 }), (readings) => {
      const batch = ReadingBatch.of(readings)
      expect(batch.length).toBe(readings.length)
      expect(batch.readings()).toEqual(readings.map((r) => ({ kind: 'reading', ...r })))
      const cursor = readingCursor()
      readings.forEach((r, i) => expect({ ...batch.load(cursor, i) }).toEqual(r))
    }))
  })

  test('refuses more readings than its capacity', () => {
    const batch = new ReadingBatch(1)
    batch.push(T, T, 'aq-1', 'environment', 'pm25', 1, Quality.GOOD, -1, 0)
    expect(() => batch.push(T, T, 'aq-1', 'environment', 'pm25', 2, Quality.GOOD, -1, 0)).toThrow(/full \(1 readings\)/)
  })
})

describe('the processors on a batch compute what they compute reading by reading', () => {
  const windowsConfig = { allowedLatenessMs: 30_000, idleTimeoutMs: 60_000, forgetDeviceAfterMs: 3_600_000, recomputeFirstBucket: false }

  function rollupsOf(feed: (windows: RollupWindows) => void): { events: RollupEvent[]; requests: RecomputeRequest[]; counts: unknown } {
    const events: RollupEvent[] = []
    const requests: RecomputeRequest[] = []
    const windows = new RollupWindows(windowsConfig, { emit: (e) => events.push(e), recompute: (r) => requests.push(r) })
    feed(windows)
    windows.closeAll()
    return { events, requests, counts: windows.counts }
  }

  test('rollup windows', () => {
    fc.assert(fc.property(fc.array(fc.array(readingArb, { maxLength: 40 }), { maxLength: 6 }), (batches) => {
      const one = rollupsOf((w) => { for (const b of batches) for (const r of b) w.add(r, T) })
      const columns = rollupsOf((w) => { for (const b of batches) w.addBatch(ReadingBatch.of(b), T) })
      expect(columns).toEqual(one)
    }))
  })

  test('alarm rules', async () => {
    const config = {
      rules: [
        { id: 'pm25-high', type: 'threshold' as const, metric: 'pm25', raiseAbove: 100, clearBelow: 50, severity: 'major' as const },
        { id: 'pressure-rate', type: 'rate_of_change' as const, metric: 'pressure', windowSeconds: 60, per: 'minute' as const, raiseAbove: 1_000, severity: 'minor' as const },
      ],
    }
    const run = async (feed: (engine: AlarmEngine) => void) => {
      const engine = new AlarmEngine(config, {})
      await engine.start()
      const seen: string[] = []
      const sub = engine.events.subscribe((e: AlarmEventDetail) => seen.push(`${e.ruleId}/${e.subject}:${e.state}@${e.time}=${e.value}`))
      feed(engine)
      sub.unsubscribe()
      const counters = JSON.parse(JSON.stringify(engine.stats())) as Record<string, unknown>
      await engine.stop()
      return { seen, evaluated: counters.evaluated, skipped: counters.skipped }
    }
    await fc.assert(fc.asyncProperty(fc.array(fc.array(readingArb, { maxLength: 40 }), { maxLength: 6 }), async (batches) => {
      const sorted = batches.map((b) => [...b].sort((x, y) => x.time - y.time))
      const one = await run((e) => { for (const b of sorted) e.onReadings(b) })
      const columns = await run((e) => { for (const b of sorted) e.onBatch(ReadingBatch.of(b)) })
      expect(columns).toEqual(one)
    }), { numRuns: 50 })
  })
})

import { describe, expect, test } from 'vitest'
import type { Reading, RollupEvent } from '../stream/events.ts'
import { type RecomputeRequest, RollupWindows } from './rollup-windows.ts'

const T = Date.UTC(2026, 11, 1)
const MIN = 60_000
const CONFIG = { allowedLatenessMs: 0, idleTimeoutMs: 120_000, forgetDeviceAfterMs: 3_600_000, recomputeFirstBucket: true }

function reading(deviceId: string, time: number, value = 1): Reading {
  return { time, receivedAt: time, deviceId, domain: 'environment', metric: 'pm25', value, quality: 0, seq: -1, flags: 0 }
}

function windows() {
  const out = { emitted: [] as RollupEvent[], recomputed: [] as RecomputeRequest[], probed: [] as string[] }
  const w = new RollupWindows(CONFIG, {
    emit: (e) => out.emitted.push(e),
    recompute: (r) => out.recomputed.push(r),
    probe: (deviceId, metric) => out.probed.push(`${deviceId}/${metric}`),
  })
  return { w, out }
}

describe('first buckets after start', () => {
  test('a new series is probed once; its first minute is written from memory when nothing stored before reaches it, recomputed when something does', () => {
    const { w, out } = windows()
    w.add(reading('aq-1', T + 10_000), T)
    w.add(reading('aq-2', T + 10_000), T)
    w.add(reading('aq-1', T + 20_000), T)
    expect(out.probed).toEqual(['aq-1/pm25', 'aq-2/pm25'])
    w.setPrevious('aq-1', 'pm25', T - 5 * MIN) // stored before the start, before this minute
    w.setPrevious('aq-2', 'pm25', T + 5_000) // inside it
    w.add(reading('aq-1', T + MIN + 1), T)
    w.add(reading('aq-2', T + MIN + 1), T)
    expect(out.emitted.filter((e) => e.resolution === '1m').map((e) => [e.deviceId, e.count])).toEqual([['aq-1', 2]])
    expect(out.recomputed.map((r) => [r.deviceId, r.resolution, r.correction])).toEqual([['aq-2', '1m', false]])
  })

  test('without an answer yet, a first bucket is recomputed, as before', () => {
    const { w, out } = windows()
    w.add(reading('aq-1', T + 10_000), T)
    w.add(reading('aq-1', T + MIN + 1), T)
    expect(out.emitted).toEqual([])
    expect(out.recomputed.map((r) => [r.deviceId, r.resolution])).toEqual([['aq-1', '1m']])
  })

  test('a device forgotten while idle is not probed when it comes back: what these windows stored of it is no longer in memory, so its first bucket is recomputed', () => {
    const { w, out } = windows()
    w.add(reading('aq-1', T + 10_000), T)
    w.setPrevious('aq-1', 'pm25', Number.NEGATIVE_INFINITY)
    w.closeAll()
    expect(out.emitted.map((e) => e.resolution)).toEqual(['1m', '1h'])
    w.closeIdle(T + 2 * 3_600_000) // forgotten
    // Back with a late reading for the minute already written: it must not overwrite that minute with itself alone.
    w.add(reading('aq-1', T + 30_000), T + 2 * 3_600_000)
    w.closeAll()
    expect(out.probed).toEqual(['aq-1/pm25'])
    expect(out.recomputed.map((r) => [r.deviceId, r.resolution, r.bucket - T])).toEqual([['aq-1', '1m', 0], ['aq-1', '1h', 0]])
    expect(out.emitted).toHaveLength(2)
  })
})

describe('minutes of one reading nobody takes', () => {
  test('are not made when the output says so; minutes of several readings and hours still are, and the order of the rest is kept', () => {
    const emitted: RollupEvent[] = []
    const w = new RollupWindows({ ...CONFIG, recomputeFirstBucket: false }, { emit: (e) => emitted.push(e), recompute: () => undefined, makeSingleReadingMinutes: () => false })
    for (let i = 0; i < 5; i++) w.add(reading('aq-1', T + i * 5 * MIN), T) // one reading in each of 5 minutes
    w.add(reading('aq-1', T + 30 * MIN), T)
    w.add(reading('aq-1', T + 30 * MIN + 1_000), T) // a minute of two
    w.add(reading('aq-1', T + 61 * MIN), T)
    w.closeAll()
    expect(emitted.map((e) => [e.resolution, (e.bucket - T) / MIN, e.count])).toEqual([['1m', 30, 2], ['1h', 0, 7], ['1h', 60, 1]])
    expect(w.counts.singleReadingMinutesNotMade).toBe(6)
  })
})

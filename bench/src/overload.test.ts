import { describe, expect, test } from 'vitest'
import { IndexRanges, MAX_INFLIGHT_CAP, memoryBounded, nothingAckedLost, openLoopInflightCap, peakOfSum } from './overload.ts'

describe('IndexRanges', () => {
  test('in-order acknowledgements make one range', () => {
    const r = new IndexRanges()
    for (let i = 10; i < 20; i++) r.add(i, 1)
    expect(r.toArray()).toEqual([10, 20])
    expect(r.total).toBe(10)
  })

  test('a gap (a failed message) starts a new range', () => {
    const r = new IndexRanges()
    r.add(0, 1)
    r.add(1, 1)
    r.add(3, 1)
    r.add(4, 2)
    expect(r.toArray()).toEqual([0, 2, 3, 6])
    expect(r.total).toBe(5)
  })

  test('is empty until something is added, and ignores empty adds', () => {
    const r = new IndexRanges()
    r.add(5, 0)
    expect(r.toArray()).toEqual([])
    expect(r.total).toBe(0)
  })

  test('a range starting at 0 is extended, not duplicated', () => {
    const r = new IndexRanges()
    r.add(0, 3)
    r.add(3, 3)
    expect(r.toArray()).toEqual([0, 6])
  })
})

describe('openLoopInflightCap', () => {
  test('never below the floor', () => {
    expect(openLoopInflightCap(1_000, 200, 5_000, 5_000)).toBe(5_000)
  })

  test('covers everything one connection is due in the phase, with 10% to spare', () => {
    // 200,000 msg/s over 200 connections for 15 s: 15,000 each.
    expect(openLoopInflightCap(200_000, 200, 15_000, 5_000)).toBe(16_500)
  })

  test('stays inside the 16-bit packet-id space', () => {
    expect(openLoopInflightCap(10_000_000, 200, 15_000, 5_000)).toBe(MAX_INFLIGHT_CAP)
  })

  test('falls back to the floor for a rate that is not a number', () => {
    expect(openLoopInflightCap(NaN, 200, 15_000, 5_000)).toBe(5_000)
  })
})

describe('memoryBounded', () => {
  test('passes within the factor', () => {
    expect(memoryBounded(400, 590).pass).toBe(true)
    expect(memoryBounded(400, 600).pass).toBe(true)
  })

  test('fails above it', () => {
    const v = memoryBounded(400, 601)
    expect(v.pass).toBe(false)
    expect(v.ratio).toBeCloseTo(1.5025)
  })

  test('fails without samples', () => {
    expect(memoryBounded(NaN, 500).pass).toBe(false)
  })
})

describe('nothingAckedLost', () => {
  test('passes when every acknowledged reading is stored', () => {
    expect(nothingAckedLost(100, 0, 100)).toBe(true)
    expect(nothingAckedLost(100, 0, 120)).toBe(true)
  })

  test('fails when an acknowledged reading is missing, even if the count is high enough', () => {
    expect(nothingAckedLost(100, 1, 120)).toBe(false)
    expect(nothingAckedLost(100, 0, 99)).toBe(false)
  })
})

describe('peakOfSum', () => {
  test('adds series at their latest values', () => {
    const a = [{ atMs: 0, value: 10 }, { atMs: 100, value: 50 }, { atMs: 200, value: 0 }]
    const b = [{ atMs: 50, value: 20 }, { atMs: 150, value: 40 }, { atMs: 250, value: 0 }]
    // 0: 10, 50: 30, 100: 70, 150: 90, 200: 40, 250: 0
    expect(peakOfSum([a, b])).toBe(90)
  })

  test('samples taken at the same instant count together', () => {
    expect(peakOfSum([[{ atMs: 0, value: 5 }, { atMs: 10, value: 0 }], [{ atMs: 10, value: 7 }]])).toBe(7)
  })

  test('is 0 without samples', () => {
    expect(peakOfSum([])).toBe(0)
    expect(peakOfSum([[], []])).toBe(0)
  })
})

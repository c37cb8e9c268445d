import { describe, expect, test } from 'vitest'
import { LATENCY_EDGES_MS, Timeline, drift, latencyHistogram, ratesFromCumulative, ratesOf } from './series.ts'

describe('Timeline', () => {
  test('counts events into buckets from the start', () => {
    const t = new Timeline(500, 1_000)
    t.add(1, 1_000)
    t.add(2, 1_499)
    t.add(5, 2_200)
    t.add(9, 999) // before the start: ignored
    expect(t.toArray()).toEqual([3, 0, 5])
  })

  test('stays bounded', () => {
    const t = new Timeline(10, 0, 3)
    t.add(1, 1_000_000)
    expect(t.toArray()).toEqual([])
  })

  test('refuses a zero bucket', () => {
    expect(() => new Timeline(0, 0)).toThrow(RangeError)
  })
})

describe('ratesOf', () => {
  test('adds generators bucket by bucket and divides by the bucket length', () => {
    expect(ratesOf([[10, 20], [30]], 500)).toEqual([
      { atSeconds: 0.5, perSecond: 80 },
      { atSeconds: 1, perSecond: 40 },
    ])
  })
})

describe('ratesFromCumulative', () => {
  test('turns a running total into rates between samples', () => {
    expect(ratesFromCumulative([{ atMs: 0, total: 0 }, { atMs: 2_000, total: 100 }, { atMs: 4_000, total: 300 }])).toEqual([
      { atSeconds: 2, perSecond: 50 },
      { atSeconds: 4, perSecond: 100 },
    ])
  })
})

describe('drift', () => {
  test('is flat for a constant series', () => {
    const d = drift(Array.from({ length: 9 }, (_, i) => ({ atSeconds: i * 5, value: 100 })))
    expect(d.change).toBe(0)
    expect(d.slopePerMinute).toBe(0)
  })

  test('shows growth of a rising series', () => {
    // +1 per second: 60 per minute; first third mean 1, last third mean 7.
    const d = drift(Array.from({ length: 9 }, (_, i) => ({ atSeconds: i, value: i })))
    expect(d.firstThird).toBe(1)
    expect(d.lastThird).toBe(7)
    expect(d.slopePerMinute).toBeCloseTo(60)
  })

  test('is NaN with too few points', () => {
    expect(drift([{ atSeconds: 0, value: 1 }]).change).toBeNaN()
  })
})

describe('latencyHistogram', () => {
  test('puts each latency in the bin whose lower edge it reaches', () => {
    const h = latencyHistogram([0.05, 0.1, 1, 1.5, 1e6])
    expect(h.total).toBe(5)
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(5)
    expect(h.counts[0]).toBe(2) // 0.05 (under the first edge) and 0.1
    expect(h.counts[LATENCY_EDGES_MS.indexOf(1)]).toBe(2) // 1 and 1.5 (the next edge is 1.58)
    expect(h.counts[h.counts.length - 1]).toBe(1) // open-ended last bin
  })
})

import { describe, expect, test } from 'vitest'
import { median, percentile, sortSamples, spread } from './stats.ts'

describe('median', () => {
  test.each([
    { values: [5], expected: 5 },
    { values: [3, 1, 2], expected: 2 },
    { values: [4, 1, 3, 2], expected: 2.5 },
    { values: [10, 10, 10, 1], expected: 10 },
    { values: [-1, -3, -2], expected: -2 },
  ])('of $values is $expected', ({ values, expected }) => {
    expect(median(values)).toBe(expected)
  })

  test('is NaN for no values', () => {
    expect(median([])).toBeNaN()
  })

  test('does not reorder its input', () => {
    const values = [3, 1, 2]
    median(values)
    expect(values).toEqual([3, 1, 2])
  })
})

describe('percentile (nearest rank)', () => {
  const oneToHundred = Float64Array.from({ length: 100 }, (_, i) => i + 1)

  test.each([
    { p: 0, expected: 1 },
    { p: 1, expected: 1 },
    { p: 50, expected: 50 },
    { p: 95, expected: 95 },
    { p: 99, expected: 99 },
    { p: 99.5, expected: 100 },
    { p: 100, expected: 100 },
  ])('p$p of 1..100 is $expected', ({ p, expected }) => {
    expect(percentile(oneToHundred, p)).toBe(expected)
  })

  test.each([
    { values: [7], p: 99, expected: 7 },
    { values: [1, 2], p: 50, expected: 1 },
    { values: [1, 2], p: 51, expected: 2 },
    { values: [1, 2, 3, 4, 1000], p: 80, expected: 4 },
    { values: [1, 2, 3, 4, 1000], p: 81, expected: 1000 },
  ])('p$p of $values is $expected, always an observed value', ({ values, p, expected }) => {
    expect(percentile(values, p)).toBe(expected)
  })

  test('is NaN for no values', () => {
    expect(percentile([], 50)).toBeNaN()
  })

  test.each([-1, 101, NaN])('refuses p = %s', (p) => {
    expect(() => percentile([1, 2, 3], p)).toThrow(RangeError)
  })
})

describe('sortSamples', () => {
  test('sorts numerically, not as strings', () => {
    expect([...sortSamples([10, 9, 100, 1.5])]).toEqual([1.5, 9, 10, 100])
  })

  test('leaves its input alone', () => {
    const samples = [3, 1, 2]
    sortSamples(samples)
    expect(samples).toEqual([3, 1, 2])
  })
})

describe('spread', () => {
  test('summarises rounds as median, min and max', () => {
    expect(spread([120, 100, 130])).toEqual({ median: 120, min: 100, max: 130, count: 3 })
  })

  test('is NaN throughout for no rounds', () => {
    const s = spread([])
    expect(s.count).toBe(0)
    expect(s.median).toBeNaN()
    expect(s.min).toBeNaN()
    expect(s.max).toBeNaN()
  })
})

import { describe, expect, test } from 'vitest'
import { RingBuffer } from '../web/src/ring.ts'

describe('RingBuffer', () => {
  test('keeps at most capacity points, oldest dropped first', () => {
    const ring = new RingBuffer(3, 1e9)
    for (let i = 1; i <= 5; i++) ring.push(i * 1000, i)
    expect(ring.size).toBe(3)
    expect(ring.toArrays()).toEqual({ times: [3000, 4000, 5000], values: [3, 4, 5] })
    expect(ring.toArrays(1000).times).toEqual([3, 4, 5])
  })

  test('drops points older than maxAge before the newest', () => {
    const ring = new RingBuffer(600, 10 * 60_000)
    ring.push(0, 1)
    ring.push(5 * 60_000, 2)
    ring.push(11 * 60_000, 3)
    expect(ring.toArrays().values).toEqual([2, 3])
  })

  test('keeps x sorted: an older point is dropped, the same time replaces the value', () => {
    const ring = new RingBuffer(10, 1e9)
    expect(ring.push(2000, 1)).toBe(true)
    expect(ring.push(1000, 9)).toBe(false)
    expect(ring.push(2000, 7)).toBe(true)
    expect(ring.toArrays()).toEqual({ times: [2000], values: [7] })
    expect(ring.lastTime).toBe(2000)
  })

  test('wraps around many times and stays in order', () => {
    const ring = new RingBuffer(600, 10 * 60_000)
    for (let i = 0; i < 5000; i++) ring.push(i * 100, i)
    const { times, values } = ring.toArrays()
    expect(times.length).toBe(600)
    expect(values[0]).toBe(4400)
    expect(values[599]).toBe(4999)
    expect(times.every((t, i) => i === 0 || t > (times[i - 1] ?? 0))).toBe(true)
  })

  test('clear empties it; a bad capacity is refused', () => {
    const ring = new RingBuffer(2, 1000)
    ring.push(1, 1)
    ring.clear()
    expect(ring.size).toBe(0)
    expect(ring.lastTime).toBeUndefined()
    expect(() => new RingBuffer(0, 1000)).toThrow(/positive integer/)
  })
})

import { describe, expect, test } from 'vitest'
import { ROW_STRIDE, Rows, countReadings } from './rows.ts'

describe('Rows', () => {
  test('compact keeps every row, in order, and the rows can still grow', () => {
    const rows = new Rows()
    rows.push(1_764_000_000_000, 'aq-1', 'pm25', 12.5, 0, 7, 0)
    rows.push(1_764_000_000_000, 'aq-1', 'pm10', 20.25, 0, 7, 0)
    const before = [...rows.data]
    rows.compact()
    expect(rows.data).toEqual(before)
    expect(rows.length).toBe(2)
    rows.push(1_764_000_001_000, 'aq-1', 'pm25', 13, 0, 8, 0)
    expect(rows.data).toHaveLength(3 * ROW_STRIDE)
    expect(rows.metric).toEqual(['pm25', 'pm10', 'pm25'])
    expect(countReadings(rows)).toBe(2)
  })
})

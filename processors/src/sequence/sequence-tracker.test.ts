import { describe, expect, test } from 'vitest'
import { Rows } from '@gridline/core'
import { SequenceTracker } from './sequence-tracker.ts'

const T0 = Date.UTC(2026, 10, 28, 3, 0, 0)
const at = (seq: number) => T0 + seq * 60_000

describe('SequenceTracker.observe', () => {
  test.each([
    ['in order', [1, 2, 3], ['first', 'next', 'next']],
    ['a gap', [1, 2, 5], ['first', 'next', 'gap']],
    ['a resend of the last reading', [1, 2, 2], ['first', 'next', 'duplicate']],
    ['a late arrival inside a gap', [1, 4, 2, 3, 3], ['first', 'gap', 'late', 'late', 'duplicate']],
  ])('%s', (_name, seqs, verdicts) => {
    const tracker = new SequenceTracker()
    expect((seqs as number[]).map((s) => tracker.observe('d', s, at(s)))).toEqual(verdicts)
  })

  test('late arrivals split and close gaps; the ledger lists what is still missing', () => {
    const tracker = new SequenceTracker()
    for (const s of [10, 20]) tracker.observe('d', s, at(s))
    expect(tracker.gaps('d').map((g) => [g.from, g.to])).toEqual([[11, 19]])
    tracker.observe('d', 15, at(15))
    tracker.observe('d', 11, at(11))
    tracker.observe('d', 19, at(19))
    expect(tracker.gaps('d').map((g) => [g.from, g.to])).toEqual([[12, 14], [16, 18]])
    expect(tracker.gaps('d')[0]).toMatchObject({ deviceId: 'd', after: at(10), before: at(20) })
    expect(tracker.openMissing).toBe(6)
    expect(tracker.missing).toBe(9)
    expect(tracker.lateFilled).toBe(3)
  })

  test('a counter reset with newer readings is a restart, not a flood of duplicates', () => {
    const tracker = new SequenceTracker()
    for (const s of [1, 2, 3, 4, 5]) tracker.observe('d', s, at(s))
    const afterReboot = [0, 1, 2].map((s, i) => tracker.observe('d', s, at(10 + i)))
    expect(afterReboot).toEqual(['restart', 'next', 'next'])
    expect(tracker.restarts).toBe(1)
    expect(tracker.duplicates).toBe(0)
  })

  test('a device that never increments seq loses nothing', () => {
    const tracker = new SequenceTracker()
    const verdicts = [0, 1, 2].map((i) => tracker.observe('d', 7, at(i)))
    expect(verdicts).not.toContain('duplicate')
  })

  test('a large drop is a restart even without newer time', () => {
    const tracker = new SequenceTracker({ restartDrop: 100 })
    tracker.observe('d', 5000, at(1))
    expect(tracker.observe('d', 3, at(1))).toBe('restart')
  })

  test('the ledger is bounded; below a forgotten gap nothing is called a duplicate', () => {
    const tracker = new SequenceTracker({ maxGapsPerDevice: 2 })
    for (const s of [1, 3, 5, 7]) tracker.observe('d', s, at(s))
    expect(tracker.gaps('d').map((g) => g.from)).toEqual([4, 6])
    expect(tracker.gapsForgotten).toBe(1)
    expect(tracker.observe('d', 2, at(2))).toBe('late')
    expect(tracker.observe('d', 1, at(1))).toBe('late')
  })

  test('changed devices are handed to the persister once', () => {
    const tracker = new SequenceTracker()
    for (const s of [1, 3]) tracker.observe('a', s, at(s))
    for (const s of [1, 2]) tracker.observe('b', s, at(s))
    expect([...tracker.takeChanged().keys()]).toEqual(['a'])
    expect(tracker.takeChanged().size).toBe(0)
    tracker.observe('a', 2, at(2))
    expect(tracker.takeChanged().get('a')).toEqual([])
  })

  test('restore brings persisted gaps back, and late arrivals still close them', () => {
    const tracker = new SequenceTracker()
    tracker.restore([{ deviceId: 'd', from: 4, to: 6, after: at(3), before: at(7) }])
    expect(tracker.observe('d', 5, at(5))).toBe('late')
    expect(tracker.observe('d', 8, at(8))).toBe('next')
    expect(tracker.gaps('d').map((g) => [g.from, g.to])).toEqual([[4, 4], [6, 6]])
  })
})

describe('SequenceTracker.apply', () => {
  test('removes the rows of duplicate readings and keeps everything else in order', () => {
    const tracker = new SequenceTracker()
    const first = new Rows()
    first.push(at(1), 'd', 'pm25', 10, 0, 1, 0)
    first.push(at(1), 'd', 'pm10', 20, 0, 1, 0)
    first.push(at(2), 'd', 'pm25', 11, 0, 2, 0)
    expect(tracker.apply(first)).toBe(0)

    const resend = new Rows()
    resend.push(at(2), 'd', 'pm25', 11, 0, 2, 0) // duplicate reading
    resend.push(at(9), 'other', 'pm25', 1, 0, -1, 0) // no seq: untouched
    resend.push(at(3), 'd', 'pm25', 12, 0, 3, 0)
    resend.push(at(3), 'd', 'pm10', 22, 0, 3, 0)
    resend.push(at(1), 'd', 'pm25', 10, 0, 1, 0) // duplicate again
    expect(tracker.apply(resend)).toBe(2)
    expect(resend.length).toBe(3)
    expect(resend.seq).toEqual([-1, 3, 3])
    expect(resend.metric).toEqual(['pm25', 'pm25', 'pm10'])
    expect(tracker.duplicates).toBe(2)
  })

  test('with dropDuplicates off, duplicates are only counted', () => {
    const tracker = new SequenceTracker({ dropDuplicates: false })
    const rows = new Rows()
    rows.push(at(1), 'd', 'pm25', 10, 0, 1, 0)
    rows.push(at(1), 'd', 'pm25', 10, 0, 1, 0) // same reading twice is one reading, adjacent
    rows.push(at(2), 'd', 'pm25', 10, 0, 2, 0)
    rows.push(at(1), 'd', 'pm25', 10, 0, 1, 0)
    expect(tracker.apply(rows)).toBe(0)
    expect(tracker.duplicates).toBe(1)
  })

  test('a duplicate of a message not yet committed is kept (storage dedups it); once committed, dropped', () => {
    const tracker = new SequenceTracker()
    const original = new Rows()
    original.push(at(1), 'd', 'pm25', 10, 0, 7, 0)
    expect(tracker.apply(original, { position: 5, committedThrough: 4 })).toBe(0)

    // The device resends over a new connection while message 5 is still being written.
    const early = new Rows()
    early.push(at(1), 'd', 'pm25', 10, 0, 7, 0)
    expect(tracker.apply(early, { position: 6, committedThrough: 4 })).toBe(0)
    expect(early.length).toBe(1)
    expect(tracker.duplicatesInFlight).toBe(1)

    const late = new Rows()
    late.push(at(1), 'd', 'pm25', 10, 0, 7, 0)
    expect(tracker.apply(late, { position: 9, committedThrough: 5 })).toBe(1)
    expect(late.length).toBe(0)
  })
})

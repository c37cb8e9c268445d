import fc from 'fast-check'
import { Rows } from '@gridline/processors'
import { MAX_TIMESTAMP_MS } from '@gridline/schemas'
import { expect, test } from 'vitest'
import type { Envelope } from '../../pipeline/envelope.ts'
import { IsoFormatter, encodeTelemetry } from './copy-encoding.ts'

test('IsoFormatter matches toISOString over the whole accepted range', () => {
  const iso = new IsoFormatter()
  fc.assert(fc.property(fc.integer({ min: 0, max: MAX_TIMESTAMP_MS }), (ms) => {
    expect(iso.format(ms)).toBe(new Date(ms).toISOString())
  }), { numRuns: 20_000 })
  for (const ms of [0, 999, 1000, 59_999, 3_599_999, 3_600_000, Date.parse('2026-12-31T23:59:59.999Z'), MAX_TIMESTAMP_MS]) {
    expect(iso.format(ms)).toBe(new Date(ms).toISOString())
  }
})

test('rows become COPY text lines, seq -1 as NULL', () => {
  const rows = new Rows()
  rows.push(Date.parse('2026-11-28T03:00:00Z'), 'aq-1', 'pm25', 35.2, 0, 1042, 0)
  rows.push(Date.parse('2026-11-28T03:00:00Z'), 'aq-1', 'temperature', 29.1, 1, -1, 1)
  const envelope = { receivedAt: Date.parse('2026-11-28T03:00:01.5Z'), decoded: { rows } } as Envelope
  expect(encodeTelemetry([envelope])).toBe(
    '2026-11-28T03:00:00.000Z\taq-1\tpm25\t35.2\t0\t1042\t2026-11-28T03:00:01.500Z\t0\n' +
    '2026-11-28T03:00:00.000Z\taq-1\ttemperature\t29.1\t1\t\\N\t2026-11-28T03:00:01.500Z\t1\n',
  )
})

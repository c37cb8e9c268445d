import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { fileDirection, resolveRepeatedTimes } from './ambiguous-times.ts'
import { loadDataset } from './dataset.ts'
import { ReplayMappingSchema } from './mapping.ts'
import { zoneResolver } from './zone.ts'

const dir = mkdtempSync(join(tmpdir(), 'gridline-replay-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let fileCount = 0
function csvFile(lines: string[]): string {
  const path = join(dir, `f${fileCount++}.csv`)
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}
const utc = (text: string) => Date.parse(`${text}Z`)

describe('time zones', () => {
  test.each([
    ['a summer time in Dublin', 'Europe/Dublin', '2023-07-01T12:00', ['2023-07-01T11:00']],
    ['a winter time in Dublin', 'Europe/Dublin', '2023-12-01T12:00', ['2023-12-01T12:00']],
    ['the hour skipped in Dublin (clocks forward at 01:00 GMT)', 'Europe/Dublin', '2023-03-26T01:30', []],
    ['the hour repeated in Dublin (clocks back at 02:00 IST)', 'Europe/Dublin', '2023-10-29T01:30', ['2023-10-29T00:30', '2023-10-29T01:30']],
    ['the hour repeated in New York', 'America/New_York', '2024-11-03T01:15', ['2024-11-03T05:15', '2024-11-03T06:15']],
    ['the hour skipped in New York', 'America/New_York', '2024-03-10T02:15', []],
    ['a fixed offset', '+07:00', '2025-04-01T07:00', ['2025-04-01T00:00']],
    ['UTC', 'Z', '2023-10-29T01:30', ['2023-10-29T01:30']],
  ])('%s', (_, zone, wall, expected) => {
    expect(zoneResolver(zone)(utc(wall))).toEqual(expected.map(utc))
  })

  test('an unknown zone is a mapping error with its path', () => {
    const parsed = ReplayMappingSchema.safeParse({ timestamp: { column: 't', zone: 'Europe/Atlantis' }, devices: [{ id: 'x', domain: 'energy', metrics: { power: 'v' } }] })
    expect(parsed.success).toBe(false)
    expect(parsed.error?.issues[0]?.path).toEqual(['timestamp', 'zone'])
    expect(parsed.error?.issues[0]?.message).toMatch(/IANA zone/)
  })
})

describe('repeated local times follow the file order', () => {
  test('direction is what most steps do', () => {
    expect(fileDirection([1, 2, 3, 2, 4])).toBe(1)
    expect(fileDirection([5, 4, 4, 3, 4, 1])).toBe(-1)
    expect(fileDirection([])).toBe(1)
  })

  test('forward files: first occurrence earlier; newest-first files: second occurrence earlier', () => {
    const repeats = [{ key: 'a', instants: [10, 20] }, { key: 'b', instants: [30, 40] }, { key: 'a', instants: [10, 20] }, { key: 'a', instants: [10, 20] }]
    expect(resolveRepeatedTimes(repeats, 1)).toEqual([10, 30, 20, 20])
    expect(resolveRepeatedTimes(repeats, -1)).toEqual([20, 30, 20, 10])
  })
})

const DUBLIN_LONG = ReplayMappingSchema.parse({
  timestamp: { column: 'time', format: 'DD-MM-YYYY HH:mm', zone: 'Europe/Dublin' },
  order: 'time',
  devices: [{ id: 'meter-{meter}', domain: 'energy', pivot: { key: 'kind', value: 'value', metrics: { imp: 'energy_import', exp: { metric: 'energy_export', scale: 1000 } } } }],
})

// Chronological; the test reverses it to get a newest-first file like ESB's.
const LONG_ROWS = [
  'm1,imp,1,26-03-2023 00:30',
  'm1,exp,0,26-03-2023 00:30',
  'm1,imp,2,26-03-2023 01:30', // does not exist in Dublin
  'm1,imp,3,26-03-2023 02:00',
  'm1,imp,10,29-10-2023 01:00', // summer time
  'm1,exp,0.001,29-10-2023 01:00',
  'm1,imp,11,29-10-2023 01:30',
  'm1,imp,12,29-10-2023 01:00', // winter time
  'm1,exp,0.002,29-10-2023 01:00',
  'm1,imp,13,29-10-2023 01:30',
  'm1,imp,14,29-10-2023 02:00',
  'm1,reactive,7,29-10-2023 02:00', // key the pivot does not name
  'm1,exp,N/A,29-10-2023 02:30', // the only row of 02:30, without a value
]
const EXPECTED_ROWS = [
  { ts: utc('2023-03-26T00:30'), readings: [{ device: 0, values: { energy_import: 1, energy_export: 0 } }] },
  { ts: utc('2023-03-26T01:00'), readings: [{ device: 0, values: { energy_import: 3 } }] },
  { ts: utc('2023-10-29T00:00'), readings: [{ device: 0, values: { energy_import: 10, energy_export: 1 } }] },
  { ts: utc('2023-10-29T00:30'), readings: [{ device: 0, values: { energy_import: 11 } }] },
  { ts: utc('2023-10-29T01:00'), readings: [{ device: 0, values: { energy_import: 12, energy_export: 2 } }] },
  { ts: utc('2023-10-29T01:30'), readings: [{ device: 0, values: { energy_import: 13 } }] },
  { ts: utc('2023-10-29T02:00'), readings: [{ device: 0, values: { energy_import: 14 } }] },
]

describe('long files', () => {
  test.each([
    ['oldest first', LONG_ROWS, 0, 0],
    ['newest first', [...LONG_ROWS].reverse(), 6, 6],
  ])('%s: rows merge per device and time, DST repeats and holes handled, time order', (_, rows, outOfOrder, reordered) => {
    const ds = loadDataset(csvFile(['meter,kind,value,time', ...rows]), DUBLIN_LONG)
    expect(ds.devices).toEqual([{ id: 'meter-m1', domain: 'energy' }])
    expect(ds.files[0]!.rows).toEqual(EXPECTED_ROWS)
    expect(ds.counts).toMatchObject({
      rows: 13,
      readings: 7,
      readingsUnmapped: { timestamp_invalid: 1, device_id_invalid: 0, no_values: 1, key_unmapped: 1 },
      valuesMissing: 1,
      localTimesNonexistent: 1,
      localTimesRepeated: 6,
      pivotDuplicates: 0,
      rowsOutOfOrder: outOfOrder,
      rowsReordered: reordered,
    })
  })

  test('a repeated device, time and metric is a further reading, counted', () => {
    const ds = loadDataset(csvFile(['meter,kind,value,time', 'm1,imp,1,01-07-2024 10:00', 'm1,exp,2,01-07-2024 10:00', 'm1,imp,3,01-07-2024 10:00', 'm2,imp,4,01-07-2024 10:00']), DUBLIN_LONG)
    expect(ds.files[0]!.rows).toEqual([{ ts: utc('2024-07-01T09:00'), readings: [
      { device: 0, values: { energy_import: 1, energy_export: 2000 } },
      { device: 0, values: { energy_import: 3 } },
      { device: 1, values: { energy_import: 4 } },
    ] }])
    expect(ds.counts.pivotDuplicates).toBe(1)
    expect(ds.counts.readings).toBe(3)
  })

  test('a device needs metrics or a pivot, not both', () => {
    const both = ReplayMappingSchema.safeParse({ timestamp: { column: 't' }, devices: [{ id: 'x', domain: 'energy', metrics: { power: 'v' }, pivot: { key: 'k', value: 'v', metrics: { a: 'power' } } }] })
    const neither = ReplayMappingSchema.safeParse({ timestamp: { column: 't' }, devices: [{ id: 'x', domain: 'energy' }] })
    expect(both.error?.issues[0]?.message).toMatch(/either metrics .* or pivot/)
    expect(neither.success).toBe(false)
  })

  test('an invalid pivot metric name is a mapping error', () => {
    const mapping = ReplayMappingSchema.parse({ timestamp: { column: 'time' }, devices: [{ id: 'x', domain: 'energy', pivot: { key: 'kind', value: 'value', metrics: { imp: 'Energy Import' } } }] })
    expect(() => loadDataset(csvFile(['meter,kind,value,time']), mapping)).toThrow(/"Energy Import" is not a valid metric name/)
  })
})

describe('wide files in a zone with summer time', () => {
  const mapping = (order: 'recorded' | 'time') => ReplayMappingSchema.parse({
    timestamp: { column: 't', format: 'YYYY-MM-DD HH:mm', zone: 'Europe/Dublin' },
    order,
    devices: [{ id: 'probe', domain: 'environment', metrics: { temperature: 'v' } }],
  })

  test('the repeated hour is placed by file order; a skipped time is invalid', () => {
    const file = csvFile(['t,v', '2023-10-29 01:00,1', '2023-10-29 01:30,2', '2023-10-29 01:00,3', '2023-10-29 01:30,4', '2024-03-31 01:30,5'])
    const ds = loadDataset(file, mapping('recorded'))
    expect(ds.files[0]!.rows.map((r) => r.ts)).toEqual(['2023-10-29T00:00', '2023-10-29T00:30', '2023-10-29T01:00', '2023-10-29T01:30'].map(utc))
    expect(ds.counts.readingsUnmapped.timestamp_invalid).toBe(1)
    expect(ds.counts.localTimesNonexistent).toBe(1)
  })

  test('order: recorded keeps (and counts) rows out of order; order: time sorts them stably', () => {
    const file = csvFile(['t,v', '2024-01-01 10:00,1', '2024-01-01 09:00,2', '2024-01-01 10:00,3', '2024-01-01 11:00,4'])
    const recorded = loadDataset(file, mapping('recorded'))
    expect(recorded.files[0]!.rows.map((r) => r.readings[0]!.values.temperature)).toEqual([1, 2, 3, 4])
    expect(recorded.counts).toMatchObject({ rowsOutOfOrder: 1, rowsReordered: 0 })
    const sorted = loadDataset(file, mapping('time'))
    expect(sorted.files[0]!.rows.map((r) => r.readings[0]!.values.temperature)).toEqual([2, 1, 3, 4])
    expect(sorted.counts).toMatchObject({ rowsOutOfOrder: 1, rowsReordered: 2 })
  })
})

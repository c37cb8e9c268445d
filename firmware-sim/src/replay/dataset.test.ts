import { datasetPath } from '../../../test/support.ts'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import { parseDelimited } from './csv.ts'
import { type LoadedDataset, type ReplayRow, expandDevices, loadDataset, mergeFiles, slug } from './dataset.ts'
import { ReplayMappingSchema, loadMapping } from './mapping.ts'
import { timestampParser } from './timestamp.ts'

const DATASETS = datasetPath('.')
const mappingFile = (name: string) => fileURLToPath(new URL(`../../mappings/${name}.yaml`, import.meta.url))

describe('shipped mappings on the real data sets', () => {
  test('01 HCMC: semicolon rows, UTC times, ragged rows still mapped', () => {
    const ds = loadDataset(`${DATASETS}/01_hcmc_nhabe_sensor_community`, loadMapping(mappingFile('01_hcmc_nhabe_sensor_community')), { maxRows: 300 })
    expect(ds.devices).toEqual([{ id: 'hcmc-nhabe-esp8266-12779556', domain: 'environment' }])
    const first = ds.files[0]!.rows[0]!
    expect(first.ts).toBe(Date.parse('2018-10-08T09:21:52Z'))
    // The first rows have no temperature or humidity: those cells are counted as missing.
    expect(first.readings[0]!.values).toEqual({ pm10: 31.52, pm25: 27.22 })
    expect(ds.counts.rows).toBe(300)
    expect(ds.counts.raggedRows).toBe(300)
    expect(ds.counts.valuesMissing).toBeGreaterThan(0)
  })

  test('02 IQAir: N/A cells skipped, units stripped, city names turned into ids', () => {
    const ds = loadDataset(`${DATASETS}/02_vietnam_iqair_city_hourly/aqi_da-nang_2025_apr.csv`, loadMapping(mappingFile('02_vietnam_iqair_city_hourly')), { maxRows: 50 })
    expect(ds.devices.map((d) => d.id)).toEqual(['iqair-da-nang'])
    const first = ds.files[0]!.rows[0]!
    expect(first.ts).toBe(Date.parse('2025-04-01T00:01:19.953+07:00'))
    expect(first.readings[0]!.values).toEqual({ aqi: 33, pm25: 6, temperature: 20, humidity: 83, wind_speed: 5.138893 })
    expect(ds.counts.valuesMissing).toBeGreaterThan(0)
    expect(ds.counts.valuesUnparseable).toBe(0)
  })

  test('03 Aarhus: one device per report id, local summer time', () => {
    const ds = loadDataset(`${DATASETS}/03_aarhus_traffic_citypulse/AarhusTrafficData158505.csv`, loadMapping(mappingFile('03_aarhus_traffic_citypulse')), { maxRows: 10 })
    expect(ds.devices).toEqual([{ id: 'aarhus-158505', domain: 'traffic' }])
    expect(ds.files[0]!.rows[0]).toEqual({ ts: Date.parse('2014-08-01T05:50:00Z'), readings: [{ device: 0, values: { vehicle_count: 1, avg_speed: 52 } }] })
  })

  test('04 BATADAL: 31 devices per row, units converted, leading spaces tolerated', () => {
    const mapping = loadMapping(mappingFile('04_batadal_ctown_water_SIMULATED'))
    const ds = loadDataset(`${DATASETS}/04_batadal_ctown_water_SIMULATED/BATADAL_dataset04.csv`, mapping, { maxRows: 5 })
    expect(ds.devices).toHaveLength(31)
    const row = ds.files[0]!.rows[0]!
    expect(row.ts).toBe(Date.parse('2016-07-04T00:00:00Z'))
    const byId = Object.fromEntries(row.readings.map((r) => [ds.devices[r.device]!.id, r.values]))
    expect(byId['ctown-tank-t1']).toEqual({ level: 2.44 })
    expect(byId['ctown-pump-pu1']).toEqual({ flow: 337.068, pump_on: true })
    expect(byId['ctown-pump-pu3']).toEqual({ flow: 0, pump_on: false })
    expect(byId['ctown-junction-j280']!.pressure).toBeCloseTo(2.98 * 0.0980665, 6)
  })
})

describe('device entries that follow the header', () => {
  const header = ['DATETIME', 'L_T1', 'L_T12', 'F_PU3', 'S_PU3', 'pm25', 'o3', 'city', 'humidity']
  const entries = ReplayMappingSchema.parse({
    timestamp: { column: 'DATETIME' },
    devices: [
      { eachColumn: 'L_T(\\d+)', id: 'tank-$1', domain: 'water', metrics: { level: '$0' } },
      { eachColumn: 'F_PU(\\d+)', id: 'pump-$1', domain: 'water', metrics: { flow: { column: '$0', scale: 3.6 }, pump_on: { column: 'S_PU$1', boolean: true } } },
      { id: 'air-1', domain: 'environment', catalogueMetrics: true, metrics: { humidity: { column: 'humidity', suffix: '%' } } },
    ],
  }).devices

  test('eachColumn makes one device per matching column, with $0 and $1 filled in', () => {
    const devices = expandDevices(entries, header)
    expect(devices.slice(0, 3).map((d) => [d.id, d.metrics])).toEqual([
      ['tank-1', { level: expect.objectContaining({ column: 'L_T1', scale: 1 }) }],
      ['tank-12', { level: expect.objectContaining({ column: 'L_T12' }) }],
      ['pump-3', { flow: expect.objectContaining({ column: 'F_PU3', scale: 3.6 }), pump_on: expect.objectContaining({ column: 'S_PU3', boolean: true }) }],
    ])
  })

  test('catalogueMetrics takes every column named like a metric of the domain; explicit metrics win', () => {
    const air = expandDevices(entries, header).find((d) => d.id === 'air-1')!
    expect(Object.keys(air.metrics!).sort()).toEqual(['humidity', 'o3', 'pm25'])
    expect(air.metrics!.humidity).toMatchObject({ column: 'humidity', suffix: '%' })
  })

  test('a device with neither metrics, catalogueMetrics nor pivot is refused', () => {
    expect(() => ReplayMappingSchema.parse({ timestamp: { column: 't' }, devices: [{ id: 'x', domain: 'water' }] })).toThrow(/either metrics or catalogueMetrics/)
  })
})

describe('05 ESB smart meter: long file, newest first, Irish local time', () => {
  let ds: LoadedDataset
  let rows: ReplayRow[]
  beforeAll(() => {
    ds = loadDataset(`${DATASETS}/05_esb_smart_meter_ireland`, loadMapping(mappingFile('05_esb_smart_meter_ireland')))
    rows = ds.files[0]!.rows
  })
  const at = (iso: string) => rows.find((r) => r.ts === Date.parse(iso))?.readings[0]?.values
  const countOf = (metric: string) => rows.filter((r) => metric in r.readings[0]!.values).length

  test('every row read; import and export merge into one reading per interval (README: 55,691 rows, 31,783 import, 23,908 export)', () => {
    expect(ds.devices).toEqual([{ id: 'esb-meter-1', domain: 'energy' }])
    expect(ds.counts).toMatchObject({
      files: 1,
      rows: 55_691,
      raggedRows: 0,
      readingsUnmapped: { timestamp_invalid: 0, device_id_invalid: 0, no_values: 0, key_unmapped: 0 },
      valuesMissing: 0,
      valuesUnparseable: 0,
      pivotDuplicates: 0,
    })
    expect(countOf('energy_import')).toBe(31_783)
    expect(countOf('energy_export')).toBe(23_908)
    // 19 intervals of 3 October 2023 have an export row and no import row.
    expect(ds.counts.readings).toBe(31_802)
    expect(rows.every((r) => r.readings.length === 1)).toBe(true)
    const zeros = rows.flatMap((r) => Object.values(r.readings[0]!.values)).filter((v) => v === 0).length
    expect(zeros).toBe(19_406)
  })

  test('replayed oldest first: the newest-first file is sorted and counted', () => {
    expect(rows[0]!.ts).toBe(Date.parse('2022-12-09T00:00:00Z'))
    expect(rows.at(-1)!.ts).toBe(Date.parse('2024-10-04T00:00:00Z')) // 04-10-2024 01:00 Irish summer time
    expect(rows.every((r, i) => i === 0 || r.ts > rows[i - 1]!.ts)).toBe(true)
    expect(ds.counts.rowsOutOfOrder).toBe(31_801)
    expect(ds.counts.rowsReordered).toBe(31_802)
  })

  test('clocks back on 29-10-2023: the repeated 01:00 and 01:30 become four half hours, earlier-in-time as summer time', () => {
    expect(ds.counts.localTimesRepeated).toBe(8)
    // In the file the winter-time pair comes first (newest first): import 0.1300 at 01:00 and 0.1265 at 01:30.
    expect(at('2023-10-29T00:00:00Z')).toEqual({ energy_import: 0.133, energy_export: 0 })
    expect(at('2023-10-29T00:30:00Z')).toEqual({ energy_import: 0.138, energy_export: 0 })
    expect(at('2023-10-29T01:00:00Z')).toEqual({ energy_import: 0.13, energy_export: 0 })
    expect(at('2023-10-29T01:30:00Z')).toEqual({ energy_import: 0.1265, energy_export: 0 })
    const night = rows.filter((r) => r.ts >= Date.parse('2023-10-28T22:00:00Z') && r.ts <= Date.parse('2023-10-29T03:00:00Z'))
    expect(night.map((r) => r.ts - night[0]!.ts)).toEqual(night.map((_, i) => i * 1_800_000))
  })

  test('clocks forward: the local hole (no 01:00 or 01:30) is no gap in time', () => {
    expect(ds.counts.localTimesNonexistent).toBe(0)
    for (const day of ['2023-03-26', '2024-03-31']) {
      const night = rows.filter((r) => r.ts >= Date.parse(`${day}T00:00:00Z`) && r.ts <= Date.parse(`${day}T03:00:00Z`))
      expect(night.map((r) => r.ts - night[0]!.ts)).toEqual(night.map((_, i) => i * 1_800_000))
    }
    expect(at('2024-03-31T00:30:00Z')).toEqual({ energy_import: 0.2665, energy_export: 0 }) // 00:30 GMT
    expect(at('2024-03-31T01:00:00Z')).toEqual({ energy_import: 0.2535, energy_export: 0 }) // 02:00 IST
  })

  test('outages stay gaps, as recorded', () => {
    const gaps = rows.flatMap((r, i) => (i > 0 && r.ts - rows[i - 1]!.ts > 1_800_000 ? [[rows[i - 1]!.ts, r.ts].map((t) => new Date(t).toISOString().slice(0, 16))] : []))
    expect(gaps).toEqual([
      ['2023-10-13T07:00', '2023-10-13T08:00'],
      ['2024-01-23T15:30', '2024-01-24T00:00'],
      ['2024-02-03T17:30', '2024-02-03T19:00'],
      ['2024-07-17T17:30', '2024-07-19T00:00'], // README: 2024-07-17 18:30 .. 2024-07-19 01:00 Irish time
      ['2024-10-02T00:00', '2024-10-02T20:30'],
    ])
  })
})

describe('defects are counted, never fatal', () => {
  test('bad times, bad ids and rows without values are counted by reason', () => {
    const mapping = ReplayMappingSchema.parse({
      timestamp: { column: 't', format: 'YYYY-MM-DD HH:mm' },
      devices: [{ id: 'dev-{name}', domain: 'environment', metrics: { pm25: 'v' } }],
    })
    const dir = fileURLToPath(new URL('./fixtures/', import.meta.url))
    const ds = loadDataset(`${dir}defects.csv`, mapping)
    expect(ds.counts.readingsUnmapped).toEqual({ timestamp_invalid: 2, device_id_invalid: 1, no_values: 2, key_unmapped: 0 })
    expect(ds.counts.valuesUnparseable).toBe(1)
    expect(ds.counts.readings).toBe(2)
  })

  test('a column the header lacks is a mapping error naming the column', () => {
    const mapping = ReplayMappingSchema.parse({ timestamp: { column: 'when' }, devices: [{ id: 'x', domain: 'traffic', metrics: { avg_speed: 's' } }] })
    const dir = fileURLToPath(new URL('./fixtures/', import.meta.url))
    expect(() => loadDataset(`${dir}defects.csv`, mapping)).toThrow(/Column "when"/)
  })
})

test('files merge by time while each keeps its own order', () => {
  const row = (ts: number) => ({ ts, readings: [] })
  const merged = [...mergeFiles([{ name: 'a', rows: [row(1), row(5), row(3)] }, { name: 'b', rows: [row(2), row(4)] }])]
  expect(merged.map((r) => r.ts)).toEqual([1, 2, 4, 5, 3])
})

test('helpers', () => {
  expect(slug('Đà Nẵng')).toBe('da-nang')
  expect(slug('Hồ Chí Minh')).toBe('ho-chi-minh')
  expect(parseDelimited('a,"b,""c"""\r\n1,2\n')).toEqual([['a', 'b,"c"'], ['1', '2']])
  expect(timestampParser('DD/MM/YY HH')('04/07/16 13')).toBe(Date.parse('2016-07-04T13:00:00Z'))
  expect(timestampParser('DD/MM/YY HH')('31/04/16 13')).toBeUndefined()
  expect(timestampParser('iso', '+02:00')('2014-08-01T07:50:00')).toBe(Date.parse('2014-08-01T05:50:00Z'))
})

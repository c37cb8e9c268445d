import { datasetPath } from '../../../test/support.ts'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { parseDelimited } from './csv.ts'
import { loadDataset, mergeFiles, slug } from './dataset.ts'
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

describe('defects are counted, never fatal', () => {
  test('bad times, bad ids and rows without values are counted by reason', () => {
    const mapping = ReplayMappingSchema.parse({
      timestamp: { column: 't', format: 'YYYY-MM-DD HH:mm' },
      devices: [{ id: 'dev-{name}', domain: 'environment', metrics: { pm25: 'v' } }],
    })
    const dir = fileURLToPath(new URL('./fixtures/', import.meta.url))
    const ds = loadDataset(`${dir}defects.csv`, mapping)
    expect(ds.counts.readingsUnmapped).toEqual({ timestamp_invalid: 2, device_id_invalid: 1, no_values: 2 })
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

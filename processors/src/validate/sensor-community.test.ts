import { RowFlags, defaultCatalogue } from '@gridline/schemas'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { DecodeOptions } from './reading-validator.ts'
import { decodeSensorCommunity, sensorCommunityChipId, sensorCommunityMetric } from './sensor-community.ts'
import { ServerClock } from './server-clock.ts'

const NOW = Date.parse('2026-12-06T03:00:00Z')
const options: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: 0, rejectedPayloadMaxBytes: 4096 }
const decode = (body: unknown, opts: DecodeOptions = options, clock = new ServerClock()) =>
  decodeSensorCommunity(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), 'aq-nhabe', 'environment', NOW, { ...opts, serverClock: clock })

/** The firmware's body, as airrohr NRZ-2024-135 sends it to "own API". */
const firmwareBody = (values: Record<string, string>) => ({
  esp8266id: '12779556',
  software_version: 'NRZ-2024-135',
  sensordatavalues: Object.entries(values).map(([value_type, value]) => ({ value_type, value })),
})

describe('the firmware\'s body', () => {
  test('string values, mapped to catalogue metrics; diagnostics ignored and counted; stamped with the receive time', () => {
    const d = decode(firmwareBody({ SDS_P1: '31.52', SDS_P2: '27.22', temperature: '27.70', humidity: '93.60', samples: '642046', min_micro: '216', max_micro: '43243', interval: '145000', signal: '-53' }))
    expect(d.decoded.rejections).toEqual([])
    expect(d.decoded.readings).toBe(1)
    expect(d.decoded.rows.metric).toEqual(['pm10', 'pm25', 'temperature', 'humidity'])
    expect(d.decoded.rows.value).toEqual([31.52, 27.22, 27.7, 93.6])
    expect(d.decoded.rows.time).toEqual([NOW, NOW, NOW, NOW])
    expect(d.decoded.rows.flags[0]! & RowFlags.SERVER_TIME).toBe(RowFlags.SERVER_TIME)
    expect(Object.fromEntries(d.ignored)).toEqual({ samples: 1, min_micro: 1, max_micro: 1, interval: 1, signal: 1 })
  })

  test('BME280 pressure from Pa to hPa; PMS, SPS30, NextPM, SCD30 and DNMS types', () => {
    const d = decode(firmwareBody({ BME280_temperature: '30.1', BME280_humidity: '70.2', BME280_pressure: '100512.34', PMS_P0: '5', SPS30_P4: '9', NPM_P2: '8.5', SCD30_co2: '612', DNMS_noise_LAeq: '61.3', DNMS_noise_LA_min: '50.1', DNMS_noise_LA_max: '77.9' }))
    expect(d.decoded.rejections).toEqual([])
    expect(Object.fromEntries(d.decoded.rows.metric.map((m, i) => [m, d.decoded.rows.value[i]]))).toEqual({
      temperature: 30.1, humidity: 70.2, pressure: 1005.1234, pm1: 5, pm4: 9, pm25: 8.5, co2: 612, noise: 61.3, noise_min: 50.1, noise_max: 77.9,
    })
  })

  test('two POSTs in one millisecond get distinct times (unique per device)', () => {
    const clock = new ServerClock()
    const a = decode(firmwareBody({ SDS_P1: '1' }), options, clock)
    const b = decode(firmwareBody({ SDS_P1: '2' }), options, clock)
    expect(b.decoded.rows.time[0]).toBeGreaterThan(a.decoded.rows.time[0]!)
  })

  test('unknown value types meet the unknown-metric policy', () => {
    expect(decode(firmwareBody({ SDS_P1: '1', SPS30_N05: '12' })).decoded.rejections.map((r) => r.reason)).toEqual(['metric_unknown'])
    const stored = decode(firmwareBody({ SPS30_N05: '12' }), { ...options, unknownMetrics: 'store' })
    expect(stored.decoded.rows.metric).toEqual(['sps30_n05'])
  })
})

describe('bad input: a clear reason, good values kept', () => {
  test.each([
    ['not JSON', '{"esp8266id":', 'json_malformed'],
    ['no sensordatavalues', { esp8266id: '1' }, 'payload_not_object'],
    ['an array', [1], 'payload_not_object'],
    ['empty values', { sensordatavalues: [] }, 'batch_empty'],
  ])('%s', (_name, body, reason) => {
    const d = decode(body)
    expect(d.decoded.rows.length).toBe(0)
    expect(d.decoded.rejections.map((r) => r.reason)).toEqual([reason])
  })

  test('a value that is no number, an entry that is no object, a metric given twice', () => {
    const d = decode({ sensordatavalues: [{ value_type: 'SDS_P1', value: '12,3' }, 7, { value_type: 'SDS_P2', value: '4.1' }, { value_type: 'PMS_P2', value: '4.4' }, { value_type: 'temperature', value: '' }] })
    expect(d.decoded.rows.metric).toEqual(['pm25'])
    expect(d.decoded.rows.value).toEqual([4.1])
    expect(d.decoded.rejections.map((r) => [r.reason, r.detail])).toEqual([
      ['value_invalid', 'SDS_P1 is the string "12,3", expected a number (as the firmware\'s string, e.g. "12.30")'],
      ['reading_not_object', 'sensordatavalues[1] is the number 7, expected {"value_type": "...", "value": "..."}'],
      ['value_invalid', 'PMS_P2 is pm25 too, which SDS_P2 already gave in this message; the first is kept'],
      ['value_invalid', 'temperature is the string "", expected a number (as the firmware\'s string, e.g. "12.30")'],
    ])
  })

  test('never throws (fuzz)', () => {
    fc.assert(fc.property(fc.jsonValue(), (body) => {
      const d = decode({ sensordatavalues: Array.isArray(body) ? body : [body] })
      expect(d.decoded.rows.length + d.decoded.rejections.length + d.ignored.size).toBeGreaterThanOrEqual(0)
    }), { numRuns: 300 })
  })
})

test('chip ids and value types', () => {
  expect(sensorCommunityChipId('esp8266-12779556')).toBe('12779556')
  expect(sensorCommunityChipId('esp32-a1b2c3')).toBe('a1b2c3')
  expect(sensorCommunityChipId('aq-1')).toBeNull()
  expect(sensorCommunityMetric('SDS_P2')).toEqual({ metric: 'pm25' })
  expect(sensorCommunityMetric('signal')).toBeNull()
  expect(sensorCommunityMetric('Foo_Bar')).toEqual({ metric: 'foo_bar' })
})

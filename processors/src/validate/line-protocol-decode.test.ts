import { defaultCatalogue } from '@gridline/schemas'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { Principal } from './decode.ts'
import { type LineDevice, type LineMapping, decodeLineProtocol } from './line-protocol-decode.ts'
import type { DecodeOptions } from './reading-validator.ts'
import { ServerClock } from './server-clock.ts'

const NOW = Date.parse('2026-12-06T03:00:00Z')
const DEVICES: Record<string, LineDevice & { gateway: string | null }> = {
  'aq-1': { id: 'aq-1', domain: 'environment', gateway: 'gw-1' },
  'aq-2': { id: 'aq-2', domain: 'environment', gateway: null },
  'pump-7': { id: 'pump-7', domain: 'water', gateway: 'gw-1' },
  'gw-1': { id: 'gw-1', domain: null, gateway: null },
}
const options: DecodeOptions = {
  catalogue: defaultCatalogue(),
  maxFutureSkewMs: 300_000,
  minTimestampMs: Date.parse('2000-01-01T00:00:00Z'),
  rejectedPayloadMaxBytes: 4096,
  directory: { get: (id) => DEVICES[id] },
}
const mapping = (over: Partial<LineMapping> = {}): LineMapping => ({
  deviceTags: ['device'],
  rename: new Map(),
  lookup: (value) => DEVICES[value] ?? (value === 'esp8266-12779556' ? DEVICES['aq-2'] : undefined),
  ...over,
})
const gateway: Principal = { kind: 'gateway', id: 'gw-1' }
const device: Principal = { kind: 'device', id: 'aq-1', domain: 'environment' }
const decode = (body: string, principal: Principal | null = gateway, m = mapping(), precision: 'ns' | 'ms' | 's' = 'ns') =>
  decodeLineProtocol(Buffer.from(body), precision, principal, NOW, { ...options, serverClock: new ServerClock() }, m)

const rowsOf = (d: ReturnType<typeof decode>) => d.decoded.rows.time.map((time, i) => ({ time, device: d.decoded.rows.deviceId[i], metric: d.decoded.rows.metric[i], value: d.decoded.rows.value[i] }))

describe('points to readings', () => {
  test('a field named like a catalogue metric is that metric; the timestamp in its precision', () => {
    const d = decode('env,device=aq-1 pm25=21.5,temperature=29i 1733454000000000000\nflow,device=pump-7 flow=120.5 1733454000000000001')
    expect(d.decoded.rejections).toEqual([])
    expect(d.decoded.readings).toBe(2)
    expect(rowsOf(d)).toEqual([
      { time: 1733454000000, device: 'aq-1', metric: 'pm25', value: 21.5 },
      { time: 1733454000000, device: 'aq-1', metric: 'temperature', value: 29 },
      { time: 1733454000000, device: 'pump-7', metric: 'flow', value: 120.5 },
    ])
  })

  test('precision s and ms', () => {
    expect(rowsOf(decode('env,device=aq-1 pm25=1 1733454000', gateway, mapping(), 's'))[0]!.time).toBe(1733454000000)
    expect(rowsOf(decode('env,device=aq-1 pm25=1 1733454000123', gateway, mapping(), 'ms'))[0]!.time).toBe(1733454000123)
  })

  test('a field "value" takes the measurement as its metric; renames, longer key first', () => {
    const m = mapping({ deviceTags: ['host', 'device'], rename: new Map([['temp', 'temperature'], ['env.rh', 'humidity'], ['rh', 'noise']]) })
    const d = decode('pm10,host=aq-1 value=40 1733454000000000000\nenv,host=aq-1 temp=30,rh=80 1733454001000000000', gateway, m)
    expect(d.decoded.rejections).toEqual([])
    expect(rowsOf(d).map((r) => [r.metric, r.value])).toEqual([['pm10', 40], ['temperature', 30], ['humidity', 80]])
  })

  test('airrohr\'s InfluxDB body: node tag with the chip id, feinstaub fields, diagnostics ignored and counted', () => {
    const m = mapping({ deviceTags: ['node'] })
    const d = decode('feinstaub,node=esp8266-12779556 SDS_P1=31.52,SDS_P2=27.22,temperature=27.7,humidity=93.6,BME280_pressure=100512.34,samples=642046,min_micro=216,max_micro=43243,signal=-53', { kind: 'device', id: 'aq-2', domain: 'environment' }, m)
    expect(d.decoded.rejections).toEqual([])
    expect(rowsOf(d).map((r) => [r.device, r.metric, r.value])).toEqual([
      ['aq-2', 'pm10', 31.52], ['aq-2', 'pm25', 27.22], ['aq-2', 'temperature', 27.7], ['aq-2', 'humidity', 93.6], ['aq-2', 'pressure', 1005.1234],
    ])
    expect(Object.fromEntries(d.ignored)).toEqual({ samples: 1, min_micro: 1, max_micro: 1, signal: 1 })
    // No timestamp: the receive time, flagged as server time.
    expect(d.decoded.rows.time[0]).toBe(NOW)
  })

  test('points without timestamp of one device get distinct receive times', () => {
    const d = decode('env,device=aq-1 pm25=1\nenv,device=aq-1 pm25=2\nenv,device=aq-1 pm25=3')
    expect(new Set(d.decoded.rows.time).size).toBe(3)
  })

  test('booleans become 1 and 0', () => {
    const d = decode('lamp,device=aq-1 pm25=t,pm10=FALSE 1733454000000000000')
    expect(rowsOf(d).map((r) => r.value)).toEqual([1, 0])
  })
})

describe('partial writes: the bad lines refused one by one, the rest kept', () => {
  test('a line that does not parse is line_invalid with influxd\'s wording and its number', () => {
    const d = decode('env,device=aq-1 pm25=1 1733454000000000000\nenv,device=aq-1 pm25=\nenv,device=aq-1 pm25=3 1733454002000000000')
    expect(d.lines).toBe(3)
    expect(d.decoded.readings).toBe(2)
    expect(d.decoded.rejections.map((r) => [r.reason, r.detail])).toEqual([['line_invalid', "line 2: unable to parse 'env,device=aq-1 pm25=': missing field value"]])
  })

  test('refusals come in the body\'s order', () => {
    const d = decode('bad\nenv,device=nobody pm25=1\nworse')
    expect(d.decoded.rejections.map((r) => r.reason)).toEqual(['line_invalid', 'device_unknown', 'line_invalid'])
  })

  test('string fields, missing device tags, invalid ids, unknown devices', () => {
    const d = decode([
      'env,device=aq-1 pm25="high" 1733454000000000000',
      'env pm25=1',
      'env,device=bad\\ id pm25=1',
      'env,device=aq-99 pm25=1',
    ].join('\n'))
    expect(d.decoded.rows.length).toBe(0)
    expect(d.decoded.rejections.map((r) => [r.reason, r.detail])).toEqual([
      ['value_invalid', 'line 1: field "pm25" is a string ("high"); gridline stores numbers and booleans'],
      ['device_invalid', 'line 2 names no device: it has no "device" tag'],
      ['device_invalid', 'line 3: "bad id" is not a valid device id'],
      ['device_unknown', 'line 4: device "aq-99" is not registered'],
    ])
  })

  test('the reading rules apply with line numbers: unknown metrics, timestamps', () => {
    const d = decode('env,device=aq-1 pm2_5=1 1733454000000000000\nenv,device=aq-1 pm25=1 946684799000000000')
    expect(d.decoded.rejections.map((r) => r.reason)).toEqual(['metric_unknown', 'ts_too_old'])
    expect(d.decoded.rejections[0]!.detail).toMatch(/^line 1 metric "pm2_5" is not in the catalogue/)
    expect(d.decoded.rejections[1]!.detail).toMatch(/^line 2 ts 1999-12-31T23:59:59.000Z is before/)
  })
})

describe('who may write for whom', () => {
  test('a device writes for itself (no tag needed), never for another', () => {
    const d = decode('env pm25=1 1733454000000000000\nenv,device=aq-2 pm25=2 1733454000000000000', device)
    expect(rowsOf(d).map((r) => r.device)).toEqual(['aq-1'])
    expect(d.decoded.rejections.map((r) => [r.reason, r.detail])).toEqual([['device_not_authorized', 'line 2: device "aq-1" may not write for device "aq-2"']])
    expect(d.decoded.domain).toBe('environment')
  })

  test('a gateway writes only for the devices behind it, and has no telemetry of its own', () => {
    const d = decode('env,device=aq-2 pm25=2 1733454000000000000\nenv,device=gw-1 pm25=1 1733454000000000000')
    expect(d.decoded.rejections.map((r) => r.reason)).toEqual(['device_not_behind_gateway', 'device_not_authorized'])
  })

  test('an integration writes nothing; with auth none any registered device', () => {
    expect(decode('env,device=aq-1 pm25=1 1733454000000000000', { kind: 'integration', id: 'grafana' }).decoded.rejections.map((r) => r.reason)).toEqual(['device_not_authorized'])
    expect(decode('env,device=aq-2 pm25=1 1733454000000000000', null).decoded.rows.length).toBe(1)
  })
})

test('never throws, and every line is a row, a refusal or ignored (fuzz)', () => {
  fc.assert(fc.property(fc.array(fc.oneof(
    fc.string(),
    fc.constantFrom('env,device=aq-1 pm25=1', 'env,device=aq-1 pm25=1 1733454000000000000', 'x', '# c', 'env,device=aq-1 signal=1', 'feinstaub,device=aq-1 SDS_P1="x"'),
  ), { maxLength: 20 }), (lines) => {
    const d = decode(lines.join('\n'))
    expect(d.decoded.rows.length).toBeGreaterThanOrEqual(0)
    expect(d.decoded.readings).toBeLessThanOrEqual(d.lines)
  }), { numRuns: 300 })
})

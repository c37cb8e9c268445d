import { defaultCatalogue } from '@gridline/schemas'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { type ChirpStackMapping, decodeChirpStack } from './chirpstack.ts'
import type { DecodeOptions } from './reading-validator.ts'
import { ServerClock } from './server-clock.ts'

const NOW = Date.parse('2026-12-07T03:00:00Z')
const options: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: Date.parse('2000-01-01T00:00:00Z'), rejectedPayloadMaxBytes: 4096, serverClock: new ServerClock() }
const EUI = '0004a30b001c0530'
const DEVICES: Record<string, { id: string; domain: string | null }> = { [EUI]: { id: 'wm-hai-chau-01', domain: 'water' }, '00000000000000ff': { id: 'gw-lns', domain: null } }
const mapping: ChirpStackMapping = { byDevEui: (eui) => DEVICES[eui.toLowerCase()], fields: new Map([['meter.flowRate', 'flow']]) }
const TOPIC = `application/4f1e2c9a-1b2c-4d5e-8f90-123456789abc/device/${EUI}/event/up`

/** An uplink as ChirpStack v4's MQTT integration publishes it (json marshaler). */
function uplink(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
    time: '2026-12-07T02:59:58.123456789Z',
    deviceInfo: { tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242', tenantName: 'Da Nang Water', applicationId: '4f1e2c9a-1b2c-4d5e-8f90-123456789abc', applicationName: 'meters', deviceProfileId: 'c5d1b0e6-ec13-4a5c-b6a0-3d2f1f3b7a11', deviceProfileName: 'pressure-flow', deviceName: 'hai-chau-01', devEui: EUI, tags: { dma: 'hc-3' } },
    devAddr: '01e2b2a3', adr: true, dr: 5, fCnt: 42, fPort: 10, confirmed: false, data: 'AQIDBA==',
    object: { pressure: 3.2, level: 1.25, meter: { flowRate: 12.5 } },
    rxInfo: [{ gatewayId: '0016c001ff10a235', uplinkId: 4217106255, rssi: -97, snr: 7.5, channel: 2, context: 'EFwMtA==', crcStatus: 'CRC_OK' }],
    txInfo: { frequency: 923200000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
    ...overrides,
  }
}
const decode = (body: unknown, topic = TOPIC) => decodeChirpStack(topic, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), NOW, options, mapping)
const reasons = (body: unknown, topic = TOPIC) => decode(body, topic).decoded.rejections.map((r) => r.reason)

describe('ChirpStack v4 uplinks', () => {
  test('a codec field named __proto__ is refused by name and does not reach the values\' prototype', () => {
    const { decoded } = decode(`{"deviceInfo":{"devEui":"${EUI}"},"time":"2026-12-07T02:59:58Z","object":{"__proto__":5,"pressure":2}}`)
    expect(decoded.rejections.map((r) => r.reason)).toEqual(['metric_name_invalid'])
    expect(decoded.rows.length).toBe(1)
    expect(decoded.rows.metric[0]).toBe('pressure')
  })

  test('the codec\'s object becomes one reading of the device with that DevEUI: time as ts, fCnt as seq, nested fields mapped', () => {
    const { decoded, event } = decode(uplink())
    expect(event).toBe('up')
    expect(decoded.rejections).toEqual([])
    expect(decoded.readings).toBe(1)
    const rows = [...Array(decoded.rows.length).keys()].map((i) => ({ metric: decoded.rows.metric[i], value: decoded.rows.value[i], time: decoded.rows.time[i], seq: decoded.rows.seq[i], device: decoded.rows.deviceId[i] }))
    expect(rows).toEqual([
      { metric: 'pressure', value: 3.2, time: Date.parse('2026-12-07T02:59:58.123Z'), seq: 42, device: 'wm-hai-chau-01' },
      { metric: 'level', value: 1.25, time: Date.parse('2026-12-07T02:59:58.123Z'), seq: 42, device: 'wm-hai-chau-01' },
      { metric: 'flow', value: 12.5, time: Date.parse('2026-12-07T02:59:58.123Z'), seq: 42, device: 'wm-hai-chau-01' },
    ])
  })

  test('the DevEUI matches case-insensitively; an uplink without time gets the receive time', () => {
    const { decoded } = decode(uplink({ time: undefined, deviceInfo: { devEui: EUI.toUpperCase() } }))
    expect(decoded.rejections).toEqual([])
    expect(decoded.rows.time[0]).toBeGreaterThanOrEqual(NOW)
  })

  test('events other than up carry no readings and are named for the caller to count', () => {
    for (const event of ['join', 'status', 'ack', 'txack', 'log', 'location']) {
      const out = decode({ deviceInfo: { devEui: EUI }, batteryLevel: 87.5, margin: 9 }, TOPIC.replace(/up$/, event))
      expect(out.event).toBe(event)
      expect(out.decoded.rows.length + out.decoded.rejections.length).toBe(0)
    }
    expect(decode(uplink(), 'application/x/device/y').event).toBeNull()
  })

  // Bad input: each case refused with its reason, never thrown.
  test.each([
    ['garbage bytes', '\u0000\u00ff{{', 'json_malformed'],
    ['truncated JSON', JSON.stringify(uplink()).slice(0, 120), 'json_malformed'],
    ['an array', [uplink()], 'payload_not_object'],
    ['a string', '"up"', 'payload_not_object'],
    ['no object (no codec on the device profile)', uplink({ object: undefined }), 'values_missing'],
    ['object null', uplink({ object: null }), 'values_missing'],
    ['object empty', uplink({ object: {} }), 'values_empty'],
    ['a DevEUI that is no EUI-64', uplink({ deviceInfo: { devEui: 'not-an-eui' } }), 'device_invalid'],
    ['the topic and payload disagree on the DevEUI', uplink({ deviceInfo: { devEui: '00000000000000ff' } }), 'device_invalid'],
    ['fCnt negative', uplink({ fCnt: -1 }), 'seq_invalid'],
    ['fCnt a string', uplink({ fCnt: '42' }), 'seq_invalid'],
    ['time without offset', uplink({ time: '2026-12-07T02:59:58' }), 'ts_invalid'],
    ['a replayed uplink from 1999', uplink({ time: '1999-12-31T23:00:00Z' }), 'ts_too_old'],
    ['time an hour ahead', uplink({ time: '2026-12-07T04:00:00Z' }), 'ts_in_future'],
    ['a field the catalogue does not know', uplink({ object: { batteryVoltage: 3.6 } }), 'metric_unknown'],
    ['a string value', uplink({ object: { pressure: 'high' } }), 'value_invalid'],
  ])('%s', (_name, body, reason) => {
    expect(reasons(body)).toContain(reason)
  })

  test('an unknown DevEUI is refused as device_unknown, with the command that registers it', () => {
    const [refusal] = decode(uplink({ deviceInfo: { devEui: '1111111111111111' } }), TOPIC.replace(EUI, '1111111111111111')).decoded.rejections
    expect(refusal).toMatchObject({ reason: 'device_unknown', detail: expect.stringContaining('"devEui": "1111111111111111"') })
  })

  test('a DevEUI registered to a gateway login is no device', () => {
    expect(reasons(uplink({ deviceInfo: { devEui: '00000000000000ff' } }), TOPIC.replace(EUI, '00000000000000ff'))).toEqual(['device_not_authorized'])
  })

  test('a good value beside a bad one is stored; the bad one is refused alone', () => {
    const { decoded } = decode(uplink({ object: { pressure: 3.1, level: 'n/a' } }))
    expect(decoded.rows.metric.slice(0, decoded.rows.length)).toEqual(['pressure'])
    expect(decoded.rejections.map((r) => r.reason)).toEqual(['value_invalid'])
  })

  test('any JSON at all is decoded or refused, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      const body = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...uplink(), object: value } : value
      const { decoded } = decode(body)
      expect(decoded.rows.length + decoded.rejections.length).toBeGreaterThan(0)
    }), { numRuns: 300 })
  })
})

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
/** A status event (DevStatusAns) as ChirpStack v4 publishes it: proto3 defaults (false, 0) left out. */
function status(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { deduplicationId: '9b0d2f31-7e55-4a0c-9d3e-2f6c1b0a8e44', time: '2026-12-07T02:59:59.5Z', deviceInfo: { applicationId: '4f1e2c9a-1b2c-4d5e-8f90-123456789abc', deviceName: 'hai-chau-01', devEui: EUI }, margin: 9, batteryLevel: 88.58, ...overrides }
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

  test('a status event is the device online with its battery (%), external power and link margin (dB), at its time', () => {
    const out = decode(status(), TOPIC.replace(/up$/, 'status'))
    expect(out.decoded.rows.length + out.decoded.rejections.length).toBe(0)
    expect(out.status).toEqual({ deviceId: 'wm-hai-chau-01', domain: 'water', state: 'online', time: Date.parse('2026-12-07T02:59:59.5Z'), receivedAt: NOW, power: { batteryPercent: 88.58, externalPower: false, marginDb: 9 } })
    expect(out).toMatchObject({ applicationId: '4f1e2c9a-1b2c-4d5e-8f90-123456789abc', devEui: EUI })
  })

  test.each([
    ['on external power: no battery level', { externalPowerSource: true, batteryLevel: undefined }, { batteryPercent: null, externalPower: true, marginDb: 9 }],
    ['battery level unavailable', { batteryLevelUnavailable: true, batteryLevel: undefined }, { batteryPercent: null, externalPower: false, marginDb: 9 }],
    ['proto3 defaults left out: margin 0, battery 0 %', { margin: undefined, batteryLevel: undefined }, { batteryPercent: 0, externalPower: false, marginDb: 0 }],
    ['a negative margin, no time (the receive time)', { margin: -5, time: undefined }, { batteryPercent: 88.58, externalPower: false, marginDb: -5 }],
  ])('status: %s', (_name, overrides, power) => {
    const out = decode(status(overrides), TOPIC.replace(/up$/, 'status'))
    expect(out.decoded.rejections).toEqual([])
    expect(out.status?.power).toEqual(power)
    if (!('time' in overrides) || overrides.time !== undefined) return
    expect(out.status?.time).toBe(NOW)
  })

  test('ack and txack name the downlink they report on (queueItemId), for the transport to settle', () => {
    const ack = decode({ deduplicationId: 'x', time: '2026-12-07T03:00:00Z', deviceInfo: { devEui: EUI.toUpperCase() }, queueItemId: '2b8f7c3e-4d5a-4e6f-9a0b-1c2d3e4f5a6b', acknowledged: true, fCntDown: 3 }, TOPIC.replace(/up$/, 'ack'))
    expect(ack.downlink).toEqual({ queueItemId: '2b8f7c3e-4d5a-4e6f-9a0b-1c2d3e4f5a6b', acknowledged: true, gatewayId: null, devEui: EUI })
    // proto3 JSON leaves out false: an ack without acknowledged is a negative one.
    expect(decode({ queueItemId: 'q1' }, TOPIC.replace(/up$/, 'ack')).downlink).toMatchObject({ acknowledged: false, devEui: EUI })
    const tx = decode({ downlinkId: 1234, deviceInfo: { devEui: EUI }, queueItemId: 'q2', fCntDown: 3, gatewayId: '0016c001ff10a235' }, TOPIC.replace(/up$/, 'txack'))
    expect(tx.downlink).toEqual({ queueItemId: 'q2', acknowledged: null, gatewayId: '0016c001ff10a235', devEui: EUI })
    for (const bad of ['{', '[]', '{"queueItemId": 5}', '{}']) {
      const out = decode(bad, TOPIC.replace(/up$/, 'txack'))
      expect(out.downlink).toBeUndefined()
      expect(out.decoded.rejections).toEqual([])
    }
  })

  test('events other than up and status carry no readings and are named for the caller to count', () => {
    for (const event of ['join', 'ack', 'txack', 'log', 'location']) {
      const out = decode({ deviceInfo: { devEui: EUI }, batteryLevel: 87.5, margin: 9 }, TOPIC.replace(/up$/, event))
      expect(out.event).toBe(event)
      expect(out.decoded.rows.length + out.decoded.rejections.length).toBe(0)
    }
    expect(decode(uplink(), 'application/x/device/y').event).toBeNull()
  })

  // Bad input: each case refused with its reason, never thrown.
  test.each<[string, unknown, string, string?, string?]>([
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
    // status events (DevStatusAns): refused as uplinks are, never a status change.
    ['status: garbage bytes', '\u0000{', 'json_malformed', 'status'],
    ['status: an array', [status()], 'payload_not_object', 'status'],
    ['status: an unknown DevEUI', status({ deviceInfo: { devEui: '1111111111111111' } }), 'device_unknown', 'status', '1111111111111111'],
    ['status: a DevEUI that is no EUI-64', status({ deviceInfo: { devEui: 'zz' } }), 'device_invalid', 'status'],
    ['status: the topic and payload disagree on the DevEUI', status({ deviceInfo: { devEui: '00000000000000ff' } }), 'device_invalid', 'status'],
    ['status: a gateway\'s DevEUI', status({ deviceInfo: { devEui: '00000000000000ff' } }), 'device_not_authorized', 'status', '00000000000000ff'],
    ['status: margin a string', status({ margin: '9' }), 'status_invalid', 'status'],
    ['status: margin a fraction', status({ margin: 9.5 }), 'status_invalid', 'status'],
    ['status: margin past the 6-bit range', status({ margin: 64 }), 'status_invalid', 'status'],
    ['status: batteryLevel a string', status({ batteryLevel: '88' }), 'status_invalid', 'status'],
    ['status: batteryLevel over 100 %', status({ batteryLevel: 254 }), 'status_invalid', 'status'],
    ['status: batteryLevel negative', status({ batteryLevel: -1 }), 'status_invalid', 'status'],
    ['status: externalPowerSource a number', status({ externalPowerSource: 1 }), 'status_invalid', 'status'],
    ['status: batteryLevelUnavailable a string', status({ batteryLevelUnavailable: 'yes' }), 'status_invalid', 'status'],
    ['status: time without offset', status({ time: '2026-12-07T02:59:58' }), 'ts_invalid', 'status'],
    ['status: time a number', status({ time: 1764982800000 }), 'ts_invalid', 'status'],
    ['status: time an hour ahead', status({ time: '2026-12-07T04:00:00Z' }), 'ts_in_future', 'status'],
    ['status: time from 1999', status({ time: '1999-12-31T23:00:00Z' }), 'ts_too_old', 'status'],
  ])('%s', (_name, body, reason, event = 'up', eui = EUI) => {
    const out = decode(body, TOPIC.replace(EUI, eui).replace(/up$/, event))
    expect(out.decoded.rejections.map((r) => r.reason)).toContain(reason)
    expect(out.status).toBeUndefined()
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

  test('any JSON at all as a status event is a status change or refused, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (margin, batteryLevel, flag) => {
      const out = decode({ ...status(), margin, batteryLevel, externalPowerSource: flag }, TOPIC.replace(/up$/, 'status'))
      expect((out.status === undefined ? 0 : 1) + out.decoded.rejections.length).toBe(1)
    }), { numRuns: 300 })
  })

  test('any JSON at all is decoded or refused, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      const body = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...uplink(), object: value } : value
      const { decoded } = decode(body)
      expect(decoded.rows.length + decoded.rejections.length).toBeGreaterThan(0)
    }), { numRuns: 300 })
  })
})

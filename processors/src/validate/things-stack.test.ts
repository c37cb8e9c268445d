import { defaultCatalogue } from '@gridline/schemas'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { DecodeOptions } from './reading-validator.ts'
import { ServerClock } from './server-clock.ts'
import { THINGS_STACK_EVENTS, type ThingsStackMapping, decodeThingsStack } from './things-stack.ts'

const NOW = Date.parse('2026-12-07T06:50:03Z')
const EUI = '70B3D57ED005B89A'
const REGISTERED: Record<string, { domain: string | null; gateway: string | null }> = {
  'wm-hai-chau-01': { domain: 'water', gateway: 'tts-danang' },
  'wm-elsewhere': { domain: 'water', gateway: 'gw-other' },
  'tts-danang': { domain: null, gateway: null },
}
const BY_EUI: Record<string, string> = { '70b3d57ed005b89a': 'wm-hai-chau-01', '70b3d57ed005b89b': 'wm-elsewhere', '0000000000000001': 'tts-danang' }
const options: DecodeOptions = {
  catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: Date.parse('2000-01-01T00:00:00Z'), rejectedPayloadMaxBytes: 4096, serverClock: new ServerClock(),
  directory: { get: (id) => REGISTERED[id] },
}
const mapping: ThingsStackMapping = {
  byDevEui: (eui) => {
    const id = BY_EUI[eui.toLowerCase()]
    return id === undefined ? undefined : { id, domain: REGISTERED[id]!.domain }
  },
  fields: new Map([['meter.flowRate', 'flow'], ['water_pressure_bar', 'pressure']]),
}

/** An uplink as The Things Stack v3's webhook posts it (JSON format). */
function uplink(up: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    end_device_ids: { device_id: 'wm-hai-chau-01', application_ids: { application_id: 'danang-water' }, dev_eui: EUI, join_eui: '0000000000000001', dev_addr: '260BABCD' },
    correlation_ids: ['as:up:01JEKPQ9ZQ8YF7M3K2W1V0T9SR', 'gs:uplink:01JEKPQ9ZJ4N6B8C0D2E4F6G8H'],
    received_at: '2026-12-07T06:50:01.412345678Z',
    uplink_message: {
      session_key_id: 'AWNbm/4zfqx0jZ5q1NlBmw==', f_port: 2, f_cnt: 1834, frm_payload: 'ASsBKAAA',
      decoded_payload: { water_pressure_bar: 3.2, level: 1.25, meter: { flowRate: 12.5 } },
      rx_metadata: [{ gateway_ids: { gateway_id: 'eui-aa555a0000000101', eui: 'AA555A0000000101' }, time: '2026-12-07T06:50:01.123456789Z', timestamp: 3895211423, rssi: -68, channel_rssi: -68, snr: 9.2, received_at: '2026-12-07T06:50:01.180Z' }],
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: 7, coding_rate: '4/5' } }, frequency: '923200000', timestamp: 3895211423, time: '2026-12-07T06:50:01.123456789Z' },
      received_at: '2026-12-07T06:50:01.201234567Z', consumed_airtime: '0.061696s',
      network_ids: { net_id: '000013', tenant_id: 'ttn', cluster_id: 'au1' },
      ...up,
    },
    ...top,
  }
}
const decode = (body: unknown, gateway: string | null = 'tts-danang') =>
  decodeThingsStack(Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), NOW, options, mapping, gateway)
const reasons = (body: unknown, gateway?: string | null) => decode(body, gateway).decoded.rejections.map((r) => r.reason)
const rowsOf = (body: unknown) => {
  const { rows } = decode(body).decoded
  return [...Array(rows.length).keys()].map((i) => ({ metric: rows.metric[i], value: rows.value[i], time: rows.time[i], seq: rows.seq[i], device: rows.deviceId[i] }))
}

describe('The Things Stack v3 uplinks', () => {
  test('decoded_payload becomes one reading of the device with that DevEUI: the gateway time as ts, f_cnt as seq, nested and renamed fields mapped', () => {
    const { decoded, event } = decode(uplink())
    expect(event).toBe('uplink_message')
    expect(decoded.rejections).toEqual([])
    expect(decoded.readings).toBe(1)
    expect(decoded.domain).toBe('water')
    const time = Date.parse('2026-12-07T06:50:01.123Z')
    expect(rowsOf(uplink())).toEqual([
      { metric: 'pressure', value: 3.2, time, seq: 1834, device: 'wm-hai-chau-01' },
      { metric: 'level', value: 1.25, time, seq: 1834, device: 'wm-hai-chau-01' },
      { metric: 'flow', value: 12.5, time, seq: 1834, device: 'wm-hai-chau-01' },
    ])
  })

  test('the DevEUI matches in lower and upper case', () => {
    for (const eui of [EUI.toLowerCase(), EUI.toUpperCase()]) {
      const body = uplink({}, { end_device_ids: { device_id: 'x', dev_eui: eui } })
      expect(reasons(body)).toEqual([])
      expect(rowsOf(body)[0]!.device).toBe('wm-hai-chau-01')
    }
  })

  test('booleans are 1 and 0; an absent f_cnt is 0 (TTS omits zero fields)', () => {
    const rows = rowsOf(uplink({ f_cnt: undefined, decoded_payload: { pump_on: true, valve_open: false } }))
    expect(rows.map((r) => [r.metric, r.value, r.seq])).toEqual([['pump_on', 1, 0], ['valve_open', 0, 0]])
  })

  test('ts: the Network Server time when no gateway reports a time, or the gateway\'s clock is off; the receive time when the body has none', () => {
    const server = Date.parse('2026-12-07T06:50:01.201Z')
    expect(rowsOf(uplink({ rx_metadata: [{ gateway_ids: { gateway_id: 'g' }, rssi: -90 }] }))[0]!.time).toBe(server)
    expect(rowsOf(uplink({ rx_metadata: [{ gateway_ids: { gateway_id: 'g' }, time: '2026-12-07T06:40:00Z' }] }))[0]!.time).toBe(server)
    // The first gateway with a believable time wins; one with a garbled time is skipped.
    expect(rowsOf(uplink({ rx_metadata: [{ time: 'yesterday' }, { time: '1970-01-01T00:00:00Z' }, { time: '2026-12-07T06:50:01.150Z' }] }))[0]!.time).toBe(Date.parse('2026-12-07T06:50:01.150Z'))
    expect(rowsOf(uplink({ rx_metadata: undefined, received_at: undefined }, { received_at: '2026-12-07T06:50:02Z' }))[0]!.time).toBe(Date.parse('2026-12-07T06:50:02Z'))
    expect(rowsOf(uplink({ rx_metadata: undefined, received_at: undefined }, { received_at: undefined }))[0]!.time).toBeGreaterThanOrEqual(NOW)
  })

  test('the same body decodes to the same rows every time (a webhook TTS sends again is stored once)', () => {
    expect(rowsOf(uplink())).toEqual(rowsOf(uplink()))
  })

  test('with auth: none (no gateway) any registered device is taken', () => {
    expect(reasons(uplink({}, { end_device_ids: { dev_eui: '70b3d57ed005b89b' } }), null)).toEqual([])
  })

  test('other message types carry no readings and are named for the caller to count', () => {
    for (const event of THINGS_STACK_EVENTS.filter((e) => e !== 'uplink_message')) {
      const body = { end_device_ids: { device_id: 'wm-hai-chau-01', dev_eui: EUI }, correlation_ids: ['as:up:01'], received_at: '2026-12-07T06:50:01Z', [event]: { session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==' } }
      const out = decode(body)
      expect(out.event).toBe(event)
      expect(out.decoded.rows.length + out.decoded.rejections.length).toBe(0)
    }
    // downlink_failed carries no DevEUI at all.
    expect(decode({ end_device_ids: { device_id: 'wm-hai-chau-01' }, downlink_failed: { downlink: { f_port: 15 }, error: { name: 'application_downlink_too_long' } } }).event).toBe('downlink_failed')
  })

  // Bad input: each case refused with its reason, never thrown.
  test.each([
    ['garbage bytes', '\u0000\u00ff{{', 'json_malformed'],
    ['truncated JSON', JSON.stringify(uplink()).slice(0, 150), 'json_malformed'],
    ['a protobuf-format webhook', Buffer.from([0x0a, 0x1c, 0x0a, 0x0e, 0x77, 0x6d]), 'json_malformed'],
    ['an array', [uplink()], 'payload_not_object'],
    ['a string', '"uplink_message"', 'payload_not_object'],
    ['an object with no message type', { end_device_ids: { dev_eui: EUI }, received_at: '2026-12-07T06:50:01Z' }, 'payload_not_object'],
    ['no end_device_ids', uplink({}, { end_device_ids: undefined }), 'device_invalid'],
    ['end_device_ids a string', uplink({}, { end_device_ids: EUI }), 'device_invalid'],
    ['no dev_eui (an ABP device registered without one)', uplink({}, { end_device_ids: { device_id: 'wm-hai-chau-01' } }), 'device_invalid'],
    ['a dev_eui that is no EUI-64', uplink({}, { end_device_ids: { dev_eui: '70B3D57ED005B89' } }), 'device_invalid'],
    ['a dev_eui with non-hex digits', uplink({}, { end_device_ids: { dev_eui: '70B3D57ED005B89G' } }), 'device_invalid'],
    ['an unknown DevEUI', uplink({}, { end_device_ids: { dev_eui: '1111111111111111' } }), 'device_unknown'],
    ['the DevEUI of a gateway or integration login', uplink({}, { end_device_ids: { dev_eui: '0000000000000001' } }), 'device_not_authorized'],
    ['a device behind another gateway', uplink({}, { end_device_ids: { dev_eui: '70b3d57ed005b89b' } }), 'device_not_behind_gateway'],
    ['no decoded_payload (no payload formatter)', uplink({ decoded_payload: undefined }), 'values_missing'],
    ['decoded_payload null', uplink({ decoded_payload: null }), 'values_missing'],
    ['decoded_payload an array', uplink({ decoded_payload: [3.2, 1.25] }), 'values_missing'],
    ['decoded_payload a string', uplink({ decoded_payload: 'AQID' }), 'values_missing'],
    ['decoded_payload empty', uplink({ decoded_payload: {} }), 'values_empty'],
    ['a string value', uplink({ decoded_payload: { level: '1.25' } }), 'value_invalid'],
    ['a null value', uplink({ decoded_payload: { level: null } }), 'value_invalid'],
    ['an object nested too deep', uplink({ decoded_payload: { a: { b: { c: { d: { e: { level: 1 } } } } } } }), 'value_invalid'],
    ['a field the catalogue does not know', uplink({ decoded_payload: { battery_voltage: 3.6 } }), 'metric_unknown'],
    ['received_at without offset', uplink({ received_at: '2026-12-07T06:50:01', rx_metadata: undefined }), 'ts_invalid'],
    ['received_at a number', uplink({ received_at: 1796626201201 }), 'ts_invalid'],
    ['received_at garbage, even with a gateway time', uplink({ received_at: 'soon' }), 'ts_invalid'],
    ['a replayed uplink from 1999', uplink({ received_at: '1999-12-31T23:00:00Z', rx_metadata: [{ time: '1999-12-31T23:00:00Z' }] }), 'ts_too_old'],
    ['an uplink an hour ahead', uplink({ received_at: '2026-12-07T07:50:01Z', rx_metadata: [] }), 'ts_in_future'],
    ['f_cnt negative', uplink({ f_cnt: -1 }), 'seq_invalid'],
    ['f_cnt not an integer', uplink({ f_cnt: 18.5 }), 'seq_invalid'],
    ['f_cnt a string', uplink({ f_cnt: '1834' }), 'seq_invalid'],
    ['a body over 1 MiB', uplink({ frm_payload: 'A'.repeat(1_100_000) }), 'payload_too_large'],
    ['decoded_payload with 300 fields', uplink({ decoded_payload: Object.fromEntries([...Array(300).keys()].map((i) => [`f${i}`, i])) }), 'too_many_values'],
  ])('%s', (_name, body, reason) => {
    expect(reasons(body)).toContain(reason)
  })

  test('an unknown DevEUI is refused with the command that registers it, behind the webhook\'s gateway', () => {
    const [refusal] = decode(uplink({}, { end_device_ids: { device_id: 'wm-new-07', dev_eui: '1111111111111111' } })).decoded.rejections
    expect(refusal).toMatchObject({ reason: 'device_unknown', detail: expect.stringContaining(`gridline devices add wm-new-07 --domain <domain> --gateway tts-danang --metadata '{"devEui": "1111111111111111"}'`) })
  })

  test('a good value beside a bad one is stored; the bad one is refused alone', () => {
    const { decoded } = decode(uplink({ decoded_payload: { level: 1.5, water_pressure_bar: 'n/a' } }))
    expect(decoded.rows.metric.slice(0, decoded.rows.length)).toEqual(['level'])
    expect(decoded.rejections.map((r) => r.reason)).toEqual(['value_invalid'])
  })

  test('a failure inside the decoder is decode_failed, never a throw', () => {
    const broken: ThingsStackMapping = { fields: new Map(), byDevEui: () => { throw new Error('registry gone') } }
    const out = decodeThingsStack(Buffer.from(JSON.stringify(uplink())), NOW, options, broken, 'tts-danang')
    expect(out.decoded.rejections.map((r) => r.reason)).toEqual(['decode_failed'])
  })

  test('any JSON at all in decoded_payload, or as the body, is decoded or refused, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.boolean(), (value, asPayload) => {
      const body = asPayload ? uplink({ decoded_payload: value }) : value
      const { decoded, event } = decode(body)
      if (event === 'uplink_message' || event === null) expect(decoded.rows.length + decoded.rejections.length).toBeGreaterThan(0)
    }), { numRuns: 300 })
  })
})

import fc from 'fast-check'
import { type RejectReason, DevicePayloadSchema, GatewayPayloadSchema, Quality, RowFlags, defaultCatalogue } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import { SequenceTracker } from '../sequence/sequence-tracker.ts'
import { type DecodeOptions, type DeviceDirectory, MAX_DETAILED_REJECTIONS, type Principal, decodeMessage, isOwnTopic, rejectionCount } from './decode.ts'
import { MetricLimit } from './metric-limit.ts'
import { ServerClock } from './server-clock.ts'

const NOW = Date.parse('2026-11-28T03:00:00Z')
const directory: DeviceDirectory = {
  get: (id) => ({
    'aq-1': { domain: 'environment', gateway: 'gw-1' },
    'pump-7': { domain: 'water', gateway: 'gw-1' },
    'lamp-3': { domain: 'lighting', gateway: 'gw-2' },
  })[id],
}
const options: DecodeOptions = {
  catalogue: defaultCatalogue(),
  maxFutureSkewMs: 300_000,
  minTimestampMs: Date.parse('2000-01-01T00:00:00Z'),
  rejectedPayloadMaxBytes: 4096,
  directory,
}
const device: Principal = { kind: 'device', id: 'aq-1', domain: 'environment' }
const gateway: Principal = { kind: 'gateway', id: 'gw-1' }
const TOPIC = 'telemetry/environment/aq-1'
const GW_TOPIC = 'gateways/gw-1/telemetry'

/** Each call gets a clock of its own unless the options bring one: stamps of ts-less readings start at NOW. */
const decode = (payload: string | Buffer, topic = TOPIC, principal: Principal | null = device, opts: DecodeOptions = options) =>
  decodeMessage(topic, typeof payload === 'string' ? Buffer.from(payload) : payload, NOW, principal, { serverClock: new ServerClock(), ...opts })
const storing: DecodeOptions = { ...options, unknownMetrics: 'store' }

describe('good input', () => {
  test('one reading becomes one row per metric, with the catalogue quality', () => {
    const out = decode('{"ts":"2026-11-28T10:00:00.000+07:00","seq":1042,"values":{"pm25":35.2,"temperature":29.1}}')
    expect(out.rejections).toEqual([])
    expect(out.readings).toBe(1)
    expect(out.rows.length).toBe(2)
    expect(out.rows.time).toEqual([Date.parse('2026-11-28T03:00:00Z'), Date.parse('2026-11-28T03:00:00Z')])
    expect(out.rows.metric).toEqual(['pm25', 'temperature'])
    expect(out.rows.value).toEqual([35.2, 29.1])
    expect(out.rows.seq).toEqual([1042, 1042])
    expect(out.rows.quality).toEqual([Quality.GOOD, Quality.GOOD])
  })

  test('an array of readings, epoch-ms timestamps and booleans stored as 1/0', () => {
    const out = decode(JSON.stringify([
      { ts: NOW - 2000, values: { pm25: 10 } },
      { ts: NOW - 1000, values: { pm25: 11, rainfall: 0 } },
    ]), 'telemetry/lighting/lamp-9', { kind: 'device', id: 'lamp-9', domain: 'lighting' }, storing)
    expect(out.rejections).toEqual([])
    expect(out.readings).toBe(2)
    expect(out.rows.length).toBe(3)
    const lamp = decode('{"values":{"lamp_on":true,"lamp_fault":false}}', 'telemetry/lighting/lamp-9', { kind: 'device', id: 'lamp-9', domain: 'lighting' })
    expect(lamp.rows.value).toEqual([1, 0])
  })

  test('-0 is stored as 0', () => {
    expect(Object.is(decode('{"values":{"pm25":-0}}').rows.value[0], 0)).toBe(true)
  })

  test('a reading without ts gets the receive time and says so in its flags', () => {
    const out = decode('{"values":{"pm25":5}}')
    expect(out.rows.time).toEqual([NOW])
    expect(out.rows.flags).toEqual([RowFlags.SERVER_TIME])
    expect(out.rows.seq).toEqual([-1])
  })

  test('values outside the plausible range are stored with quality 1 and counted', () => {
    const out = decode('{"values":{"humidity":140,"pm25":-3,"temperature":25}}')
    expect(out.rows.quality).toEqual([Quality.OUT_OF_RANGE, Quality.OUT_OF_RANGE, Quality.GOOD])
    expect(out.outOfRange).toBe(2)
  })

  test('unknown but well-formed metrics are refused as metric_unknown by default, so a typo shows', () => {
    const out = decode('{"values":{"pm2_5":3.5,"pm25":4}}')
    expect(out.rows.metric).toEqual(['pm25'])
    expect(out.rejections.map((r) => r.reason)).toEqual(['metric_unknown'])
    expect(out.rejections[0]!.detail).toContain('"pm2_5" is not in the catalogue for domain "environment"')
  })

  test('with unknownMetrics: store they are stored and counted, up to the per-device cap', () => {
    const out = decode('{"values":{"pm3":3.5,"pm25":4}}', TOPIC, device, storing)
    expect(out.rows.metric).toEqual(['pm3', 'pm25'])
    expect(out.unknownMetrics).toBe(1)
    const capped: DecodeOptions = { ...storing, metricLimit: new MetricLimit(2) }
    expect(decode('{"values":{"x1":1,"x2":2}}', TOPIC, device, capped).rows.length).toBe(2)
    const over = decode('{"values":{"x1":1,"x3":3,"pm25":1}}', TOPIC, device, capped)
    expect(over.rows.metric).toEqual(['x1', 'pm25'])
    expect(over.rejections.map((r) => r.reason)).toEqual(['metric_limit'])
    // Another device has a cap of its own.
    const other: Principal = { kind: 'device', id: 'aq-2', domain: 'environment' }
    expect(decode('{"values":{"x3":3}}', 'telemetry/environment/aq-2', other, capped).rows.length).toBe(1)
  })

  test('readings without ts get unique, increasing stamps per device: 1,000 in one burst are 1,000 instants', () => {
    const serverClock = new ServerClock()
    const times: number[] = []
    for (let i = 0; i < 1000; i++) times.push(...decode(`{"values":{"pm25":${i}}}`, TOPIC, device, { ...options, serverClock }).rows.time)
    expect(new Set(times).size).toBe(1000)
    expect(times[0]).toBe(NOW)
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true)
    // Another device's stamps are independent of this one's.
    const other: Principal = { kind: 'device', id: 'aq-2', domain: 'environment' }
    expect(decode('{"values":{"pm25":1}}', 'telemetry/environment/aq-2', other, { ...options, serverClock }).rows.time).toEqual([NOW])
  })

  test('device-flagged quality is kept and wins over the range check', () => {
    const out = decode('{"quality":"bad","values":{"pm25":5000}}')
    expect(out.rows.quality).toEqual([Quality.BAD])
    expect(decode('{"quality":"uncertain","values":{"pm25":5}}').rows.quality).toEqual([Quality.UNCERTAIN])
  })

  test('a gateway forwards for its own devices, with backfill marked', () => {
    const out = decode(JSON.stringify({ readings: [
      { device: 'aq-1', domain: 'environment', ts: NOW, seq: 1, values: { pm25: 3 } },
      { device: 'pump-7', domain: 'water', ts: NOW, seq: 9, values: { pressure: 3.1, pump_on: true }, backfill: true },
    ] }), GW_TOPIC, gateway)
    expect(out.rejections).toEqual([])
    expect(out.rows.deviceId).toEqual(['aq-1', 'pump-7', 'pump-7'])
    expect(out.rows.flags).toEqual([0, RowFlags.BACKFILL, RowFlags.BACKFILL])
  })

  test('auth none: any device topic and any gateway device are accepted', () => {
    const out = decode('{"values":{"pm25":1}}', 'telemetry/environment/anyone', null)
    expect(out.rows.length).toBe(1)
    const gw = decode(JSON.stringify({ readings: [{ device: 'stranger', domain: 'traffic', values: { occupancy: 3 } }] }), 'gateways/x/telemetry', null)
    expect(gw.rows.flags).toEqual([RowFlags.SERVER_TIME])
    expect(gw.rows.deviceId).toEqual(['stranger'])
  })

  test('seq gaps and regressions are tracked per device', () => {
    const sequences = new SequenceTracker()
    const opts = { ...options, sequences }
    for (const seq of [1, 2, 5, 5, 3, 6]) decode(JSON.stringify({ seq, values: { pm25: 1 } }), TOPIC, device, opts)
    expect(sequences.missing).toBe(2)
    expect(sequences.regressions).toBe(2)
    expect(sequences.lastSeq('aq-1')).toBe(6)
  })
})

const good = { ts: NOW, values: { pm25: 1 } }
const DEEP_ARRAY = '['.repeat(5000) + ']'.repeat(5000)
const DEEP_OBJECT = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)
const big = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]))

/** [name, topic, principal, payload, expected reason, rows still stored from the same message] */
const BAD: [string, string, Principal | null, string | Buffer, RejectReason, number][] = [
  ['topic with too few levels', 'telemetry/aq-1', device, JSON.stringify(good), 'topic_invalid', 0],
  ['topic with too many levels', 'telemetry/environment/aq-1/extra', device, JSON.stringify(good), 'topic_invalid', 0],
  ['topic outside the contract', 'sensors/aq-1', device, JSON.stringify(good), 'topic_invalid', 0],
  ['gateway topic with a wrong suffix', 'gateways/gw-1/data', gateway, JSON.stringify(good), 'topic_invalid', 0],
  ['device id with a space', 'telemetry/environment/aq 1', null, JSON.stringify(good), 'device_id_invalid', 0],
  ['device id starting with a dash', 'telemetry/environment/-aq', null, JSON.stringify(good), 'device_id_invalid', 0],
  ['device id of 65 characters', `telemetry/environment/${'a'.repeat(65)}`, null, JSON.stringify(good), 'device_id_invalid', 0],
  ['unknown domain', 'telemetry/sewage/aq-1', null, JSON.stringify(good), 'domain_unknown', 0],
  ['device publishing to another device', 'telemetry/environment/aq-2', device, JSON.stringify(good), 'topic_not_authorized', 0],
  ['device publishing in another domain', 'telemetry/water/aq-1', device, JSON.stringify(good), 'topic_not_authorized', 0],
  ['device publishing to a gateway topic', GW_TOPIC, device, JSON.stringify({ readings: [good] }), 'topic_not_authorized', 0],
  ['gateway publishing to another gateway', 'gateways/gw-2/telemetry', gateway, JSON.stringify({ readings: [good] }), 'topic_not_authorized', 0],
  ['empty payload', TOPIC, device, '', 'payload_empty', 0],
  ['payload over 256 KiB', TOPIC, device, `[${Array(30_000).fill(JSON.stringify(good)).join(',')}]`, 'payload_too_large', 0],
  ['invalid UTF-8', TOPIC, device, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'payload_not_utf8', 0],
  ['malformed JSON', TOPIC, device, '{"values": {"pm25": 1}', 'json_malformed', 0],
  ['NaN token', TOPIC, device, '{"values": {"pm25": NaN}}', 'json_malformed', 0],
  ['Infinity token', TOPIC, device, '{"values": {"pm25": Infinity}}', 'json_malformed', 0],
  ['a JSON string', TOPIC, device, '"pm25=3"', 'payload_not_object', 0],
  ['a JSON number', TOPIC, device, '42', 'payload_not_object', 0],
  ['JSON null', TOPIC, device, 'null', 'payload_not_object', 0],
  ['gateway payload that is an array', GW_TOPIC, gateway, JSON.stringify([good]), 'payload_not_object', 0],
  ['gateway payload with an extra field', GW_TOPIC, gateway, JSON.stringify({ readings: [good], gateway: 'gw-1' }), 'payload_not_object', 0],
  ['empty array', TOPIC, device, '[]', 'batch_empty', 0],
  ['gateway with no readings', GW_TOPIC, gateway, '{"readings":[]}', 'batch_empty', 0],
  ['1,001 readings', TOPIC, device, JSON.stringify(Array(1001).fill(good)), 'too_many_readings', 0],
  ['array element that is a number', TOPIC, device, JSON.stringify([good, 5]), 'reading_not_object', 1],
  ['array element that is null', TOPIC, device, JSON.stringify([null, good]), 'reading_not_object', 1],
  ['unknown field (typo of values)', TOPIC, device, JSON.stringify([{ ts: NOW, value: { pm25: 1 } }, good]), 'reading_unknown_field', 1],
  ['several readings, one without ts', TOPIC, device, JSON.stringify([{ values: { pm25: 1 } }, good]), 'ts_missing', 1],
  ['gateway batch with a reading without ts', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'aq-1', domain: 'environment', values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'ts_missing', 1],
  ['ts that is not a date', TOPIC, device, JSON.stringify([{ ts: 'yesterday', values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts without an offset', TOPIC, device, JSON.stringify([{ ts: '2026-11-28T10:00:00', values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts on 31 February', TOPIC, device, JSON.stringify([{ ts: '2026-02-31T10:00:00Z', values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts as fractional ms', TOPIC, device, JSON.stringify([{ ts: NOW + 0.5, values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts as a boolean', TOPIC, device, JSON.stringify([{ ts: true, values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts an hour in the future', TOPIC, device, JSON.stringify([{ ts: NOW + 3_600_000, values: { pm25: 1 } }, good]), 'ts_in_future', 1],
  ['ts in seconds instead of ms', TOPIC, device, JSON.stringify([{ ts: Math.floor(NOW / 1000), values: { pm25: 1 } }, good]), 'ts_too_old', 1],
  ['ts before 1970', TOPIC, device, JSON.stringify([{ ts: '1969-12-31T23:59:59.999Z', values: { pm25: 1 } }, good]), 'ts_invalid', 1],
  ['ts of an unset clock (1970)', TOPIC, device, JSON.stringify([{ ts: '1970-01-01T00:00:05Z', values: { pm25: 1 } }, good]), 'ts_too_old', 1],
  ['negative seq', TOPIC, device, JSON.stringify([{ ts: NOW, seq: -1, values: { pm25: 1 } }, good]), 'seq_invalid', 1],
  ['seq as a string', TOPIC, device, JSON.stringify([{ ts: NOW, seq: '7', values: { pm25: 1 } }, good]), 'seq_invalid', 1],
  ['fractional seq', TOPIC, device, JSON.stringify([{ ts: NOW, seq: 1.5, values: { pm25: 1 } }, good]), 'seq_invalid', 1],
  ['quality not in the list', TOPIC, device, JSON.stringify([{ ts: NOW, quality: 'ok', values: { pm25: 1 } }, good]), 'quality_invalid', 1],
  ['no values', TOPIC, device, JSON.stringify([{ ts: NOW }, good]), 'values_missing', 1],
  ['values as an array', TOPIC, device, JSON.stringify([{ ts: NOW, values: [1, 2] }, good]), 'values_missing', 1],
  ['empty values', TOPIC, device, JSON.stringify([{ ts: NOW, values: {} }, good]), 'values_empty', 1],
  ['257 values', TOPIC, device, JSON.stringify([{ ts: NOW, values: big(257) }, good]), 'too_many_values', 1],
  ['metric name with upper case (other values kept)', TOPIC, device, JSON.stringify({ values: { PM25: 1, pm10: 2 } }), 'metric_name_invalid', 1],
  ['metric name __proto__', TOPIC, device, '{"values":{"__proto__":1,"pm10":2}}', 'metric_name_invalid', 1],
  ['value as a string', TOPIC, device, JSON.stringify({ values: { pm25: '35.2', pm10: 2 } }), 'value_invalid', 1],
  ['value null', TOPIC, device, JSON.stringify({ values: { pm25: null, pm10: 2 } }), 'value_invalid', 1],
  ['value as an object', TOPIC, device, JSON.stringify({ values: { pm25: { v: 1 }, pm10: 2 } }), 'value_invalid', 1],
  ['value overflowing to Infinity', TOPIC, device, '{"values":{"pm25":1e400,"pm10":2}}', 'value_invalid', 1],
  ['gateway reading without a device', GW_TOPIC, gateway, JSON.stringify({ readings: [{ domain: 'environment', ts: NOW, values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'device_invalid', 1],
  ['gateway reading for an unknown domain', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'aq-1', domain: 'air', ts: NOW, values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'domain_unknown', 1],
  ['gateway reading for a device behind another gateway', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'lamp-3', domain: 'lighting', ts: NOW, values: { power: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'device_not_behind_gateway', 1],
  ['gateway reading for an unregistered device', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'ghost', domain: 'environment', ts: NOW, values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'device_not_behind_gateway', 1],
  ['gateway reading with the wrong domain', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'pump-7', domain: 'environment', ts: NOW, values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'device_domain_mismatch', 1],
  ['gateway reading with backfill as a string', GW_TOPIC, gateway, JSON.stringify({ readings: [{ device: 'aq-1', domain: 'environment', ts: NOW, backfill: 'yes', values: { pm25: 1 } }, { device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), 'reading_unknown_field', 1],
  ['10,001 gateway readings', GW_TOPIC, gateway, JSON.stringify({ readings: Array(10_001).fill({ device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }) }), 'too_many_readings', 0],
  ['a metric not in the catalogue (a typo)', TOPIC, device, JSON.stringify({ values: { pm2_5: 1, pm10: 2 } }), 'metric_unknown', 1],
  // 5,000 levels parse fine but overflow JSON.stringify and String(): once a crash of the whole service.
  ['5,000 nested arrays, bare', TOPIC, device, DEEP_ARRAY, 'reading_not_object', 0],
  ['5,000 nested arrays in a readings array', TOPIC, device, `[${DEEP_ARRAY},${JSON.stringify(good)}]`, 'reading_not_object', 1],
  ['5,000 nested objects as a value', TOPIC, device, `{"values":{"pm25":${DEEP_OBJECT},"pm10":2}}`, 'value_invalid', 1],
  ['5,000 nested arrays as a value', TOPIC, device, `{"values":{"pm25":${DEEP_ARRAY},"pm10":2}}`, 'value_invalid', 1],
  ['5,000 nested arrays as ts', TOPIC, device, `[{"ts":${DEEP_ARRAY},"values":{"pm25":1}},${JSON.stringify(good)}]`, 'ts_invalid', 1],
  ['5,000 nested objects as seq', TOPIC, device, `[{"ts":${NOW},"seq":${DEEP_OBJECT},"values":{"pm25":1}},${JSON.stringify(good)}]`, 'seq_invalid', 1],
  ['5,000 nested objects as quality', TOPIC, device, `[{"ts":${NOW},"quality":${DEEP_OBJECT},"values":{"pm25":1}},${JSON.stringify(good)}]`, 'quality_invalid', 1],
  ['5,000 nested arrays as values', TOPIC, device, `[{"ts":${NOW},"values":${DEEP_ARRAY}},${JSON.stringify(good)}]`, 'values_missing', 1],
  ['5,000 nested objects in an unknown field', TOPIC, device, `[{"ts":${NOW},"extra":${DEEP_OBJECT},"values":{"pm25":1}},${JSON.stringify(good)}]`, 'reading_unknown_field', 1],
  ['5,000 nested arrays as a gateway batch', GW_TOPIC, gateway, DEEP_ARRAY, 'payload_not_object', 0],
  ['5,000 nested arrays as the gateway readings', GW_TOPIC, gateway, `{"readings":${DEEP_ARRAY}}`, 'reading_not_object', 0],
  ['5,000 nested arrays as one gateway reading', GW_TOPIC, gateway, `{"readings":[${DEEP_ARRAY},{"device":"aq-1","domain":"environment","ts":${NOW},"values":{"pm25":1}}]}`, 'reading_not_object', 1],
  ['5,000 nested objects as a gateway reading\'s device', GW_TOPIC, gateway, `{"readings":[{"device":${DEEP_OBJECT},"domain":"environment","ts":${NOW},"values":{"pm25":1}},{"device":"aq-1","domain":"environment","ts":${NOW},"values":{"pm25":1}}]}`, 'device_invalid', 1],
  ['5,000 nested objects as a gateway reading\'s value', GW_TOPIC, gateway, `{"readings":[{"device":"aq-1","domain":"environment","ts":${NOW},"values":{"pm25":${DEEP_OBJECT},"pm10":1}}]}`, 'value_invalid', 1],
]

// The fast path for a device on its own topic (no topic parsing, the login's
// own id and domain strings reused: one pending message holds no copies). It
// was never taken once: its length check counted one character too many.
describe('isOwnTopic', () => {
  test.each([
    ['telemetry/environment/aq-1', true],
    ['telemetry/environment/aq-12', false],
    ['telemetry/environment/aq-', false],
    ['telemetry/environmentX/aq-1', false],
    ['telemetry/water/aq-1', false],
    ['telemetry/environment_aq-1', false],
    ['telemetry/environment/aq-1/x', false],
    ['gateways/environment/aq-1', false],
  ])('%s for device aq-1 in environment: %s', (topic, own) => {
    expect(isOwnTopic(topic, 'environment', 'aq-1')).toBe(own)
  })
})

describe('bad input', () => {
  test(`covers at least 30 kinds (${BAD.length})`, () => {
    expect(new Set(BAD.map((b) => b[0])).size).toBeGreaterThanOrEqual(30)
  })

  test.each(BAD)('%s -> %s', (_name, topic, principal, payload, reason, storedRows) => {
    const out = decode(payload, topic, principal)
    expect(out.rejections.map((r) => r.reason)).toEqual([reason])
    const [rejection] = out.rejections
    expect(rejection!.detail.length).toBeGreaterThan(5)
    expect(rejection!.payload.length).toBeLessThanOrEqual(options.rejectedPayloadMaxBytes)
    expect(out.rows.length).toBe(storedRows)
  })

  test('a message of many bad values keeps the first refusals in detail and counts the rest', () => {
    const values = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`Bad${i}`, i]))
    const out = decode(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ ts: NOW - i, values }))))
    expect(out.rejections.length).toBe(MAX_DETAILED_REJECTIONS)
    expect(out.omitted?.get('metric_name_invalid')).toBe(50 * 200 - MAX_DETAILED_REJECTIONS)
    expect(rejectionCount(out)).toBe(50 * 200)
  })

  test('a failure inside the decoder is decode_failed for that message only, never a throw', () => {
    const broken: DecodeOptions = { ...options, directory: { get: () => { throw new RangeError('Maximum call stack size exceeded') } } }
    const out = decode(JSON.stringify({ readings: [{ device: 'aq-1', domain: 'environment', ts: NOW, values: { pm25: 1 } }] }), GW_TOPIC, gateway, broken)
    expect(out.rows.length).toBe(0)
    expect(out.rejections.map((r) => r.reason)).toEqual(['decode_failed'])
    expect(out.rejections[0]!.detail).toContain('RangeError: Maximum call stack size exceeded')
    // The next message decodes as usual.
    expect(decode(JSON.stringify(good)).rows.length).toBe(1)
  })

  test('a rejected payload is kept up to the configured size, with its full size recorded', () => {
    const payload = `{"values": {"pm25": 1} ${' '.repeat(10_000)}`
    const [rejection] = decode(payload).rejections
    expect(rejection!.payload.length).toBe(4096)
    expect(rejection!.payloadBytes).toBe(Buffer.byteLength(payload))
  })
})

describe('property: random payloads', () => {
  const anyJson = fc.jsonValue({ maxDepth: 4 })
  const readingish = fc.record({
    ts: fc.oneof(fc.integer({ min: -1e12, max: 3e12 }), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string(), anyJson),
    seq: fc.oneof(fc.integer({ min: -5, max: 1e6 }), fc.double(), fc.string()),
    values: fc.oneof(
      fc.dictionary(fc.oneof(fc.constantFrom('pm25', 'pm10', 'humidity', 'x_y'), fc.string({ maxLength: 8 })), fc.oneof(fc.double(), fc.boolean(), fc.integer(), anyJson), { maxKeys: 6 }),
      anyJson,
    ),
    quality: fc.constantFrom('good', 'bad', 'uncertain', 'meh'),
  }, { requiredKeys: [] })
  // Nesting far deeper than any recursive walk survives, at a random place in a reading.
  const deep = fc.integer({ min: 1000, max: 20_000 }).chain((depth) => fc.constantFrom('[', '{"a":').map((open) =>
    open === '[' ? '['.repeat(depth) + ']'.repeat(depth) : open.repeat(depth) + '1' + '}'.repeat(depth)))
  const deeplyNested = fc.tuple(deep, fc.constantFrom('bare', 'element', 'value', 'ts', 'seq', 'values', 'gateway')).map(([d, at]) => Buffer.from(
    at === 'bare' ? d
      : at === 'element' ? `[${d},{"ts":${NOW},"values":{"pm25":1}}]`
        : at === 'value' ? `{"values":{"pm25":${d}}}`
          : at === 'ts' ? `{"ts":${d},"values":{"pm25":1}}`
            : at === 'seq' ? `{"seq":${d},"values":{"pm25":1}}`
              : at === 'values' ? `{"values":${d}}`
                : `{"readings":[${d}]}`))
  const payloads = fc.oneof(
    deeplyNested,
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    readingish.map((r) => Buffer.from(JSON.stringify(r))),
    fc.array(readingish, { maxLength: 5 }).map((r) => Buffer.from(JSON.stringify(r))),
  )

  test('never throw, and every reading ends as rows or as a rejection', () => {
    fc.assert(fc.property(payloads, (payload) => {
      const out = decode(payload)
      // Something always comes out: at least one row or one rejection.
      expect(out.rows.length + out.rejections.length).toBeGreaterThan(0)
      let body: unknown
      try {
        body = JSON.parse(payload.toString('utf8'))
      } catch {
        return
      }
      const readings = Array.isArray(body) ? body.length : 1
      if (out.rejections.length === 0 || out.readings > 0) {
        // Each reading either produced rows or at least one rejection names it.
        expect(out.readings + out.rejections.length).toBeGreaterThanOrEqual(Math.min(readings, 1))
      }
    }), { numRuns: Number(process.env.FC_RUNS ?? 2000) })
  })

  test('accept exactly what the zod wire contract accepts (device payloads)', () => {
    fc.assert(fc.property(fc.oneof(readingish, fc.array(readingish, { minLength: 1, maxLength: 4 })), (body) => {
      const payload = Buffer.from(JSON.stringify(body))
      // The wire contract says nothing of the catalogue: compare with unknown metrics stored.
      const out = decode(payload, TOPIC, device, { ...storing, maxFutureSkewMs: Number.MAX_SAFE_INTEGER, minTimestampMs: 0 })
      const zodOk = DevicePayloadSchema.safeParse(body).success
      expect(out.rejections.length === 0).toBe(zodOk)
    }), { numRuns: Number(process.env.FC_RUNS ?? 2000) })
  })

  test('gateway payloads agree with the zod contract (auth off)', () => {
    const gwReading = fc.record({
      device: fc.constantFrom('aq-1', 'bad id', ''),
      domain: fc.constantFrom('environment', 'water', 'nope'),
      values: fc.dictionary(fc.constantFrom('pm25', 'flow', 'Bad'), fc.oneof(fc.double(), fc.boolean()), { minKeys: 1, maxKeys: 3 }),
      seq: fc.nat(),
    }, { requiredKeys: ['values'] })
    fc.assert(fc.property(fc.array(gwReading, { minLength: 1, maxLength: 4 }), (readings) => {
      const body = { readings }
      const out = decode(Buffer.from(JSON.stringify(body)), GW_TOPIC, null, storing)
      const zodOk = GatewayPayloadSchema.safeParse(body).success && readings.every((r) => options.catalogue.hasDomain(r.domain ?? ""))
      expect(out.rejections.length === 0).toBe(zodOk)
    }), { numRuns: Number(process.env.FC_RUNS ?? 1000) })
  })
})

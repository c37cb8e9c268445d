import { deflateSync, gzipSync } from 'node:zlib'
import type { Principal } from '@gridline/core'
import { defaultCatalogue } from '@gridline/schemas'
import fc from 'fast-check'
import protoRoot from 'sparkplug-payload/lib/sparkplugPayloadProto.js'
import { describe, expect, test } from 'vitest'
import type { DecodeOptions } from './reading-validator.ts'
import { ServerClock } from './server-clock.ts'
import { type SparkplugMapping, SparkplugHost, defaultMetricName, encodeSparkplug } from './sparkplug.ts'

const NOW = Date.parse('2026-12-07T07:00:00Z')
const options: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: Date.parse('2000-01-01T00:00:00Z'), rejectedPayloadMaxBytes: 4096, serverClock: new ServerClock() }
const GATEWAYS = new Set(['ps-7', 'ps-8'])
const DEVICES: Record<string, { id: string; domain: string | null; gateway: string | null }> = {
  'ps-7/PLC1': { id: 'plc-7', domain: 'water', gateway: 'ps-7' },
  'ps-7/PLC2': { id: 'plc-7b', domain: 'water', gateway: 'ps-7' },
  'ps-7/$node': { id: 'ps-7-node', domain: 'water', gateway: 'ps-7' },
}
const mapping: SparkplugMapping = {
  gateway: (node) => (GATEWAYS.has(node) ? { id: node } : undefined),
  device: (gateway, name) => DEVICES[`${gateway}/${name}`] ?? (name === 'plc-8' ? 'not_behind' : undefined),
  nodeDevice: (gateway) => DEVICES[`${gateway}/$node`],
  metric: (name) => (name === 'Outputs/Pump Running' ? 'pump_on' : name === 'Inputs/Ignored' ? null : undefined),
}
const GW: Principal = { kind: 'gateway', id: 'ps-7' }
const topic = (type: string, device?: string, node = 'ps-7') => `spBv1.0/Water/${type}/${node}${device === undefined ? '' : `/${device}`}`
type Metric = Parameters<typeof encodeSparkplug>[0]['metrics'][number]
const payload = (metrics: Metric[], seq?: number, timestamp = NOW - 1_000) => encodeSparkplug({ timestamp, ...(seq === undefined ? {} : { seq }), metrics })
/** A payload built field by field, for what tahu's encoder refuses to make (no datatype, a value in the wrong field). */
const raw = (object: Record<string, unknown>) => Buffer.from((protoRoot as unknown as { org: { eclipse: { tahu: { protobuf: { Payload: { encode(o: unknown): { finish(): Uint8Array } } } } } } }).org.eclipse.tahu.protobuf.Payload.encode(object).finish())

const NBIRTH = payload([{ name: 'bdSeq', type: 'UInt64', value: 3 }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'Station/Inflow', alias: 100, type: 'Double', value: 40 }], 0)
const DBIRTH = (seq = 1) => payload([
  { name: 'Inputs/Flow', alias: 1, type: 'Double', value: 120.5 },
  { name: 'Inputs/Discharge Pressure', alias: 2, type: 'Float', value: 3.25 },
  { name: 'Outputs/Pump Running', alias: 3, type: 'Boolean', value: true },
  { name: 'Info/Firmware', alias: 4, type: 'String', value: 'v2.1' },
  { name: 'Inputs/Level', alias: 5, type: 'Int16', value: -3 },
  { name: 'Inputs/Ignored', alias: 6, type: 'Double', value: 1 },
], seq)

/** A host that has seen the node's NBIRTH and PLC1's DBIRTH (seq 0 and 1). */
function bornHost(): SparkplugHost {
  const host = new SparkplugHost({ rebirthIntervalMs: 1_000 })
  host.handle(topic('NBIRTH'), NBIRTH, NOW, GW, options, mapping)
  host.handle(topic('DBIRTH', 'PLC1'), DBIRTH(), NOW, GW, options, mapping)
  return host
}
const rowsOf = (out: ReturnType<SparkplugHost['handle']>) => {
  const r = out.decoded.rows
  return [...Array(r.length).keys()].map((i) => ({ device: r.deviceId[i], metric: r.metric[i], value: r.value[i], time: r.time[i] }))
}

describe('Sparkplug B host: births, aliases, statuses', () => {
  test('an NBIRTH stores the node\'s own metrics for its $node device and sets the gateway online; control metrics are skipped', () => {
    const host = new SparkplugHost()
    const out = host.handle(topic('NBIRTH'), NBIRTH, NOW, GW, options, mapping)
    expect(out.decoded.rejections).toEqual([])
    expect(rowsOf(out)).toEqual([{ device: 'ps-7-node', metric: 'inflow', value: 40, time: NOW - 1_000 }])
    expect(out.statuses).toEqual([{ deviceId: 'ps-7', domain: '', state: 'online', time: NOW, receivedAt: NOW }])
    expect(out.skipped.get('control')).toBe(2)
  })

  test('a DBIRTH defines names and aliases; DDATA by alias resolves through it; datatypes convert; strings and null-mapped metrics are not stored', () => {
    const host = new SparkplugHost()
    host.handle(topic('NBIRTH'), NBIRTH, NOW, GW, options, mapping)
    const birth = host.handle(topic('DBIRTH', 'PLC1'), DBIRTH(), NOW, GW, options, mapping)
    expect(birth.decoded.rejections).toEqual([])
    expect(birth.statuses).toMatchObject([{ deviceId: 'plc-7', domain: 'water', state: 'online' }])
    expect(rowsOf(birth).map((r) => [r.metric, r.value])).toEqual([['flow', 120.5], ['discharge_pressure', 3.25], ['pump_on', 1], ['level', -3]])
    expect(birth.skipped).toEqual(new Map([['datatype', 1], ['unmapped', 1]]))
    const data = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: 121 }, { alias: 3, type: 'Boolean', value: false, timestamp: NOW - 500 }], 2), NOW, GW, options, mapping)
    expect(data.decoded.rejections).toEqual([])
    expect(data.rebirth).toBeNull()
    expect(rowsOf(data)).toEqual([
      { device: 'plc-7', metric: 'flow', value: 121, time: NOW - 1_000 },
      { device: 'plc-7', metric: 'pump_on', value: 0, time: NOW - 500 },
    ])
  })

  test('a seq gap asks for a rebirth (at most once per interval) and still stores the data', () => {
    const host = bornHost()
    const gap = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: 5 }], 9), NOW, GW, options, mapping)
    expect(rowsOf(gap)).toHaveLength(1)
    expect(gap.rebirth?.topic).toBe('spBv1.0/Water/NCMD/ps-7')
    expect(gap.rebirthReason).toBe('seq_gap')
    const decoded = (protoRoot as unknown as { org: { eclipse: { tahu: { protobuf: { Payload: { decode(b: Uint8Array): { metrics: { name: string; booleanValue: boolean }[] } } } } } } }).org.eclipse.tahu.protobuf.Payload.decode(gap.rebirth!.payload)
    expect(decoded.metrics).toMatchObject([{ name: 'Node Control/Rebirth', booleanValue: true }])
    const again = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: 6 }], 20, NOW - 900), NOW + 10, GW, options, mapping)
    expect(again.rebirth).toBeNull()
    const later = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: 6 }], 40, NOW - 800), NOW + 2_000, GW, options, mapping)
    expect(later.rebirth).not.toBeNull()
  })

  test('Tahu\'s compressed payloads (DEFLATE, the default, and GZIP) are inflated and read as any', () => {
    const host = bornHost()
    const inner = payload([{ alias: 1, type: 'Double', value: 99 }], 2)
    const deflated = raw({ uuid: 'SPBV1.0_COMPRESSED', body: deflateSync(inner), metrics: [] })
    expect(rowsOf(host.handle(topic('DDATA', 'PLC1'), deflated, NOW, GW, options, mapping))).toMatchObject([{ metric: 'flow', value: 99 }])
    const gzipped = raw({ uuid: 'SPBV1.0_COMPRESSED', body: gzipSync(payload([{ alias: 1, type: 'Double', value: 98 }], 3, NOW - 900)), metrics: [{ name: 'algorithm', datatype: 12, stringValue: 'GZIP' }] })
    expect(rowsOf(host.handle(topic('DDATA', 'PLC1'), gzipped, NOW, GW, options, mapping))).toMatchObject([{ metric: 'flow', value: 98 }])
  })

  test('seq wraps from 255 to 0 without a rebirth', () => {
    const host = bornHost()
    let out
    for (let seq = 2; seq <= 260; seq++) out = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: seq }], seq % 256, NOW - 100_000 + seq), NOW, GW, options, mapping)
    expect(out!.rebirth).toBeNull()
  })

  test('NDEATH with the birth\'s bdSeq sets the node and its devices offline; a will of an older session (another bdSeq) is ignored', () => {
    const host = bornHost()
    const stale = host.handle(topic('NDEATH'), payload([{ name: 'bdSeq', type: 'UInt64', value: 2 }]), NOW, GW, options, mapping)
    expect(stale.statuses).toEqual([])
    expect(stale.skipped.get('stale_death')).toBe(1)
    const death = host.handle(topic('NDEATH'), payload([{ name: 'bdSeq', type: 'UInt64', value: 3 }]), NOW + 5, GW, options, mapping)
    expect(death.statuses.map((s) => [s.deviceId, s.state, s.time])).toEqual([['ps-7', 'offline', NOW + 5], ['plc-7', 'offline', NOW + 5]])
    expect(host.stats()).toEqual({ nodes: 0, devices: 0 })
  })

  test('DDEATH sets the device offline and its later data needs a new DBIRTH', () => {
    const host = bornHost()
    expect(host.handle(topic('DDEATH', 'PLC1'), payload([], 2), NOW, GW, options, mapping).statuses).toMatchObject([{ deviceId: 'plc-7', state: 'offline' }])
    const after = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 1, type: 'Double', value: 1 }], 3), NOW, GW, options, mapping)
    expect(after.decoded.rejections.map((r) => r.reason)).toEqual(['sparkplug_no_birth'])
    expect(after.rebirthReason).toBe('no_birth')
  })

  test('integer datatypes keep their sign and width; Int64 and UInt64 come as numbers', () => {
    const host = new SparkplugHost()
    host.handle(topic('NBIRTH'), NBIRTH, NOW, GW, options, mapping)
    const out = host.handle(topic('DBIRTH', 'PLC1'), payload([
      { name: 'a/level', type: 'Int8', value: -5 },
      { name: 'b/pump_current', type: 'UInt32', value: 4_000_000_000 },
      { name: 'c/pressure', type: 'Int64', value: -7 },
      { name: 'd/flow', type: 'UInt64', value: 9_007_199_254_740_991 },
    ], 1), NOW, GW, { ...options, catalogue: options.catalogue }, mapping)
    expect(rowsOf(out).map((r) => r.value)).toEqual([-5, 4_000_000_000, -7, 9_007_199_254_740_991])
  })

  test('the default metric name: the path in snake case when the catalogue has it, else its last level, else the path', () => {
    expect(defaultMetricName('Inputs/Discharge Pressure', 'water', options)).toBe('discharge_pressure')
    expect(defaultMetricName('pumpSpeed', 'water', options)).toBe('pump_speed')
    expect(defaultMetricName('Station A/Tank 1/Level', 'water', options)).toBe('level')
    expect(defaultMetricName('Motor/Winding Temp', 'water', options)).toBe('motor_winding_temp')
    expect(defaultMetricName('1st Stage/Flow', null, options)).toBe('m_1st_stage_flow')
  })

  test('as a client of another broker (no principal), STATE and other hosts\' commands are counted, not refused', () => {
    const host = new SparkplugHost()
    for (const [t, p] of [['spBv1.0/STATE/scada-1', Buffer.from('{"online":true,"timestamp":1}')], [topic('NCMD'), payload([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }])]] as const) {
      const out = host.handle(t, p, NOW, null, options, mapping)
      expect(out.decoded.rejections).toEqual([])
      expect(rowsOf(out)).toEqual([])
    }
  })

  test('random bytes on any Sparkplug topic never throw and never store', () => {
    const host = bornHost()
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('NBIRTH', 'NDATA', 'DBIRTH', 'DDATA', 'NDEATH', 'DDEATH'), (bytes, type) => {
      const out = host.handle(topic(type, type[0] === 'D' ? 'PLC1' : undefined), Buffer.from(bytes), NOW, GW, options, mapping)
      return out.decoded.rejections.every((r) => typeof r.reason === 'string')
    }), { numRuns: 500 })
  })
})

// The bad-input table: each case is one message to a host that has seen
// ps-7's NBIRTH (seq 0) and PLC1's DBIRTH (seq 1), its reason, and whether it
// asks the edge node for a rebirth.
const decodeRaw = (bytes: Buffer) => (protoRoot as unknown as { org: { eclipse: { tahu: { protobuf: { Payload: { decode(b: Uint8Array): { toJSON(): Record<string, unknown> } } } } } } }).org.eclipse.tahu.protobuf.Payload.decode(bytes).toJSON()

describe('Sparkplug B host: writes (DCMD, NCMD) and their confirmation', () => {
  test('a write to a born metric is a DCMD by alias only, with its datatype and a timestamp, no seq', () => {
    const host = bornHost()
    const w = host.write('ps-7', 'plc-7', 'Outputs/Pump Running', false, NOW)
    if ('error' in w) throw new Error(w.error)
    expect(w).toMatchObject({ topic: 'spBv1.0/Water/DCMD/ps-7/PLC1', metric: 'Outputs/Pump Running', datatype: 'Boolean', value: false })
    const sent = decodeRaw(w.payload)
    expect(sent).toEqual({ timestamp: String(NOW), metrics: [{ alias: '3', datatype: 11, booleanValue: false }] })
  })

  test('an edge node\'s own metric is an NCMD; a metric born without an alias is written by name', () => {
    const host = bornHost()
    const w = host.write('ps-7', null, 'Node Control/Rebirth', true, NOW)
    if ('error' in w) throw new Error(w.error)
    expect(w.topic).toBe('spBv1.0/Water/NCMD/ps-7')
    expect(decodeRaw(w.payload)).toMatchObject({ metrics: [{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }] })
  })

  test.each([
    { name: 'a device not born', gateway: 'ps-7', device: 'plc-7b', metric: 'Inputs/Flow', value: 1, error: 'device "plc-7b" is not born' },
    { name: 'an edge node not born', gateway: 'ps-8', device: null, metric: 'x', value: 1, error: 'edge node "ps-8" is not born' },
    { name: 'a metric not in the birth', gateway: 'ps-7', device: 'plc-7', metric: 'Outputs/Valve', value: true, error: 'has no metric "Outputs/Valve" in its birth certificate' },
    { name: 'a number for a Boolean', gateway: 'ps-7', device: 'plc-7', metric: 'Outputs/Pump Running', value: 1, error: 'is Boolean: a write needs true or false, got 1' },
    { name: 'a fraction for an Int16', gateway: 'ps-7', device: 'plc-7', metric: 'Inputs/Level', value: 2.5, error: '2.5 is not an integer' },
    { name: 'out of an Int16\'s range', gateway: 'ps-7', device: 'plc-7', metric: 'Inputs/Level', value: 40_000, error: '40000 is outside -32768..32767' },
    { name: 'a String metric', gateway: 'ps-7', device: 'plc-7', metric: 'Info/Firmware', value: 2, error: 'gridline writes only numbers and booleans' },
    { name: 'a string for a Double', gateway: 'ps-7', device: 'plc-7', metric: 'Inputs/Flow', value: '12', error: 'a write needs a number, got "12"' },
  ])('refused with a sentence: $name', (c) => {
    const w = bornHost().write(c.gateway, c.device, c.metric, c.value, NOW)
    expect('error' in w ? w.error : w).toContain(c.error)
  })

  test('a watched metric\'s reported values come out, from DDATA by alias and from a rebirth, until unwatched', () => {
    const host = bornHost()
    host.watch('plc-7', 'Outputs/Pump Running')
    const data = host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 3, type: 'Boolean', value: false }, { alias: 1, type: 'Double', value: 9 }], 2), NOW, GW, options, mapping)
    expect(data.reported).toEqual([{ deviceId: 'plc-7', metric: 'Outputs/Pump Running', value: false }])
    const reborn = host.handle(topic('DBIRTH', 'PLC1'), DBIRTH(3), NOW, GW, options, mapping)
    expect(reborn.reported).toEqual([{ deviceId: 'plc-7', metric: 'Outputs/Pump Running', value: true }])
    host.unwatch('plc-7', 'Outputs/Pump Running')
    expect(host.handle(topic('DDATA', 'PLC1'), payload([{ alias: 3, type: 'Boolean', value: false }], 4), NOW, GW, options, mapping).reported).toEqual([])
  })
})

const NAMED = (name: string, type: string, value: unknown, extra: Partial<Metric> = {}) => ({ name, type, value, ...extra })
const BAD: { name: string; topic: string; payload: Buffer; principal?: Principal | null; reasons: string[]; rebirth?: boolean; fresh?: boolean }[] = [
  { name: 'garbage bytes', topic: topic('DDATA', 'PLC1'), payload: Buffer.from('garbage!!'), reasons: ['protobuf_malformed'] },
  { name: 'a truncated DDATA', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: 1 }], 2).subarray(0, 12), reasons: ['protobuf_malformed'] },
  { name: 'a compressed payload that inflates past 1 MiB', topic: topic('DDATA', 'PLC1'), payload: raw({ uuid: 'SPBV1.0_COMPRESSED', body: deflateSync(Buffer.alloc(5_000_000)), metrics: [] }), reasons: ['protobuf_malformed'] },
  { name: 'JSON on a Sparkplug topic', topic: topic('NDATA'), payload: Buffer.from('{"flow": 3}'), reasons: ['protobuf_malformed'] },
  { name: 'data before any birth (gridline restarted)', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: 1 }], 7), reasons: ['sparkplug_no_birth'], rebirth: true, fresh: true },
  { name: 'NDATA before NBIRTH', topic: topic('NDATA'), payload: payload([{ alias: 100, type: 'Double', value: 1 }], 7), reasons: ['sparkplug_no_birth'], rebirth: true, fresh: true },
  { name: 'DDATA of a device without DBIRTH', topic: topic('DDATA', 'PLC2'), payload: payload([{ alias: 1, type: 'Double', value: 1 }], 2), reasons: ['sparkplug_no_birth'], rebirth: true },
  { name: 'an alias the birth did not define', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 42, type: 'Double', value: 1 }, { alias: 1, type: 'Double', value: 2 }], 2), reasons: ['sparkplug_alias_unknown'], rebirth: true },
  { name: 'a name the birth did not define', topic: topic('DDATA', 'PLC1'), payload: payload([NAMED('Inputs/Turbidity', 'Double', 1)], 2), reasons: ['sparkplug_alias_unknown'], rebirth: true },
  { name: 'an alias collision in one birth', topic: topic('DBIRTH', 'PLC2'), payload: payload([NAMED('Inputs/Flow', 'Double', 1, { alias: 7 }), NAMED('Inputs/Level', 'Double', 1, { alias: 7 })], 2), reasons: ['sparkplug_birth_invalid'] },
  { name: 'an alias another device of the node holds', topic: topic('DBIRTH', 'PLC2'), payload: payload([NAMED('Inputs/Flow', 'Double', 1, { alias: 1 })], 2), reasons: ['sparkplug_birth_invalid'] },
  { name: 'a birth metric without a name', topic: topic('DBIRTH', 'PLC2'), payload: payload([{ alias: 9, type: 'Double', value: 1 }], 2), reasons: ['sparkplug_birth_invalid'] },
  { name: 'a birth metric without a datatype', topic: topic('DBIRTH', 'PLC2'), payload: raw({ timestamp: NOW - 1_000, seq: 2, metrics: [{ name: 'Inputs/Flow', doubleValue: 1 }] }), reasons: ['sparkplug_birth_invalid'] },
  { name: 'a birth datatype Sparkplug does not define', topic: topic('DBIRTH', 'PLC2'), payload: raw({ timestamp: NOW - 1_000, seq: 2, metrics: [{ name: 'Inputs/Flow', datatype: 99, doubleValue: 1 }] }), reasons: ['sparkplug_birth_invalid'] },
  { name: 'a datatype other than the birth\'s', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'String', value: '12.5' }, { alias: 2, type: 'Float', value: 3 }], 2), reasons: ['sparkplug_datatype_mismatch'] },
  { name: 'a value in another field than its datatype\'s', topic: topic('DDATA', 'PLC1'), payload: raw({ timestamp: NOW - 1_000, seq: 2, metrics: [{ alias: 1, stringValue: '12.5' }] }), reasons: ['sparkplug_datatype_mismatch'] },
  { name: 'a null value', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: null }], 2), reasons: ['value_invalid'] },
  { name: 'NaN', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: Number.NaN }], 2), reasons: ['value_invalid'] },
  { name: 'a replayed message stamped in 1999', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: 1 }], 2, Date.parse('1999-06-01T00:00:00Z')), reasons: ['ts_too_old'] },
  { name: 'a metric stamped an hour ahead', topic: topic('DDATA', 'PLC1'), payload: payload([{ alias: 1, type: 'Double', value: 1, timestamp: NOW + 3_600_000 }], 2), reasons: ['ts_in_future'] },
  { name: 'a metric the catalogue does not define', topic: topic('DBIRTH', 'PLC2'), payload: payload([NAMED('Motor/Winding Temp', 'Double', 71)], 2), reasons: ['metric_unknown'] },
  { name: 'a device topic without its device level', topic: topic('DDATA'), payload: payload([], 2), reasons: ['sparkplug_topic_invalid'] },
  { name: 'an unknown message type', topic: topic('NSTATUS'), payload: payload([], 2), reasons: ['sparkplug_topic_invalid'] },
  { name: 'levels past the device', topic: `${topic('DDATA', 'PLC1')}/extra`, payload: payload([], 2), reasons: ['sparkplug_topic_invalid'] },
  { name: 'an edge node that is no registered gateway', topic: topic('NBIRTH', undefined, 'ps-99'), payload: NBIRTH, principal: null, reasons: ['device_unknown'] },
  { name: 'a DBIRTH of an unregistered device', topic: topic('DBIRTH', 'PLC9'), payload: DBIRTH(2), reasons: ['device_unknown'] },
  { name: 'a DBIRTH of a device behind another gateway', topic: topic('DBIRTH', 'plc-8'), payload: DBIRTH(2), reasons: ['device_not_behind_gateway'] },
  { name: 'a gateway publishing as another edge node', topic: topic('NBIRTH', undefined, 'ps-8'), payload: NBIRTH, reasons: ['topic_not_authorized'] },
  { name: 'a device login publishing Sparkplug', topic: topic('NBIRTH'), payload: NBIRTH, principal: { kind: 'device', id: 'ps-7', domain: 'water' }, reasons: ['topic_not_authorized'] },
  { name: 'an edge node sending an NCMD', topic: topic('NCMD', undefined, 'ps-8'), payload: payload([NAMED('Node Control/Rebirth', 'Boolean', true)]), reasons: ['topic_not_authorized'] },
  { name: 'an edge node publishing a host STATE', topic: 'spBv1.0/STATE/gridline', payload: Buffer.from('{"online":false,"timestamp":1}'), reasons: ['topic_not_authorized'] },
]

describe('Sparkplug B bad input: each refused with its reason, nothing thrown, the rest stored', () => {
  test.each(BAD)('$name', (c) => {
    const host = c.fresh ? new SparkplugHost() : bornHost()
    const out = host.handle(c.topic, c.payload, NOW, c.principal === undefined ? GW : c.principal, options, mapping)
    expect(out.decoded.rejections.map((r) => r.reason)).toEqual(c.reasons)
    expect(out.decoded.rejections[0]!.detail.length).toBeGreaterThan(10)
    expect(out.rebirth !== null).toBe(c.rebirth ?? false)
  })

  test('the table has at least 30 cases', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(30)
  })

  test('an unknown alias refuses only that metric: the others of the message are stored', () => {
    const out = bornHost().handle(topic('DDATA', 'PLC1'), payload([{ alias: 42, type: 'Double', value: 1 }, { alias: 1, type: 'Double', value: 2 }], 2), NOW, GW, options, mapping)
    expect(rowsOf(out)).toMatchObject([{ metric: 'flow', value: 2 }])
  })
})

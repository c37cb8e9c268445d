import { isUtf8 } from 'node:buffer'
import {
  type Catalogue,
  DEVICE_ID_PATTERN,
  LIMITS,
  MAX_TIMESTAMP_MS,
  METRIC_NAME_PATTERN,
  Quality,
  type RejectReason,
  RowFlags,
  parseRfc3339,
  type TopicTarget,
  parseTopic,
} from '@gridline/schemas'
import type { SequenceTracker } from '../sequence/sequence-tracker.ts'
import type { MetricLimit } from './metric-limit.ts'
import { renderJson } from './render.ts'
import { Rows } from './rows.ts'
import { ServerClock } from './server-clock.ts'

/** Who published, as established when the MQTT client authenticated. */
export type Principal =
  | { kind: 'device'; id: string; domain: string; /** telemetry/{domain}/{id}, the one topic it may publish to */ topic: string }
  | { kind: 'gateway'; id: string }
  /** Subscribes to event topics; may publish nothing. */
  | { kind: 'integration'; id: string }

/** Lookup of registered devices, for gateway authorization. Must be synchronous: it runs per reading. */
export interface DeviceDirectory {
  get(deviceId: string): { domain: string | null; gateway: string | null } | undefined
}

export interface DecodeOptions {
  catalogue: Catalogue
  /** Readings stamped further than this ahead of the receive time are refused. */
  maxFutureSkewMs: number
  /** Readings stamped before this epoch-ms instant are refused (an unset device clock). */
  minTimestampMs: number
  /** Rejected payload excerpts are cut to this many bytes. */
  rejectedPayloadMaxBytes: number
  /** Registered devices; required when authorization is on. */
  directory?: DeviceDirectory
  sequences?: SequenceTracker
  /**
   * What happens to a well-formed metric the catalogue does not define for
   * the domain: `reject` (the default) refuses it as metric_unknown, so a
   * typo such as `pm2_5` is visible; `store` keeps it (counted), up to
   * `metricLimit` distinct ones per device.
   */
  unknownMetrics?: 'reject' | 'store'
  /** With `unknownMetrics: store`: the cap on distinct unknown metrics per device. */
  metricLimit?: MetricLimit
  /** Stamps for readings without ts; one shared by the whole process when not given. */
  serverClock?: ServerClock
}

export interface Rejection {
  reason: RejectReason
  detail: string
  /** The device the rejected data was for, when known. */
  deviceId: string | null
  /** The rejected bytes: the whole payload, or the one reading's JSON. Cut to the configured size. */
  payload: Buffer
  /** Size in bytes before cutting. */
  payloadBytes: number
}

export interface DecodedMessage {
  rows: Rows
  /** Readings that produced at least one row. */
  readings: number
  rejections: Rejection[]
  /** Rows whose metric is not in the catalogue (stored, counted; with unknownMetrics: store). */
  unknownMetrics: number
  /** Rows outside the catalogue's plausible range (stored with quality 1). */
  outOfRange: number
  /**
   * Refusals past the first MAX_DETAILED_REJECTIONS of this message, counted
   * by reason but not rendered: a 1 MB message of bad values costs one
   * dead-letter row, not half a million (undefined when there are none).
   */
  omitted?: Map<RejectReason, number>
}

/** Refusals of one message kept with their own detail and excerpt; the rest are only counted. */
export const MAX_DETAILED_REJECTIONS = 16

/** Refusals in a decoded message: detailed and omitted ones. */
export function rejectionCount(decoded: DecodedMessage): number {
  let n = decoded.rejections.length
  if (decoded.omitted) for (const c of decoded.omitted.values()) n += c
  return n
}

/**
 * The validate processor: turns one MQTT PUBLISH into telemetry rows and
 * rejections. It never throws: every problem in the input becomes a Rejection
 * with a stable reason, and good readings in the same message are kept. A
 * failure inside the decoder itself (a bug, or a limit of the runtime such as
 * the call stack) rejects the whole message as decode_failed rather than
 * escaping into the broker, where it would end the process and, with a
 * persistent session, come back after every restart.
 *
 * `principal` is null when authorization is off (`auth: none`).
 */
export function decodeMessage(
  topic: string,
  payload: Buffer,
  receivedAt: number,
  principal: Principal | null,
  options: DecodeOptions,
): DecodedMessage {
  try {
    return decodeUnguarded(topic, payload, receivedAt, principal, options)
  } catch (err) {
    return decodeFailure(payload, err, deviceOf(topic, principal), options.rejectedPayloadMaxBytes)
  }
}

/** The whole message refused as decode_failed: nothing it decoded before the failure is kept. */
export function decodeFailure(payload: Buffer, err: unknown, deviceId: string | null, rejectedPayloadMaxBytes: number): DecodedMessage {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : 'a non-error value was thrown'
  return {
    rows: new Rows(),
    readings: 0,
    rejections: [rejection('decode_failed', `the message could not be decoded (${what.slice(0, 200)}); it is kept here and nothing of it was stored`, deviceId, payload, rejectedPayloadMaxBytes)],
    unknownMetrics: 0,
    outOfRange: 0,
  }
}

function deviceOf(topic: string, principal: Principal | null): string | null {
  if (principal?.kind === 'device') return principal.id
  const target = parseTopic(topic)
  return target.kind === 'device' ? target.deviceId : null
}

function decodeUnguarded(
  topic: string,
  payload: Buffer,
  receivedAt: number,
  principal: Principal | null,
  options: DecodeOptions,
): DecodedMessage {
  const out: DecodedMessage = { rows: new Rows(), readings: 0, rejections: NO_REJECTIONS, unknownMetrics: 0, outOfRange: 0 }
  let target: TopicTarget
  if (principal?.kind === 'device' && topic === principal.topic) {
    // The common case, a device on its own topic: no parsing, nothing else to authorize.
    target = { kind: 'device', domain: principal.domain, deviceId: principal.id }
  } else {
    target = parseTopic(topic)
    if (target.kind === 'invalid') return rejectAll(out, options, payload, target.reason, `topic "${clip(topic, 200)}"`, null)
    if (principal) {
      const allowed = target.kind === 'device'
        ? principal.kind === 'device' && principal.id === target.deviceId && principal.domain === target.domain
        : principal.kind === 'gateway' && principal.id === target.gatewayId
      if (!allowed) {
        return rejectAll(out, options, payload, 'topic_not_authorized', `${principal.kind} "${principal.id}" may not publish to "${clip(topic, 200)}"`, target.kind === 'device' ? target.deviceId : null)
      }
    }
  }
  const topicDevice = target.kind === 'device' ? target.deviceId : null
  if (target.kind === 'device' && !options.catalogue.hasDomain(target.domain)) {
    return rejectAll(out, options, payload, 'domain_unknown', `domain "${clip(target.domain, 64)}" is not in the catalogue`, topicDevice)
  }

  const maxBytes = target.kind === 'device' ? LIMITS.maxDevicePayloadBytes : LIMITS.maxGatewayPayloadBytes
  if (payload.length === 0) return rejectAll(out, options, payload, 'payload_empty', 'payload has 0 bytes', topicDevice)
  if (payload.length > maxBytes) {
    return rejectAll(out, options, payload, 'payload_too_large', `payload has ${payload.length} bytes, the limit for this topic is ${maxBytes}`, topicDevice)
  }
  if (!isUtf8(payload)) return rejectAll(out, options, payload, 'payload_not_utf8', 'payload is not valid UTF-8', topicDevice)

  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return rejectAll(out, options, payload, 'json_malformed', (err as Error).message, topicDevice)
  }

  const several = Array.isArray(body) ? body.length > 1 : isPlainObject(body) && Array.isArray(body.readings) && body.readings.length > 1
  const decoder = new ReadingDecoder(out, receivedAt, options, several)
  if (target.kind === 'device') {
    if (Array.isArray(body)) {
      if (body.length === 0) return rejectAll(out, options, payload, 'batch_empty', 'the readings array is empty', topicDevice)
      if (body.length > LIMITS.maxReadingsPerMessage) {
        return rejectAll(out, options, payload, 'too_many_readings', `${body.length} readings, at most ${LIMITS.maxReadingsPerMessage} per message`, topicDevice)
      }
      for (let i = 0; i < body.length; i++) decoder.deviceReading(body[i], i, target.deviceId, target.domain)
    } else if (isPlainObject(body)) {
      decoder.deviceReading(body, -1, target.deviceId, target.domain)
    } else {
      return rejectAll(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected a reading object or an array of readings`, topicDevice)
    }
    return out
  }

  if (!isPlainObject(body) || !Array.isArray(body.readings)) {
    return rejectAll(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected {"readings": [...]}`, null)
  }
  for (const key in body) {
    if (key !== 'readings') return rejectAll(out, options, payload, 'payload_not_object', `unexpected field "${clip(key, 64)}" next to readings`, null)
  }
  const readings = body.readings
  if (readings.length === 0) return rejectAll(out, options, payload, 'batch_empty', 'the readings array is empty', null)
  if (readings.length > LIMITS.maxReadingsPerGatewayBatch) {
    return rejectAll(out, options, payload, 'too_many_readings', `${readings.length} readings, at most ${LIMITS.maxReadingsPerGatewayBatch} per gateway batch`, null)
  }
  const gatewayId = principal ? target.gatewayId : null
  for (let i = 0; i < readings.length; i++) decoder.gatewayReading(readings[i], i, gatewayId)
  return out
}

const DEVICE_FIELDS = new Set(['ts', 'seq', 'values', 'quality'])
const GATEWAY_FIELDS = new Set(['ts', 'seq', 'values', 'quality', 'device', 'domain', 'backfill'])

/** Per-message state shared by the readings of one payload. */
class ReadingDecoder {
  constructor(
    private readonly out: DecodedMessage,
    private readonly receivedAt: number,
    private readonly options: DecodeOptions,
    /** The message carries more than one reading, so each needs its own ts. */
    private readonly several: boolean,
  ) {}

  deviceReading(reading: unknown, index: number, deviceId: string, domain: string): void {
    if (!isPlainObject(reading)) return this.reject('reading_not_object', at(index, `is ${describe(reading)}`), deviceId, reading)
    for (const key in reading) {
      if (!DEVICE_FIELDS.has(key)) return this.reject('reading_unknown_field', at(index, `has unknown field "${clip(key, 64)}"`), deviceId, reading)
    }
    this.values(reading, index, deviceId, domain, 0)
  }

  /** `gatewayId` is null when authorization is off. */
  gatewayReading(reading: unknown, index: number, gatewayId: string | null): void {
    if (!isPlainObject(reading)) return this.reject('reading_not_object', at(index, `is ${describe(reading)}`), null, reading)
    for (const key in reading) {
      if (!GATEWAY_FIELDS.has(key)) return this.reject('reading_unknown_field', at(index, `has unknown field "${clip(key, 64)}"`), null, reading)
    }
    const { device, domain, backfill } = reading
    if (typeof device !== 'string' || !DEVICE_ID_PATTERN.test(device)) {
      return this.reject('device_invalid', at(index, `device ${describe(device)} is not a valid device id`), null, reading)
    }
    if (typeof domain !== 'string' || !this.options.catalogue.hasDomain(domain)) {
      return this.reject('domain_unknown', at(index, `domain ${describe(domain)} is not in the catalogue`), device, reading)
    }
    if (backfill !== undefined && typeof backfill !== 'boolean') {
      return this.reject('reading_unknown_field', at(index, `backfill must be a boolean, got ${describe(backfill)}`), device, reading)
    }
    if (gatewayId !== null) {
      const registered = this.options.directory?.get(device)
      if (!registered || registered.gateway !== gatewayId) {
        return this.reject('device_not_behind_gateway', at(index, `device "${device}" is not registered behind gateway "${gatewayId}"`), device, reading)
      }
      if (registered.domain !== domain) {
        return this.reject('device_domain_mismatch', at(index, `device "${device}" is registered in domain "${registered.domain}", not "${domain}"`), device, reading)
      }
    }
    this.values(reading, index, device, domain, backfill === true ? RowFlags.BACKFILL : 0)
  }

  private values(reading: Record<string, unknown>, index: number, deviceId: string, domain: string, baseFlags: number): void {
    const { options, out } = this
    let flags = baseFlags
    let time: number
    const ts = reading.ts
    if (ts === undefined) {
      if (this.several) return this.reject('ts_missing', at(index, 'has no ts, which a message with several readings requires'), deviceId, reading)
      time = (options.serverClock ?? PROCESS_CLOCK).stamp(deviceId, this.receivedAt)
      if (time > this.receivedAt + options.maxFutureSkewMs) {
        // Only a device sending thousands of ts-less readings a second for minutes gets here.
        return this.reject('ts_missing', at(index, `has no ts, and this device sends readings without ts faster than one per millisecond; send ts`), deviceId, reading)
      }
      flags |= RowFlags.SERVER_TIME
    } else if (typeof ts === 'number') {
      if (!Number.isInteger(ts) || ts < 0 || ts > MAX_TIMESTAMP_MS) {
        return this.reject('ts_invalid', at(index, `ts ${ts} is not a whole number of epoch milliseconds up to year 9999`), deviceId, reading)
      }
      time = ts
    } else if (typeof ts === 'string') {
      time = parseRfc3339(ts)
      if (Number.isNaN(time)) return this.reject('ts_invalid', at(index, `ts "${clip(ts, 64)}" is not an RFC 3339 date-time with offset`), deviceId, reading)
    } else {
      return this.reject('ts_invalid', at(index, `ts ${describe(ts)} is neither RFC 3339 with offset nor epoch milliseconds`), deviceId, reading)
    }
    if (time > this.receivedAt + options.maxFutureSkewMs) {
      return this.reject('ts_in_future', at(index, `ts ${safeIso(time)} is more than ${options.maxFutureSkewMs} ms ahead of the receive time`), deviceId, reading)
    }
    if (time < options.minTimestampMs) {
      const hint = typeof ts === 'number' && ts < 1e11 ? ' (it looks like seconds; ts is in milliseconds)' : ''
      return this.reject('ts_too_old', at(index, `ts ${safeIso(time)} is before ${new Date(options.minTimestampMs).toISOString()}${hint}`), deviceId, reading)
    }

    let seq = -1
    if (reading.seq !== undefined) {
      const s = reading.seq
      if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
        return this.reject('seq_invalid', at(index, `seq ${describe(s)} is not an integer >= 0`), deviceId, reading)
      }
      seq = s
    }

    let deviceQuality: number = Quality.GOOD
    if (reading.quality !== undefined) {
      const q = reading.quality
      if (q === 'bad') deviceQuality = Quality.BAD
      else if (q === 'uncertain') deviceQuality = Quality.UNCERTAIN
      else if (q !== 'good') return this.reject('quality_invalid', at(index, `quality ${describe(q)} is not good, uncertain or bad`), deviceId, reading)
    }

    const values = reading.values
    if (values === undefined) return this.reject('values_missing', at(index, 'has no values'), deviceId, reading)
    if (!isPlainObject(values)) return this.reject('values_missing', at(index, `values is ${describe(values)}, expected an object`), deviceId, reading)
    let count = 0
    for (const _ in values) count++
    if (count === 0) return this.reject('values_empty', at(index, 'values has no entries'), deviceId, reading)
    if (count > LIMITS.maxValuesPerReading) {
      return this.reject('too_many_values', at(index, `values has ${count} entries, at most ${LIMITS.maxValuesPerReading}`), deviceId, reading)
    }

    const rows = out.rows
    const before = rows.length
    for (const metric in values) {
      const raw = values[metric]
      if (!validMetricName(metric)) {
        this.reject('metric_name_invalid', at(index, `metric name "${clip(metric, 64)}" does not match ${METRIC_NAME_PATTERN.source}`), deviceId, { [metric]: raw })
        continue
      }
      let value: number
      if (typeof raw === 'number') {
        if (!Number.isFinite(raw)) {
          this.reject('value_invalid', at(index, `${metric} is not finite`), deviceId, { [metric]: String(raw) })
          continue
        }
        // -0 is stored as 0: the same reading must encode the same way on every path.
        value = raw === 0 ? 0 : raw
      } else if (typeof raw === 'boolean') {
        value = raw ? 1 : 0
      } else {
        this.reject('value_invalid', at(index, `${metric} is ${describe(raw)}, expected a finite number or a boolean`), deviceId, { [metric]: raw })
        continue
      }
      let quality = deviceQuality
      const definition = options.catalogue.metric(domain, metric)
      if (definition === undefined) {
        if (options.unknownMetrics !== 'store') {
          this.reject('metric_unknown', at(index, `metric "${metric}" is not in the catalogue for domain "${domain}" (a typo? see docs/protocol.md#metrics)`), deviceId, { [metric]: raw })
          continue
        }
        if (options.metricLimit && !options.metricLimit.admit(deviceId, metric)) {
          this.reject('metric_limit', at(index, `metric "${metric}" would be device "${deviceId}"'s metric number ${options.metricLimit.perDevice + 1} outside the catalogue; at most ${options.metricLimit.perDevice} are kept`), deviceId, { [metric]: raw })
          continue
        }
        out.unknownMetrics++
      } else if (value < definition.min || value > definition.max) {
        out.outOfRange++
        if (quality === Quality.GOOD) quality = Quality.OUT_OF_RANGE
      }
      rows.push(time, deviceId, metric, value, quality, seq, flags)
    }
    if (rows.length > before) {
      out.readings++
      if (seq >= 0) options.sequences?.observe(deviceId, seq)
    }
  }

  private reject(reason: RejectReason, detail: string, deviceId: string | null, fragment: unknown): void {
    const out = this.out
    if (out.rejections.length >= MAX_DETAILED_REJECTIONS) {
      out.omitted ??= new Map()
      out.omitted.set(reason, (out.omitted.get(reason) ?? 0) + 1)
      return
    }
    const json = Buffer.from(renderJson(fragment, this.options.rejectedPayloadMaxBytes), 'utf8')
    addRejection(this.out, rejection(reason, detail, deviceId, json, this.options.rejectedPayloadMaxBytes))
  }
}

/**
 * Metric names seen valid, so the regex runs once per name rather than once
 * per value. Bounded: a flood of distinct names only falls back to the regex.
 */
const validMetricNames = new Set<string>()
function validMetricName(name: string): boolean {
  if (validMetricNames.has(name)) return true
  if (!METRIC_NAME_PATTERN.test(name)) return false
  if (validMetricNames.size < 10_000) validMetricNames.add(name)
  return true
}

/** Shared by every message without rejections (most of them): one array less per message. */
const NO_REJECTIONS: Rejection[] = Object.freeze([]) as unknown as Rejection[]

function addRejection(out: DecodedMessage, r: Rejection): void {
  if (out.rejections === NO_REJECTIONS) out.rejections = []
  out.rejections.push(r)
}

/** Rejects the whole message: its payload is kept as it came. */
function rejectAll(out: DecodedMessage, options: DecodeOptions, payload: Buffer, reason: RejectReason, detail: string, deviceId: string | null): DecodedMessage {
  addRejection(out, rejection(reason, detail, deviceId, payload, options.rejectedPayloadMaxBytes))
  return out
}

export function rejection(reason: RejectReason, detail: string, deviceId: string | null, payload: Buffer, maxBytes: number): Rejection {
  return {
    reason,
    detail,
    deviceId,
    payload: payload.length > maxBytes ? payload.subarray(0, maxBytes) : payload,
    payloadBytes: payload.length,
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string "${clip(v, 40)}"`
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'number') return `the number ${v}`
  return `${typeof v} ${String(v)}`
}

function at(index: number, text: string): string {
  return index < 0 ? `reading ${text}` : `reading ${index} ${text}`
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s
}

function safeIso(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** Stamps ts-less readings when the caller gives no clock of its own: uniqueness per device holds process-wide. */
const PROCESS_CLOCK = new ServerClock()

import { isUtf8 } from 'node:buffer'
import { type DecodedMessage, type Principal, Rows, rejection } from '@gridline/core'
import { type Catalogue, DEVICE_ID_PATTERN, LIMITS, RowFlags, type TopicTarget, parseTopic } from '@gridline/schemas'
import { type DecodeOptions, ReadingValidator, at, clip, describe, emptyDecoded, isPlainObject, refuseMessage } from './reading-validator.ts'

export type { DecodedMessage, Principal, Rejection } from '@gridline/core'
export { MAX_DETAILED_REJECTIONS, rejection, rejectionCount } from '@gridline/core'
export type { DecodeOptions, DeviceDirectory } from './reading-validator.ts'

/**
 * The gridline JSON decoder (docs/protocol.md): turns one message on a
 * `telemetry/...` or `gateways/.../telemetry` topic into telemetry rows and
 * rejections; the reading rules are ReadingValidator's, shared with every
 * other decoder. It never throws: every problem in the input becomes a Rejection
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
  const out = emptyDecoded()
  let target: TopicTarget
  if (principal?.kind === 'device' && isOwnTopic(topic, principal.domain, principal.id)) {
    // The common case, a device on its own topic: no parsing, nothing else to authorize.
    target = { kind: 'device', domain: principal.domain, deviceId: principal.id }
  } else {
    target = parseTopic(topic)
    if (target.kind === 'invalid') return refuseMessage(out, options, payload, target.reason, `topic "${clip(topic, 200)}"`, null)
    if (principal) {
      const allowed = target.kind === 'device'
        ? principal.kind === 'device' && principal.id === target.deviceId && principal.domain === target.domain
        : principal.kind === 'gateway' && principal.id === target.gatewayId
      if (!allowed) {
        return refuseMessage(out, options, payload, 'topic_not_authorized', `${principal.kind} "${principal.id}" may not publish to "${clip(topic, 200)}"`, target.kind === 'device' ? target.deviceId : null)
      }
    }
  }
  const topicDevice = target.kind === 'device' ? target.deviceId : null
  if (target.kind === 'device') out.domain = target.domain
  if (target.kind === 'device' && !options.catalogue.hasDomain(target.domain)) {
    return refuseMessage(out, options, payload, 'domain_unknown', `domain "${clip(target.domain, 64)}" is not in the catalogue`, topicDevice)
  }

  const maxBytes = target.kind === 'device' ? LIMITS.maxDevicePayloadBytes : LIMITS.maxGatewayPayloadBytes
  if (payload.length === 0) return refuseMessage(out, options, payload, 'payload_empty', 'payload has 0 bytes', topicDevice)
  if (payload.length > maxBytes) {
    return refuseMessage(out, options, payload, 'payload_too_large', `payload has ${payload.length} bytes, the limit for this topic is ${maxBytes}`, topicDevice)
  }
  if (!isUtf8(payload)) return refuseMessage(out, options, payload, 'payload_not_utf8', 'payload is not valid UTF-8', topicDevice)

  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return refuseMessage(out, options, payload, 'json_malformed', (err as Error).message, topicDevice)
  }

  const several = Array.isArray(body) ? body.length > 1 : isPlainObject(body) && Array.isArray(body.readings) && body.readings.length > 1
  const rules = new ReadingValidator(out, receivedAt, options, several)
  if (target.kind === 'device') {
    if (Array.isArray(body)) {
      if (body.length === 0) return refuseMessage(out, options, payload, 'batch_empty', 'the readings array is empty', topicDevice)
      if (body.length > LIMITS.maxReadingsPerMessage) {
        return refuseMessage(out, options, payload, 'too_many_readings', `${body.length} readings, at most ${LIMITS.maxReadingsPerMessage} per message`, topicDevice)
      }
      for (let i = 0; i < body.length; i++) deviceReading(rules, body[i], i, target.deviceId, target.domain)
    } else if (isPlainObject(body)) {
      deviceReading(rules, body, -1, target.deviceId, target.domain)
    } else {
      return refuseMessage(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected a reading object or an array of readings`, topicDevice)
    }
    return out
  }

  if (!isPlainObject(body) || !Array.isArray(body.readings)) {
    return refuseMessage(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected {"readings": [...]}`, null)
  }
  for (const key in body) {
    if (key !== 'readings') return refuseMessage(out, options, payload, 'payload_not_object', `unexpected field "${clip(key, 64)}" next to readings`, null)
  }
  const readings = body.readings
  if (readings.length === 0) return refuseMessage(out, options, payload, 'batch_empty', 'the readings array is empty', null)
  if (readings.length > LIMITS.maxReadingsPerGatewayBatch) {
    return refuseMessage(out, options, payload, 'too_many_readings', `${readings.length} readings, at most ${LIMITS.maxReadingsPerGatewayBatch} per gateway batch`, null)
  }
  const gatewayId = principal ? target.gatewayId : null
  for (let i = 0; i < readings.length; i++) gatewayReading(rules, options.catalogue, readings[i], i, gatewayId)
  return out
}

/** A gridline JSON reading's shape (docs/protocol.md#readings) before the reading rules. */
function deviceReading(rules: ReadingValidator, reading: unknown, index: number, deviceId: string, domain: string): void {
  if (!isPlainObject(reading)) return rules.reject('reading_not_object', at(index, `is ${describe(reading)}`), deviceId, reading)
  for (const key in reading) {
    if (!DEVICE_FIELDS.has(key)) return rules.reject('reading_unknown_field', at(index, `has unknown field "${clip(key, 64)}"`), deviceId, reading)
  }
  rules.accept(reading, index, deviceId, domain, 0)
}

/** `gatewayId` is null when authorization is off. */
function gatewayReading(rules: ReadingValidator, catalogue: Catalogue, reading: unknown, index: number, gatewayId: string | null): void {
  if (!isPlainObject(reading)) return rules.reject('reading_not_object', at(index, `is ${describe(reading)}`), null, reading)
  for (const key in reading) {
    if (!GATEWAY_FIELDS.has(key)) return rules.reject('reading_unknown_field', at(index, `has unknown field "${clip(key, 64)}"`), null, reading)
  }
  const { device, domain, backfill } = reading
  if (typeof device !== 'string' || !DEVICE_ID_PATTERN.test(device)) {
    return rules.reject('device_invalid', at(index, `device ${describe(device)} is not a valid device id`), null, reading)
  }
  if (typeof domain !== 'string' || !catalogue.hasDomain(domain)) {
    return rules.reject('domain_unknown', at(index, `domain ${describe(domain)} is not in the catalogue`), device, reading)
  }
  if (backfill !== undefined && typeof backfill !== 'boolean') {
    return rules.reject('reading_unknown_field', at(index, `backfill must be a boolean, got ${describe(backfill)}`), device, reading)
  }
  if (!rules.behindGateway(index, device, domain, gatewayId, reading)) return
  rules.accept(reading, index, device, domain, backfill === true ? RowFlags.BACKFILL : 0)
}

/**
 * Whether `topic` is telemetry/{domain}/{id}, compared in place: the common
 * case, a device on its own topic, costs no string building or parsing.
 */
export function isOwnTopic(topic: string, domain: string, id: string): boolean {
  // 'telemetry/' is 10 characters, the slash between domain and id 1.
  return topic.length === 11 + domain.length + id.length && topic.startsWith('telemetry/') && topic.startsWith(domain, 10)
    && topic.charCodeAt(10 + domain.length) === 47 && topic.endsWith(id)
}

const DEVICE_FIELDS = new Set(['ts', 'seq', 'values', 'quality'])
const GATEWAY_FIELDS = new Set(['ts', 'seq', 'values', 'quality', 'device', 'domain', 'backfill'])

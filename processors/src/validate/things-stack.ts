import type { DecodedMessage } from '@gridline/core'
import { DEVICE_ID_PATTERN, LIMITS, parseRfc3339 } from '@gridline/schemas'
import { flattenCodecOutput } from './chirpstack.ts'
import { decodeFailure } from './decode.ts'
import type { LineDevice } from './line-protocol-decode.ts'
import { type DecodeOptions, ReadingValidator, clip, describe, emptyDecoded, isPlainObject, refuseMessage } from './reading-validator.ts'

/** How a The Things Stack application's devices and payload fields become gridline's (docs/http-ingest.md#the-things-stack-webhook). */
export interface ThingsStackMapping {
  /** The registered device with this DevEUI (registry metadata `devEui`, compared case-insensitively). */
  byDevEui(devEui: string): LineDevice | undefined
  /** A `decoded_payload` field (dotted path for nested ones) to a catalogue metric, for fields not named like one. */
  fields: ReadonlyMap<string, string>
}

/**
 * The message types of The Things Stack v3's application layer (`ApplicationUp`'s
 * oneof, the "Enabled messages" of a webhook): a JSON message carries exactly
 * one of them as a top-level key. Only `uplink_message` carries readings.
 */
export const THINGS_STACK_EVENTS = [
  'uplink_message', 'uplink_normalized', 'join_accept', 'downlink_ack', 'downlink_nack', 'downlink_sent',
  'downlink_failed', 'downlink_queued', 'downlink_queue_invalidated', 'location_solved', 'service_data',
] as const
export type ThingsStackEvent = (typeof THINGS_STACK_EVENTS)[number]

export interface ThingsStackDecoded {
  decoded: DecodedMessage
  /** The message type the body carries; null when it is no The Things Stack message (refused). */
  event: ThingsStackEvent | null
}

/**
 * A gateway's `rx_metadata[].time` is taken as the reading's time only when it is
 * this close to the Network Server's `received_at`: a gateway without GPS
 * stamps from its own clock, which may be minutes or years off.
 */
export const THINGS_STACK_GATEWAY_CLOCK_TOLERANCE_MS = 60_000

/** A TTS message is a few kB (one rx_metadata entry per gateway); bigger is no webhook of its. */
const MAX_BODY_BYTES = LIMITS.maxGatewayPayloadBytes

/**
 * Decodes one message of The Things Stack v3's webhook integration (JSON
 * format, snake_case; docs/http-ingest.md#the-things-stack-webhook). An
 * `uplink_message` is one reading of the device whose DevEUI
 * (`end_device_ids.dev_eui`) is registered as its metadata `devEui`: every
 * numeric or boolean field of `decoded_payload`, the payload formatter's
 * output, is a value (flattened as ChirpStack's `object` is), `f_cnt` is seq
 * (absent means 0: TTS omits zero fields), and the time is the first
 * gateway's `rx_metadata[].time` when it agrees with the Network Server's
 * `uplink_message.received_at` within THINGS_STACK_GATEWAY_CLOCK_TOLERANCE_MS,
 * else that `received_at`. Every time comes from the body, so a webhook TTS
 * sends again is the same reading and is stored once.
 *
 * `gatewayId`: the gateway the webhook logged in as; the device must be
 * registered behind it. Null with `auth: none`: any registered device.
 * Other message types carry no readings: the decoded message is empty and the
 * caller counts and acknowledges them. It never throws: a failure inside it is
 * decode_failed.
 */
export function decodeThingsStack(payload: Buffer, receivedAt: number, options: DecodeOptions, mapping: ThingsStackMapping, gatewayId: string | null = null): ThingsStackDecoded {
  try {
    return decodeUnguarded(payload, receivedAt, options, mapping, gatewayId)
  } catch (err) {
    return { decoded: decodeFailure(payload, err, null, options.rejectedPayloadMaxBytes), event: null }
  }
}

function decodeUnguarded(payload: Buffer, receivedAt: number, options: DecodeOptions, mapping: ThingsStackMapping, gatewayId: string | null): ThingsStackDecoded {
  const out = emptyDecoded()
  const refuse = (reason: Parameters<typeof refuseMessage>[3], detail: string, deviceId: string | null, event: ThingsStackEvent | null): ThingsStackDecoded =>
    ({ decoded: refuseMessage(out, options, payload, reason, detail, deviceId), event })
  if (payload.length > MAX_BODY_BYTES) return refuse('payload_too_large', `the body is ${payload.length} bytes; a The Things Stack message is at most ${MAX_BODY_BYTES}`, null, null)
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return refuse('json_malformed', `${(err as Error).message} (is the webhook's format JSON?)`, null, null)
  }
  if (!isPlainObject(body)) return refuse('payload_not_object', `the body is ${describe(body)}, expected a The Things Stack message object`, null, null)
  const event = THINGS_STACK_EVENTS.find((type) => isPlainObject(body[type])) ?? null
  if (event === null) return refuse('payload_not_object', `the body carries none of The Things Stack's message types (${THINGS_STACK_EVENTS.join(', ')})`, null, null)
  if (event !== 'uplink_message') return { decoded: out, event }

  const ids = body.end_device_ids
  if (!isPlainObject(ids)) return refuse('device_invalid', `the uplink has no end_device_ids (it is ${describe(ids)})`, null, event)
  const devEui = ids.dev_eui
  const name = typeof ids.device_id === 'string' ? clip(ids.device_id, 64) : undefined
  if (typeof devEui !== 'string' || !/^[0-9A-Fa-f]{16}$/.test(devEui)) {
    return refuse('device_invalid', `end_device_ids.dev_eui is ${describe(devEui)}, expected 16 hex digits${name ? ` (TTS device "${name}": give it a DevEUI)` : ''}`, null, event)
  }
  const device = mapping.byDevEui(devEui)
  if (!device) {
    const id = name && DEVICE_ID_PATTERN.test(name) ? name : '<id>'
    return refuse('device_unknown', `no registered device has devEui ${devEui} (gridline devices add ${id} --domain <domain>${gatewayId ? ` --gateway ${gatewayId}` : ''} --metadata '{"devEui": "${devEui}"}')`, null, event)
  }
  if (device.domain === null) return refuse('device_not_authorized', `devEui ${devEui} is registered to "${device.id}", a gateway or integration login, which has no telemetry of its own`, device.id, event)
  out.domain = device.domain
  const up = body.uplink_message as Record<string, unknown>
  const rules = new ReadingValidator(out, receivedAt, options, false)
  if (!rules.behindGateway(-1, device.id, device.domain, gatewayId, { end_device_ids: ids })) return { decoded: out, event }
  const codec = up.decoded_payload
  if (!isPlainObject(codec)) {
    const why = codec === undefined
      ? `the uplink (f_port ${describe(up.f_port ?? 0)}, f_cnt ${describe(up.f_cnt ?? 0)}) has no decoded_payload: give the device or its application an uplink payload formatter in The Things Stack`
      : `decoded_payload is ${describe(codec)}, expected the payload formatter's fields`
    rules.reject('values_missing', why, device.id, { f_port: up.f_port, f_cnt: up.f_cnt, frm_payload: up.frm_payload, decoded_payload: codec })
    return { decoded: out, event }
  }
  const time = timeOf(up, body)
  if ('error' in time) {
    rules.reject('ts_invalid', time.error, device.id, { received_at: up.received_at ?? body.received_at })
    return { decoded: out, event }
  }
  const values: Record<string, unknown> = {}
  flattenCodecOutput(codec, '', 0, values, mapping.fields, options, device.domain)
  // [TTS data formats] "Empty fields are omitted": an uplink without f_cnt has f_cnt 0.
  rules.accept({ ts: time.ts, seq: up.f_cnt === undefined ? 0 : up.f_cnt, values }, -1, device.id, device.domain, 0)
  return { decoded: out, event }
}

/**
 * The reading's time: the first gateway time that agrees with the Network
 * Server's, else the Network Server's (`uplink_message.received_at`, or the
 * message's own `received_at`, the Application Server's), else none (the
 * receive time). A malformed Network Server time is the message's problem;
 * a malformed gateway time is skipped.
 */
function timeOf(up: Record<string, unknown>, body: Record<string, unknown>): { ts: string | undefined } | { error: string } {
  const field = up.received_at !== undefined ? 'uplink_message.received_at' : 'received_at'
  const server = up.received_at !== undefined ? up.received_at : body.received_at
  if (server !== undefined && typeof server !== 'string') return { error: `${field} is ${describe(server)}, expected an RFC 3339 date-time` }
  const serverMs = server === undefined ? Number.NaN : parseRfc3339(server)
  if (server !== undefined && Number.isNaN(serverMs)) return { error: `${field} "${clip(server, 64)}" is not an RFC 3339 date-time with offset` }
  const rx = Array.isArray(up.rx_metadata) ? up.rx_metadata : []
  for (const gateway of rx) {
    if (!isPlainObject(gateway) || typeof gateway.time !== 'string') continue
    const at = parseRfc3339(gateway.time)
    if (Number.isNaN(at)) continue
    if (server === undefined || Math.abs(at - serverMs) <= THINGS_STACK_GATEWAY_CLOCK_TOLERANCE_MS) return { ts: gateway.time }
  }
  return { ts: server }
}

import type { DecodedMessage } from '@gridline/core'
import { type DecodeOptions, ReadingValidator, clip, describe, emptyDecoded, isPlainObject, refuseMessage } from './reading-validator.ts'
import type { LineDevice } from './line-protocol-decode.ts'

/** How a ChirpStack application's devices and payload fields become gridline's (docs/mqtt-client.md#chirpstack). */
export interface ChirpStackMapping {
  /** The registered device with this DevEUI (registry metadata `devEui`, compared case-insensitively). */
  byDevEui(devEui: string): LineDevice | undefined
  /** A decoded `object` field (dotted path for nested ones) to a catalogue metric, for fields not named like one. */
  fields: ReadonlyMap<string, string>
}

export interface ChirpStackDecoded {
  decoded: DecodedMessage
  /** The integration event: `up`, `join`, `status`, `ack`, `txack`, `log`, `location`, `integration`; null when the topic names none. */
  event: string | null
}

/** Nested `object` fields flattened at most this deep (a codec's output is a few levels at most). */
const MAX_DEPTH = 4

/**
 * Decodes one event of ChirpStack v4's MQTT integration, topic
 * `application/<applicationId>/device/<devEui>/event/<type>`, JSON payload
 * (the integration's default `json` marshaler, camelCase). An `up` event is
 * one reading of the device whose `deviceInfo.devEui` it carries: `time`
 * (when the gateways received it; the receive time when absent), `fCnt` as
 * seq (it restarts at 0 after a rejoin, which the sequence tracker tells from
 * a gap by the newer time), and every numeric or boolean field of `object`,
 * the device profile codec's output, as a value. Other events carry no
 * readings: the caller counts and acknowledges them. It never throws.
 */
export function decodeChirpStack(topic: string, payload: Buffer, receivedAt: number, options: DecodeOptions, mapping: ChirpStackMapping): ChirpStackDecoded {
  const out = emptyDecoded()
  const levels = topic.split('/')
  const event = levels.length >= 6 && levels[levels.length - 2] === 'event' ? levels[levels.length - 1]! : null
  const topicDevEui = levels[0] === 'application' && levels[2] === 'device' ? levels[3] ?? null : null
  if (event !== 'up') return { decoded: out, event }
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return { decoded: refuseMessage(out, options, payload, 'json_malformed', (err as Error).message, null), event }
  }
  if (!isPlainObject(body)) return { decoded: refuseMessage(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected a ChirpStack uplink event object`, null), event }
  const info = body.deviceInfo
  const devEui = isPlainObject(info) && typeof info.devEui === 'string' ? info.devEui : topicDevEui
  if (devEui === null || !/^[0-9A-Fa-f]{16}$/.test(devEui)) {
    return { decoded: refuseMessage(out, options, payload, 'device_invalid', `the uplink names no DevEUI (deviceInfo.devEui is ${describe(isPlainObject(info) ? info.devEui : undefined)}, expected 16 hex digits)`, null), event }
  }
  if (topicDevEui !== null && topicDevEui.toLowerCase() !== devEui.toLowerCase()) {
    return { decoded: refuseMessage(out, options, payload, 'device_invalid', `the topic names DevEUI ${clip(topicDevEui, 32)}, the payload's deviceInfo.devEui ${devEui}`, null), event }
  }
  const device = mapping.byDevEui(devEui)
  if (!device) return { decoded: refuseMessage(out, options, payload, 'device_unknown', `no registered device has devEui ${devEui} (gridline devices add <id> --domain <domain> --metadata '{"devEui": "${devEui}"}')`, null), event }
  if (device.domain === null) return { decoded: refuseMessage(out, options, payload, 'device_not_authorized', `devEui ${devEui} is registered to "${device.id}", a gateway or integration login, which has no telemetry of its own`, device.id), event }
  out.domain = device.domain
  const rules = new ReadingValidator(out, receivedAt, options, false)
  if (body.object === undefined) {
    rules.reject('values_missing', `the uplink (fCnt ${describe(body.fCnt)}, fPort ${describe(body.fPort)}) has no decoded object: give the device profile a payload codec in ChirpStack`, device.id, { fCnt: body.fCnt, fPort: body.fPort, data: body.data })
    return { decoded: out, event }
  }
  if (!isPlainObject(body.object)) {
    rules.reject('values_missing', `object is ${describe(body.object)}, expected the codec's decoded fields`, device.id, { object: body.object })
    return { decoded: out, event }
  }
  const values: Record<string, unknown> = {}
  flattenCodecOutput(body.object, '', 0, values, mapping.fields, options, device.domain)
  const fCnt = body.fCnt === undefined ? undefined : body.fCnt
  rules.accept({ ts: typeof body.time === 'string' ? body.time : undefined, seq: fCnt, values }, -1, device.id, device.domain, 0)
  return { decoded: out, event }
}

/**
 * A LoRaWAN payload codec's output (ChirpStack's `object`, The Things Stack's
 * `decoded_payload`) as metric -> value, into `values`: renamed by `fields`,
 * nested ones joined with `_` unless `fields` names their dotted path, a
 * camelCase name not in the catalogue in snake_case; at most MAX_DEPTH levels
 * (deeper objects stay values, which the reading rules refuse). The first of
 * two fields giving one metric is kept. Call with `prefix` '' and `depth` 0.
 */
export function flattenCodecOutput(object: Record<string, unknown>, prefix: string, depth: number, values: Record<string, unknown>, fields: ReadonlyMap<string, string>, options: DecodeOptions, domain: string): void {
  for (const key in object) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    const value = object[key]
    if (isPlainObject(value) && depth < MAX_DEPTH && !fields.has(path)) {
      flattenCodecOutput(value, path, depth + 1, values, fields, options, domain)
      continue
    }
    const renamed = fields.get(path)
    const plain = path.replaceAll('.', '_')
    const metric = renamed ?? (options.catalogue.metric(domain, plain) ? plain : plain.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase())
    // The reading rules judge the value (numbers and booleans only) and the metric (the catalogue, the unknown-metric policy).
    // Defined, not assigned: a field named __proto__ must not reach the object's prototype (the rules then refuse its name).
    if (!Object.hasOwn(values, metric)) Object.defineProperty(values, metric, { value, enumerable: true, writable: true, configurable: true })
  }
}

import type { DecodedMessage, StatusChange } from '@gridline/core'
import { parseRfc3339 } from '@gridline/schemas'
import { type DecodeOptions, ReadingValidator, clip, describe, emptyDecoded, isPlainObject, refuseMessage } from './reading-validator.ts'
import type { LineDevice } from './line-protocol-decode.ts'

/** How a ChirpStack application's devices and payload fields become gridline's (docs/mqtt-client.md#chirpstack). */
export interface ChirpStackMapping {
  /** The registered device with this DevEUI (registry metadata `devEui`, compared case-insensitively). */
  byDevEui(devEui: string): LineDevice | undefined
  /** A decoded `object` field (dotted path for nested ones) to a catalogue metric, for fields not named like one. */
  fields: ReadonlyMap<string, string>
}

/** What an `ack` or `txack` event says of a downlink gridline queued (its queue item id is the command's id). */
export interface ChirpStackDownlinkResult {
  /** `queueItemId`: the DownlinkCommand's id, which is the gridline command's id. */
  queueItemId: string
  /** ack: whether the device acknowledged the confirmed downlink (false: ChirpStack gave up waiting); txack: null. */
  acknowledged: boolean | null
  /** txack: the gateway that took the downlink for transmission. */
  gatewayId: string | null
  /** The event's DevEUI (deviceInfo.devEui, else the topic's), lower case. */
  devEui: string | null
}

export interface ChirpStackDecoded {
  decoded: DecodedMessage
  /** The integration event: `up`, `join`, `status`, `ack`, `txack`, `log`, `location`, `integration`; null when the topic names none. */
  event: string | null
  /** The topic's application id (`application/<applicationId>/device/...`), null when the topic is not ChirpStack's. */
  applicationId: string | null
  /** The topic's DevEUI, lower case; null when the topic names none. */
  devEui: string | null
  /** A good `status` event: the device is online, with its battery and link margin. */
  status?: StatusChange
  /** An `ack` or `txack` event with a queue item id: for the downlink transport to settle its command. */
  downlink?: ChirpStackDownlinkResult
}

/** Nested `object` fields flattened at most this deep (a codec's output is a few levels at most). */
const MAX_DEPTH = 4
const EUI64 = /^[0-9A-Fa-f]{16}$/

/**
 * Decodes one event of ChirpStack v4's MQTT integration, topic
 * `application/<applicationId>/device/<devEui>/event/<type>`, JSON payload
 * (the integration's default `json` marshaler, camelCase). An `up` event is
 * one reading of the device whose `deviceInfo.devEui` it carries: `time`
 * (when the gateways received it; the receive time when absent), `fCnt` as
 * seq (it restarts at 0 after a rejoin, which the sequence tracker tells from
 * a gap by the newer time), and every numeric or boolean field of `object`,
 * the device profile codec's output, as a value. A `status` event (the
 * device's DevStatusAns) is a status change: online, with its battery level
 * and link margin; a bad one is refused like a bad uplink. `ack` and `txack`
 * carry the downlink they report on. Other events carry no readings: the
 * caller counts and acknowledges them. It never throws.
 */
export function decodeChirpStack(topic: string, payload: Buffer, receivedAt: number, options: DecodeOptions, mapping: ChirpStackMapping): ChirpStackDecoded {
  const out = emptyDecoded()
  const levels = topic.split('/')
  const event = levels.length >= 6 && levels[levels.length - 2] === 'event' ? levels[levels.length - 1]! : null
  const chirp = levels[0] === 'application' && levels[2] === 'device'
  const topicDevEui = chirp ? levels[3] ?? null : null
  const result: ChirpStackDecoded = { decoded: out, event, applicationId: chirp ? levels[1] ?? null : null, devEui: topicDevEui === null ? null : topicDevEui.toLowerCase() }
  if (event === 'ack' || event === 'txack') {
    const downlink = downlinkResult(event, payload, topicDevEui)
    if (downlink) result.downlink = downlink
    return result
  }
  if (event !== 'up' && event !== 'status') return result
  const what = event === 'up' ? 'uplink' : 'status'
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    refuseMessage(out, options, payload, 'json_malformed', (err as Error).message, null)
    return result
  }
  if (!isPlainObject(body)) {
    refuseMessage(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected a ChirpStack ${what} event object`, null)
    return result
  }
  const info = body.deviceInfo
  const devEui = isPlainObject(info) && typeof info.devEui === 'string' ? info.devEui : topicDevEui
  if (devEui === null || !EUI64.test(devEui)) {
    refuseMessage(out, options, payload, 'device_invalid', `the ${what} names no DevEUI (deviceInfo.devEui is ${describe(isPlainObject(info) ? info.devEui : undefined)}, expected 16 hex digits)`, null)
    return result
  }
  if (topicDevEui !== null && topicDevEui.toLowerCase() !== devEui.toLowerCase()) {
    refuseMessage(out, options, payload, 'device_invalid', `the topic names DevEUI ${clip(topicDevEui, 32)}, the payload's deviceInfo.devEui ${devEui}`, null)
    return result
  }
  const device = mapping.byDevEui(devEui)
  if (!device) {
    refuseMessage(out, options, payload, 'device_unknown', `no registered device has devEui ${devEui} (gridline devices add <id> --domain <domain> --metadata '{"devEui": "${devEui}"}')`, null)
    return result
  }
  if (device.domain === null) {
    refuseMessage(out, options, payload, 'device_not_authorized', `devEui ${devEui} is registered to "${device.id}", a gateway or integration login, which has no telemetry of its own`, device.id)
    return result
  }
  out.domain = device.domain
  if (event === 'status') {
    const status = statusChange(body, device.id, device.domain, receivedAt)
    if (typeof status === 'string') refuseMessage(out, options, payload, status.startsWith('time') ? 'ts_invalid' : 'status_invalid', status, device.id)
    // A time far ahead would hold the stored status and battery until then (only newer reports replace them).
    else if (status.time > receivedAt + options.maxFutureSkewMs) refuseMessage(out, options, payload, 'ts_in_future', `time ${new Date(status.time).toISOString()} is more than ${options.maxFutureSkewMs} ms ahead of the receive time`, device.id)
    else if (status.time < options.minTimestampMs) refuseMessage(out, options, payload, 'ts_too_old', `time ${new Date(status.time).toISOString()} is before the earliest accepted time ${new Date(options.minTimestampMs).toISOString()}`, device.id)
    else result.status = status
    return result
  }
  const rules = new ReadingValidator(out, receivedAt, options, false)
  if (body.object === undefined) {
    rules.reject('values_missing', `the uplink (fCnt ${describe(body.fCnt)}, fPort ${describe(body.fPort)}) has no decoded object: give the device profile a payload codec in ChirpStack`, device.id, { fCnt: body.fCnt, fPort: body.fPort, data: body.data })
    return result
  }
  if (!isPlainObject(body.object)) {
    rules.reject('values_missing', `object is ${describe(body.object)}, expected the codec's decoded fields`, device.id, { object: body.object })
    return result
  }
  const values: Record<string, unknown> = {}
  flattenCodecOutput(body.object, '', 0, values, mapping.fields, options, device.domain)
  const fCnt = body.fCnt === undefined ? undefined : body.fCnt
  rules.accept({ ts: typeof body.time === 'string' ? body.time : undefined, seq: fCnt, values }, -1, device.id, device.domain, 0)
  return result
}

/**
 * A StatusEvent (ChirpStack's DevStatusAns) as a status change, or why not (a
 * sentence; one starting with "time" is a bad timestamp). The json marshaler
 * leaves out proto3 defaults, so an absent `margin` is 0 and an absent flag
 * false [LoRaWAN 1.0.4 5.5: Battery 0 external power, 255 unavailable; Margin
 * a 6-bit signed dB value].
 */
function statusChange(body: Record<string, unknown>, deviceId: string, domain: string, receivedAt: number): StatusChange | string {
  const { margin = 0, externalPowerSource = false, batteryLevelUnavailable = false, batteryLevel = 0, time } = body
  if (typeof margin !== 'number' || !Number.isInteger(margin) || margin < -32 || margin > 31) return `margin is ${describe(margin)}, expected the link margin in dB, an integer from -32 to 31`
  if (typeof externalPowerSource !== 'boolean') return `externalPowerSource is ${describe(externalPowerSource)}, expected true or false`
  if (typeof batteryLevelUnavailable !== 'boolean') return `batteryLevelUnavailable is ${describe(batteryLevelUnavailable)}, expected true or false`
  if (typeof batteryLevel !== 'number' || !Number.isFinite(batteryLevel) || batteryLevel < 0 || batteryLevel > 100) return `batteryLevel is ${describe(batteryLevel)}, expected a percentage from 0 to 100`
  let at = receivedAt
  if (time !== undefined) {
    at = typeof time === 'string' ? parseRfc3339(time) : Number.NaN
    if (Number.isNaN(at)) return `time is ${describe(time)}, expected an RFC 3339 date-time with offset`
  }
  const batteryPercent = externalPowerSource || batteryLevelUnavailable ? null : batteryLevel
  return { deviceId, domain, state: 'online', time: at, receivedAt, power: { batteryPercent, externalPower: externalPowerSource, marginDb: margin } }
}

/** An AckEvent or TxAckEvent's queue item, or undefined when it names none (it is then only counted). */
function downlinkResult(event: 'ack' | 'txack', payload: Buffer, topicDevEui: string | null): ChirpStackDownlinkResult | undefined {
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined // Counted as an event by the caller; it reports on no command this can find.
  }
  if (!isPlainObject(body) || typeof body.queueItemId !== 'string' || body.queueItemId === '') return undefined
  const info = body.deviceInfo
  const eui = isPlainObject(info) && typeof info.devEui === 'string' ? info.devEui : topicDevEui
  return {
    queueItemId: body.queueItemId.slice(0, 64),
    // proto3 JSON leaves out false: an ack without `acknowledged` is a negative one.
    acknowledged: event === 'ack' ? body.acknowledged === true : null,
    gatewayId: typeof body.gatewayId === 'string' ? body.gatewayId.slice(0, 64) : null,
    devEui: eui === null || !EUI64.test(eui) ? null : eui.toLowerCase(),
  }
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

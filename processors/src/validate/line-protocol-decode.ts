import type { DecodedMessage, Principal } from '@gridline/core'
import { DEVICE_ID_PATTERN } from '@gridline/schemas'
import { type FieldValue, type LinePoint, type Precision, parseLineProtocol, timestampToEpochMs } from './line-protocol.ts'
import { type DecodeOptions, ReadingValidator, clip, emptyDecoded, refuseMessage } from './reading-validator.ts'
import { SENSOR_COMMUNITY_VALUE_TYPES } from './sensor-community.ts'

/** A registered device as line protocol needs it. */
export interface LineDevice {
  id: string
  /** null for a login that is no device (a gateway): it has no telemetry of its own. */
  domain: string | null
}

/** How points become readings (docs/http-ingest.md#line-protocol): the source's mapping. */
export interface LineMapping {
  /** Tag names that name the device, tried in order: `device`; `node` for airrohr, `host` for Telegraf. */
  deviceTags: readonly string[]
  /** Field renames: `field` or `measurement.field` to a metric (the longer key wins). */
  rename: ReadonlyMap<string, string>
  /** A registered device by a tag's value (its id, or a Sensor.Community chip id such as `esp8266-12779556`). */
  lookup(value: string): LineDevice | undefined
}

export interface LineProtocolDecoded {
  decoded: DecodedMessage
  /** Points in the body (parsed or not). */
  lines: number
  /** Fields not stored because they are firmware diagnostics (airrohr's `samples`, `signal`), by name. */
  ignored: Map<string, number>
}

/**
 * Decodes an InfluxDB line protocol body into readings: each point one
 * reading of the device its tag names, each numeric or boolean field one value.
 * A field named like a catalogue metric of the device's domain is that metric;
 * else the rename map; a field `value` is the measurement's name; the
 * airrohr `feinstaub` fields (SDS_P1, SDS_P2, BME280_pressure ...) map as the
 * Sensor.Community source's; anything else keeps its name and meets the
 * unknown-metric policy. Lines that do not parse are refused one by one as
 * line_invalid (influxd's partial write): the rest is kept. It never throws.
 *
 * Who may write for whom: a device only for itself (a point without a device
 * tag is its own); a gateway for the devices registered behind it; with
 * `auth: none` (principal null) any registered device.
 */
export function decodeLineProtocol(
  payload: Buffer,
  precision: Precision,
  principal: Principal | null,
  receivedAt: number,
  options: DecodeOptions,
  mapping: LineMapping,
): LineProtocolDecoded {
  const out = emptyDecoded()
  const ignored = new Map<string, number>()
  if (payload.length === 0) return { decoded: refuseMessage(out, options, payload, 'payload_empty', 'the body has 0 bytes', principal?.id ?? null), lines: 0, ignored }
  const { points, errors } = parseLineProtocol(payload.toString('utf8'), precision)
  const rules = new ReadingValidator(out, receivedAt, options, false, 'line')
  const own = principal?.kind === 'device' ? principal : null
  if (own) out.domain = own.domain
  // Errors and points interleave by line number, so refusals keep the body's order.
  let e = 0
  for (const point of points) {
    while (e < errors.length && errors[e]!.line < point.line) lineError(rules, errors[e++]!, own)
    decodePoint(rules, point, precision, principal, options, mapping, ignored)
  }
  while (e < errors.length) lineError(rules, errors[e++]!, own)
  return { decoded: out, lines: points.length + errors.length, ignored }
}

function lineError(rules: ReadingValidator, error: { line: number; message: string; text: string }, own: Principal | null): void {
  rules.reject('line_invalid', `line ${error.line}: ${error.message}`, own?.id ?? null, error.text)
}

function decodePoint(
  rules: ReadingValidator,
  point: LinePoint,
  precision: Precision,
  principal: Principal | null,
  options: DecodeOptions,
  mapping: LineMapping,
  ignored: Map<string, number>,
): void {
  const line = point.line
  let named: string | undefined
  for (const tag of mapping.deviceTags) {
    named = point.tags.get(tag)
    if (named !== undefined) break
  }
  if (named === undefined) {
    if (principal?.kind !== 'device') return rules.reject('device_invalid', `line ${line} names no device: it has no ${mapping.deviceTags.map((t) => `"${t}"`).join(' or ')} tag`, null, pointFragment(point))
    named = principal.id
  }
  const device = mapping.lookup(named)
  if (!device) {
    if (!DEVICE_ID_PATTERN.test(named)) return rules.reject('device_invalid', `line ${line}: "${clip(named, 64)}" is not a valid device id`, null, pointFragment(point))
    return rules.reject('device_unknown', `line ${line}: device "${clip(named, 64)}" is not registered`, named, pointFragment(point))
  }
  if (device.domain === null) return rules.reject('device_not_authorized', `line ${line}: "${device.id}" is a gateway or integration login, which has no telemetry of its own`, device.id, pointFragment(point))
  if (principal?.kind === 'device' && principal.id !== device.id) {
    return rules.reject('device_not_authorized', `line ${line}: device "${principal.id}" may not write for device "${device.id}"`, device.id, pointFragment(point))
  }
  if (principal?.kind === 'integration') return rules.reject('device_not_authorized', `line ${line}: integration "${principal.id}" may not write telemetry`, device.id, pointFragment(point))
  if (principal?.kind === 'gateway' && !rules.behindGateway(line, device.id, device.domain, principal.id, null, () => pointFragment(point))) return

  const values: Record<string, number | boolean> = {}
  let any = false
  for (const [field, value] of point.fields) {
    const target = metricOf(point.measurement, field, device.domain, options, mapping)
    if (target === null) {
      ignored.set(field, (ignored.get(field) ?? 0) + 1)
      continue
    }
    if (value.type === 'string') {
      rules.reject('value_invalid', `line ${line}: field "${clip(field, 64)}" is a string ("${clip(value.value, 40)}"); gridline stores numbers and booleans`, device.id, { [field]: value.value })
      continue
    }
    if (Object.hasOwn(values, target.metric)) {
      rules.reject('value_invalid', `line ${line}: field "${clip(field, 64)}" is metric ${target.metric} too, which another field of the line already gave; the first is kept`, device.id, { [field]: value.value })
      continue
    }
    values[target.metric] = numeric(value, target.scale)
    any = true
  }
  if (!any) return
  const ts = point.timestamp === null ? undefined : Math.floor(timestampToEpochMs(point.timestamp, precision))
  rules.accept(ts === undefined ? { values } : { ts, values }, line, device.id, device.domain, 0)
}

function metricOf(measurement: string, field: string, domain: string, options: DecodeOptions, mapping: LineMapping): { metric: string; scale?: number } | null {
  const renamed = mapping.rename.get(`${measurement}.${field}`) ?? mapping.rename.get(field)
  if (renamed !== undefined) return { metric: renamed }
  if (field === 'value' && options.catalogue.metric(domain, measurement)) return { metric: measurement }
  if (options.catalogue.metric(domain, field)) return { metric: field }
  if (Object.hasOwn(SENSOR_COMMUNITY_VALUE_TYPES, field)) return SENSOR_COMMUNITY_VALUE_TYPES[field]!
  return { metric: field }
}

function numeric(value: Exclude<FieldValue, { type: 'string' }>, scale: number | undefined): number | boolean {
  if (value.type === 'boolean') return value.value
  return scale === undefined ? value.value : Number((value.value * scale).toPrecision(12))
}

/** A point as JSON for its dead letter. */
function pointFragment(point: LinePoint): unknown {
  const fields: Record<string, unknown> = {}
  for (const [k, v] of point.fields) fields[k] = v.value
  return { line: point.line, measurement: point.measurement, tags: Object.fromEntries(point.tags), fields, timestamp: point.timestamp === null ? null : String(point.timestamp) }
}

/**
 * The device names a line protocol body's points give in their device tags
 * (the first of `deviceTags` a point has), without decoding the points: for
 * a source that registers unknown devices before it decodes (`autoRegister`).
 */
export function lineProtocolDeviceNames(payload: Buffer, deviceTags: readonly string[]): Set<string> {
  const names = new Set<string>()
  for (const point of parseLineProtocol(payload.toString('utf8')).points) {
    for (const tag of deviceTags) {
      const named = point.tags.get(tag)
      if (named !== undefined) {
        names.add(named)
        break
      }
    }
  }
  return names
}

import { type DecodedMessage, MAX_DETAILED_REJECTIONS, type Rejection, Rows, rejection } from '@gridline/core'
import { type Catalogue, LIMITS, MAX_TIMESTAMP_MS, METRIC_NAME_PATTERN, Quality, type RejectReason, RowFlags, parseRfc3339 } from '@gridline/schemas'
import type { SequenceTracker } from '../sequence/sequence-tracker.ts'
import type { MetricLimit } from './metric-limit.ts'
import { renderJson } from './render.ts'
import { ServerClock } from './server-clock.ts'

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

/**
 * One reading as a decoder found it in its wire format, before the reading
 * rules: `ts` as RFC 3339 text or epoch ms (absent: the server stamps it),
 * `seq`, `quality` (good, uncertain, bad) and `values` (metric -> number or
 * boolean). Fields are `unknown` because the rules check them: a decoder
 * passes what the wire said and never repeats a rule. A parsed gridline JSON
 * reading is one as it is (no copy on the hot path).
 */
export interface CandidateReading {
  ts?: unknown
  seq?: unknown
  quality?: unknown
  values?: unknown
}

/**
 * The reading rules, shared by every decoder (gridline JSON, line protocol,
 * Sparkplug, LoRaWAN payloads): timestamps (range, skew, server stamping),
 * seq, quality, values (names, finiteness, booleans), the metric catalogue
 * (unknown metrics, plausible range) and the gateway rule. One instance per
 * message; it fills that message's DecodedMessage. It never throws for bad
 * input: every problem becomes a Rejection with a stable reason.
 */
export class ReadingValidator {
  constructor(
    private readonly out: DecodedMessage,
    private readonly receivedAt: number,
    private readonly options: DecodeOptions,
    /** The message carries more than one reading, so each needs its own ts. */
    private readonly several: boolean,
    /** What `index` counts in details: `reading 3 ...`, or `line 3 ...` for line protocol. */
    private readonly label: 'reading' | 'line' = 'reading',
  ) {}

  /**
   * The rule for a reading a gateway sends for a device (every wire format):
   * the device must be registered behind that gateway, in that domain.
   * False (and the reading refused) otherwise. `gatewayId` null: auth is off.
   * `makeFragment`, when given, builds the refusal's fragment only when there
   * is one (a line-protocol point is not rendered for every accepted line).
   */
  behindGateway(index: number, device: string, domain: string, gatewayId: string | null, fragment: unknown, makeFragment?: () => unknown): boolean {
    if (gatewayId === null) return true
    const registered = this.options.directory?.get(device)
    if (!registered || registered.gateway !== gatewayId) {
      this.reject('device_not_behind_gateway', at(index, this.label, `device "${device}" is not registered behind gateway "${gatewayId}"`), device, makeFragment ? makeFragment() : fragment)
      return false
    }
    if (registered.domain !== domain) {
      this.reject('device_domain_mismatch', at(index, this.label, `device "${device}" is registered in domain "${registered.domain}", not "${domain}"`), device, makeFragment ? makeFragment() : fragment)
      return false
    }
    return true
  }

  /**
   * Applies the reading rules to one candidate reading and adds its rows (or
   * its refusals) to the message. `index` is its position in the message (-1
   * for a lone reading), used in details.
   */
  accept(reading: CandidateReading, index: number, deviceId: string, domain: string, baseFlags: number): void {
    const { options, out } = this
    let flags = baseFlags
    let time: number
    const ts = reading.ts
    if (ts === undefined) {
      if (this.several) return this.reject('ts_missing', at(index, this.label, 'has no ts, which a message with several readings requires'), deviceId, reading)
      time = (options.serverClock ?? PROCESS_CLOCK).stamp(deviceId, this.receivedAt)
      if (time > this.receivedAt + options.maxFutureSkewMs) {
        // Only a device sending thousands of ts-less readings a second for minutes gets here.
        return this.reject('ts_missing', at(index, this.label, `has no ts, and this device sends readings without ts faster than one per millisecond; send ts`), deviceId, reading)
      }
      flags |= RowFlags.SERVER_TIME
    } else if (typeof ts === 'number') {
      if (!Number.isInteger(ts) || ts < 0 || ts > MAX_TIMESTAMP_MS) {
        return this.reject('ts_invalid', at(index, this.label, `ts ${ts} is not a whole number of epoch milliseconds up to year 9999`), deviceId, reading)
      }
      time = ts
    } else if (typeof ts === 'string') {
      time = parseRfc3339(ts)
      if (Number.isNaN(time)) return this.reject('ts_invalid', at(index, this.label, `ts "${clip(ts, 64)}" is not an RFC 3339 date-time with offset`), deviceId, reading)
    } else {
      return this.reject('ts_invalid', at(index, this.label, `ts ${describe(ts)} is neither RFC 3339 with offset nor epoch milliseconds`), deviceId, reading)
    }
    if (time > this.receivedAt + options.maxFutureSkewMs) {
      return this.reject('ts_in_future', at(index, this.label, `ts ${safeIso(time)} is more than ${options.maxFutureSkewMs} ms ahead of the receive time`), deviceId, reading)
    }
    if (time < options.minTimestampMs) {
      const hint = typeof ts === 'number' && ts < 1e11 ? ' (it looks like seconds; ts is in milliseconds)' : ''
      return this.reject('ts_too_old', at(index, this.label, `ts ${safeIso(time)} is before ${new Date(options.minTimestampMs).toISOString()}${hint}`), deviceId, reading)
    }

    let seq = -1
    if (reading.seq !== undefined) {
      const s = reading.seq
      if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
        return this.reject('seq_invalid', at(index, this.label, `seq ${describe(s)} is not an integer >= 0`), deviceId, reading)
      }
      seq = s
    }

    let deviceQuality: number = Quality.GOOD
    if (reading.quality !== undefined) {
      const q = reading.quality
      if (q === 'bad') deviceQuality = Quality.BAD
      else if (q === 'uncertain') deviceQuality = Quality.UNCERTAIN
      else if (q !== 'good') return this.reject('quality_invalid', at(index, this.label, `quality ${describe(q)} is not good, uncertain or bad`), deviceId, reading)
    }

    const values = reading.values
    if (values === undefined) return this.reject('values_missing', at(index, this.label, 'has no values'), deviceId, reading)
    if (!isPlainObject(values)) return this.reject('values_missing', at(index, this.label, `values is ${describe(values)}, expected an object`), deviceId, reading)
    let count = 0
    for (const _ in values) count++
    if (count === 0) return this.reject('values_empty', at(index, this.label, 'values has no entries'), deviceId, reading)
    if (count > LIMITS.maxValuesPerReading) {
      return this.reject('too_many_values', at(index, this.label, `values has ${count} entries, at most ${LIMITS.maxValuesPerReading}`), deviceId, reading)
    }

    const rows = out.rows
    const before = rows.length
    for (const metric in values) {
      const raw = values[metric]
      if (!validMetricName(metric)) {
        this.reject('metric_name_invalid', at(index, this.label, `metric name "${clip(metric, 64)}" does not match ${METRIC_NAME_PATTERN.source}`), deviceId, { [metric]: raw })
        continue
      }
      let value: number
      if (typeof raw === 'number') {
        if (!Number.isFinite(raw)) {
          this.reject('value_invalid', at(index, this.label, `${metric} is not finite`), deviceId, { [metric]: String(raw) })
          continue
        }
        // -0 is stored as 0: the same reading must encode the same way on every path.
        value = raw === 0 ? 0 : raw
      } else if (typeof raw === 'boolean') {
        value = raw ? 1 : 0
      } else {
        this.reject('value_invalid', at(index, this.label, `${metric} is ${describe(raw)}, expected a finite number or a boolean`), deviceId, { [metric]: raw })
        continue
      }
      let quality = deviceQuality
      const definition = options.catalogue.metric(domain, metric)
      if (definition === undefined) {
        if (options.unknownMetrics !== 'store') {
          this.reject('metric_unknown', at(index, this.label, `metric "${metric}" is not in the catalogue for domain "${domain}" (a typo? see docs/protocol.md#metrics)`), deviceId, { [metric]: raw })
          continue
        }
        if (options.metricLimit && !options.metricLimit.admit(deviceId, metric)) {
          this.reject('metric_limit', at(index, this.label, `metric "${metric}" would be device "${deviceId}"'s metric number ${options.metricLimit.perDevice + 1} outside the catalogue; at most ${options.metricLimit.perDevice} are kept`), deviceId, { [metric]: raw })
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

  /** Refuses one reading (or one value of it): `fragment` is rendered as JSON into its dead letter. */
  reject(reason: RejectReason, detail: string, deviceId: string | null, fragment: unknown): void {
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

/** A DecodedMessage with nothing in it yet, for a decoder to fill. */
export function emptyDecoded(): DecodedMessage {
  // Every field a decoder may set is here from the start: one added later
  // would give each pending message's object a separate property array.
  return { rows: new Rows(), readings: 0, rejections: NO_REJECTIONS, unknownMetrics: 0, outOfRange: 0, domain: undefined }
}

/** Shared by every message without rejections (most of them): one array less per message. */
const NO_REJECTIONS: Rejection[] = Object.freeze([]) as unknown as Rejection[]

function addRejection(out: DecodedMessage, r: Rejection): void {
  if (out.rejections === NO_REJECTIONS) out.rejections = []
  out.rejections.push(r)
}

/** Refuses the whole message: its payload is kept as it came. */
export function refuseMessage(out: DecodedMessage, options: DecodeOptions, payload: Buffer, reason: RejectReason, detail: string, deviceId: string | null): DecodedMessage {
  addRejection(out, rejection(reason, detail, deviceId, payload, options.rejectedPayloadMaxBytes))
  return out
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string "${clip(v, 40)}"`
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'number') return `the number ${v}`
  return `${typeof v} ${String(v)}`
}

export function at(index: number, text: string): string
export function at(index: number, label: string, text: string): string
export function at(index: number, labelOrText: string, text?: string): string {
  const label = text === undefined ? 'reading' : labelOrText
  const body = text ?? labelOrText
  return index < 0 ? `${label} ${body}` : `${label} ${index} ${body}`
}

export function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s
}

function safeIso(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** Stamps ts-less readings when the caller gives no clock of its own: uniqueness per device holds process-wide. */
const PROCESS_CLOCK = new ServerClock()

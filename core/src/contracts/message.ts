import type { RejectReason } from '@gridline/schemas'
import type { Rows } from './rows.ts'

/**
 * The message model every source, decoder, processor and sink shares. A
 * decoded message is columnar (Rows: parallel values, no object per row) so
 * that the hot path allocates per message, not per reading.
 */

/** Who sent a message, as its source authenticated it; null where authentication is off (`auth: none`). */
export type Principal =
  | { kind: 'device'; id: string; domain: string }
  | { kind: 'gateway'; id: string }
  /** Subscribes to event topics; may publish nothing. */
  | { kind: 'integration'; id: string }

/** One refused piece of a message (the whole payload or one reading), kept in `rejected` with its reason. */
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

/** What a decoder and the reading rules made of one message. */
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
  /**
   * The domain of a message that speaks for one device (set by the decoder),
   * so the processors after the commit need not parse a transport address.
   * Undefined for gateway batches: their devices' domains come from the registry.
   */
  domain?: string
}

/** Refusals of one message kept with their own detail and excerpt; the rest are only counted. */
export const MAX_DETAILED_REJECTIONS = 16

/** Refusals in a decoded message: detailed and omitted ones. */
export function rejectionCount(decoded: DecodedMessage): number {
  let n = decoded.rejections.length
  if (decoded.omitted) for (const c of decoded.omitted.values()) n += c
  return n
}

/** A rejection with its payload cut to `maxBytes`. */
export function rejection(reason: RejectReason, detail: string, deviceId: string | null, payload: Buffer, maxBytes: number): Rejection {
  return {
    reason,
    detail,
    deviceId,
    payload: payload.length > maxBytes ? payload.subarray(0, maxBytes) : payload,
    payloadBytes: payload.length,
  }
}

export type DeviceState = 'online' | 'offline'

/** A device's report that it came online or went away (docs/protocol.md#device-status). */
export interface StatusChange {
  deviceId: string
  domain: string
  state: DeviceState
  /** The device's ts, or the receive time when it sent none (a will cannot know the time). */
  time: number
  receivedAt: number
  /**
   * What the device said of its power and link (a LoRaWAN DevStatusAns, ChirpStack's
   * `status` event). Absent on a plain online/offline change, which keeps the last one stored.
   */
  power?: DevicePower
}

/** A device's battery and link margin as its last device-status answer gave them (docs/storage.md#device-status). */
export interface DevicePower {
  /** Battery level in %; null when the device cannot measure it or runs on external power. */
  batteryPercent: number | null
  /** The device runs on external power. */
  externalPower: boolean
  /** The demodulation margin of the device's last received request, in dB (LoRaWAN DevStatusAns Margin, -32..31). */
  marginDb: number
}

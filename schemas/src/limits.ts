/**
 * Limits of the wire contract (docs/protocol.md). Clients are built against
 * these numbers, so changing one is a protocol change.
 */
export const LIMITS = {
  /** Readings in one device message (a JSON array). */
  maxReadingsPerMessage: 1_000,
  /** Readings in one gateway batch. */
  maxReadingsPerGatewayBatch: 10_000,
  /** Bytes of one gateway batch payload. */
  maxGatewayPayloadBytes: 1_048_576,
  /** Bytes of one device payload: 1,000 readings of a few values fit easily. */
  maxDevicePayloadBytes: 262_144,
  /** Metric entries in one reading's `values`. */
  maxValuesPerReading: 256,
} as const

/** `deviceId` and `gatewayId` [docs/protocol.md#identifiers]. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
/** Metric names, catalogued or not. */
export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/
/** Domain names: the same shape as metric names. */
export const DOMAIN_PATTERN = /^[a-z][a-z0-9_]{0,31}$/
/**
 * RFC 3339 date-time with a mandatory offset (`Z` or `+07:00`) [RFC 3339 5.6].
 * `Date.parse` alone would also accept forms like "2026/11/28".
 */
export const RFC3339_PATTERN =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/

/** Latest accepted timestamp: 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write. */
export const MAX_TIMESTAMP_MS = 253_402_300_799_999

/**
 * Epoch ms of an RFC 3339 date-time, or NaN when it is not one, names a day
 * that does not exist (`Date.parse` rolls 31 February over into March), or
 * lies before 1970 (the contract's epoch-ms form cannot say it either).
 */
export function parseRfc3339(text: string): number {
  if (!RFC3339_PATTERN.test(text)) return NaN
  const year = Number(text.slice(0, 4))
  const month = Number(text.slice(5, 7))
  const day = Number(text.slice(8, 10))
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (day > daysInMonth) return NaN
  const ms = Date.parse(text)
  return ms >= 0 ? ms : NaN
}

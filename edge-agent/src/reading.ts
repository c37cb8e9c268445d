/** Device-side quality of a reading, as the wire contract spells it (docs/protocol.md). */
export type ReadingQuality = 'good' | 'uncertain' | 'bad'

/** One reading a southbound source hands to the agent. */
export interface Reading {
  device: string
  domain: string
  /** When the values were measured, epoch milliseconds. */
  ts: number
  values: Record<string, number | boolean>
  quality: ReadingQuality
}

/**
 * The queue payload of a reading: its gateway-batch JSON (docs/protocol.md,
 * "Gateway batch") without `backfill`, so the uplink builds a batch by joining
 * payloads and never parses them on the hot path.
 */
export function encodeQueuedReading(reading: Reading, seq: number): Buffer {
  const wire: Record<string, unknown> = { device: reading.device, domain: reading.domain, ts: reading.ts, seq, values: reading.values }
  if (reading.quality !== 'good') wire.quality = reading.quality
  return Buffer.from(JSON.stringify(wire))
}

/** Device and seq of a queue payload (used once per record at start-up, not on the hot path). */
export function sequenceOfQueuedReading(payload: Buffer): { device: string; seq: number } | undefined {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { device?: unknown; seq?: unknown }
    return typeof parsed.device === 'string' && typeof parsed.seq === 'number' ? { device: parsed.device, seq: parsed.seq } : undefined
  } catch {
    return undefined
  }
}

const BACKFILL_SUFFIX = Buffer.from(',"backfill":true}')
const OPEN = Buffer.from('{"readings":[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']}')

/** A gateway batch payload from queue payloads; backfilled readings carry `"backfill": true`. */
export function encodeGatewayBatch(payloads: readonly Buffer[], backfill: boolean): Buffer {
  const parts: Buffer[] = [OPEN]
  payloads.forEach((payload, i) => {
    if (i > 0) parts.push(COMMA)
    if (backfill) parts.push(payload.subarray(0, payload.length - 1), BACKFILL_SUFFIX)
    else parts.push(payload)
  })
  parts.push(CLOSE)
  return Buffer.concat(parts)
}

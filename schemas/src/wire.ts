import { z } from 'zod'
import { DEVICE_ID_PATTERN, DOMAIN_PATTERN, LIMITS, MAX_TIMESTAMP_MS, METRIC_NAME_PATTERN, parseRfc3339 } from './limits.ts'

/**
 * The wire contract as zod schemas: the reference other clients are built
 * against (docs/protocol.md). The ingest hot path uses a hand-written decoder
 * with the same rules and a specific reason per failure; a property test keeps
 * the two in agreement.
 */

export const TimestampSchema = z.union([
  z.string().refine((s) => !Number.isNaN(parseRfc3339(s)), 'not an RFC 3339 date-time with offset'),
  z.number().int().nonnegative().max(MAX_TIMESTAMP_MS),
]).describe('RFC 3339 date-time with offset, or epoch milliseconds.')

export const ValuesSchema = z.record(z.string().regex(METRIC_NAME_PATTERN), z.union([z.number().finite(), z.boolean()]))
  .refine((v) => Object.keys(v).length >= 1, 'values must have at least one entry')
  .refine((v) => Object.keys(v).length <= LIMITS.maxValuesPerReading, `values may have at most ${LIMITS.maxValuesPerReading} entries`)

export const QualityFlagSchema = z.enum(['good', 'uncertain', 'bad'])
  .describe('Device-side quality of every value in the reading (default good).')

export const ReadingSchema = z.strictObject({
  ts: TimestampSchema.optional().describe('When the values were measured; the receive time when absent.'),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional().describe('Per-device sequence number, increasing.'),
  values: ValuesSchema,
  quality: QualityFlagSchema.optional(),
})

/** With several readings in one message each needs its own ts: without, all would get the same receive time. */
const tsWhenSeveral = (readings: { ts?: unknown }[]) => readings.length === 1 || readings.every((r) => r.ts !== undefined)

export const DevicePayloadSchema = z.union([
  ReadingSchema,
  z.array(ReadingSchema).min(1).max(LIMITS.maxReadingsPerMessage).refine(tsWhenSeveral, 'every reading needs ts when a message has several'),
])

export const GatewayReadingSchema = ReadingSchema.extend({
  device: z.string().regex(DEVICE_ID_PATTERN),
  domain: z.string().regex(DOMAIN_PATTERN),
  backfill: z.boolean().optional().describe('True when the edge agent forwards it from its backlog after an outage.'),
})

export const GatewayPayloadSchema = z.strictObject({
  readings: z.array(GatewayReadingSchema).min(1).max(LIMITS.maxReadingsPerGatewayBatch).refine(tsWhenSeveral, 'every reading needs ts when a batch has several'),
})

export type Reading = z.infer<typeof ReadingSchema>
export type GatewayReading = z.infer<typeof GatewayReadingSchema>
export type GatewayPayload = z.infer<typeof GatewayPayloadSchema>

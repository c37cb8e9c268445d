import { z } from 'zod'

/**
 * `sinks.<id>` with `type: timescale`: PostgreSQL with TimescaleDB (or plain
 * partitions) at `database.url`, the primary sink whose commit releases the
 * acknowledgements. The schema and retention are `storage.*`.
 */
export const TimescaleSinkSchema = z.strictObject({
  type: z.literal('timescale').describe('PostgreSQL/TimescaleDB at database.url (ingest/src/sinks/timescale/README.md).'),
  dedupeHoldMs: z.number().int().min(0).default(1_000).describe('After a batch meets a row already stored (a redelivery), later batches go through the deduplicating INSERT for this long before trying the bare COPY again.'),
})

export type TimescaleSinkConfig = z.output<typeof TimescaleSinkSchema>

import { z } from 'zod'

export const RollupConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Maintain telemetry_1m and telemetry_1h.'),
  allowedLatenessMs: z.number().int().min(0).default(30_000)
    .describe("How far behind a device's newest reading a reading may arrive and still count in its open window."),
  idleTimeoutMs: z.number().int().positive().default(120_000)
    .describe('Processing time without readings from a device after which its watermark advances with the clock.'),
  idleCheckIntervalMs: z.number().int().positive().default(5_000).describe('How often idle devices are checked.'),
  forgetDeviceAfterMs: z.number().int().positive().default(3_600_000)
    .describe('A device with no open window and no reading for this long is forgotten (memory bound).'),
  recomputeFirstBucket: z.boolean().default(true)
    .describe('Close the first bucket of each series after start from telemetry in SQL: the previous process may have seen its start.'),
  storeSingleReadingMinutes: z.boolean().optional()
    .describe('Also write 1-minute buckets that hold one reading. Off: such a minute is its reading, and queries compute it from telemetry (docs/rollups.md#single-reading-minutes), so devices reporting every minute or slower cost no telemetry_1m row per reading. Unset: on only when storage.retentionDays drops telemetry, which would take those minutes with it.'),
  flushIntervalMs: z.number().int().positive().default(1_000).describe('How often closed buckets and corrections are written.'),
  maxCorrectionsPerFlush: z.number().int().positive().default(5_000)
    .describe('Buckets recomputed from telemetry per flush; the rest wait for the next flush.'),
  writeBatchRows: z.number().int().positive().default(10_000)
    .describe('Closed buckets written per statement; a flush starts as soon as this many wait, not only every flushIntervalMs.'),
  maxPendingWrites: z.number().int().positive().default(200_000)
    .describe('Closed buckets held while the database is unavailable; beyond this the oldest are dropped and counted. While writes succeed, intake is held back (backpressure) once half of this waits, until a quarter of that is left, so a catch-up burst drops nothing.'),
}).describe('Event-time 1-minute and 1-hour rollups per device and metric.')

export type RollupConfig = z.infer<typeof RollupConfigSchema>

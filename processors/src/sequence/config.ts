import { z } from 'zod'

export const SequenceConfigSchema = z.strictObject({
  dropDuplicates: z.boolean().default(true)
    .describe('Remove readings whose seq was already seen (a resend) before the write.'),
  maxGapsPerDevice: z.number().int().positive().default(64)
    .describe('Open gaps remembered per device; the oldest is forgotten beyond this.'),
  maxGapReadings: z.number().int().positive().default(1_000_000)
    .describe('A forward jump of more than this many seqs is a renumbering, not a gap.'),
  restartDrop: z.number().int().positive().default(1000)
    .describe('A seq this far below the last one is a device restart even if its time is not newer.'),
  persistIntervalMs: z.number().int().positive().default(10_000)
    .describe('How often changed gaps are written to sequence_gaps.'),
}).describe('Per-device seq tracking: duplicate suppression and the gap ledger.')

export type SequenceConfig = z.infer<typeof SequenceConfigSchema>

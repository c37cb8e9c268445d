import { z } from 'zod'

export const TrafficConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute level of service and congestion per road segment.'),
  intervalMs: z.number().int().min(60_000).default(300_000).describe('Length of a level-of-service interval.'),
  losThresholdsPct: z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]).default([85, 67, 50, 40, 30])
    .describe('Speed as % of free-flow speed above which LOS is A, B, C, D, E (F at or below the last); HCM 2010 urban street thresholds.'),
  occupancyJamPct: z.number().min(0).max(100).default(35).describe('Mean detector occupancy at or above which the interval is LOS F whatever the speed; 100 disables.'),
  congestedLevels: z.array(z.enum(['A', 'B', 'C', 'D', 'E', 'F'])).default(['E', 'F']).describe('Levels reported as congested (details.congested).'),
}).prefault({})

export type TrafficConfig = z.output<typeof TrafficConfigSchema>

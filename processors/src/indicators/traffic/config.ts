import { z } from 'zod'

export const TrafficConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute level of service and congestion per road segment.'),
  intervalMs: z.number().int().min(60_000).default(300_000)
    .describe('Length of a level-of-service interval; 900000 (15 min) is the HCM analysis period, the 5-minute default follows detectors that report every 5 minutes.'),
  hcmEdition: z.enum(['2010', '6th']).default('2010')
    .describe('Highway Capacity Manual edition whose urban-street thresholds apply: 2010 (Exhibit 16-4, A > 85 % of base free-flow speed) or 6th (2016, A > 80 %); B-F are the same in both.'),
  losThresholdsPct: z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]).optional()
    .describe('Speed as % of free-flow speed above which LOS is A, B, C, D, E (F at or below the last); overrides hcmEdition. Default: the edition\'s thresholds.'),
  occupancyJamPct: z.number().min(0).max(100).default(35).describe('Mean detector occupancy at or above which the interval is LOS F whatever the speed; 100 disables.'),
  congestedLevels: z.array(z.enum(['A', 'B', 'C', 'D', 'E', 'F'])).default(['E', 'F']).describe('Levels reported as congested (details.congested).'),
}).prefault({})

export type TrafficConfig = z.output<typeof TrafficConfigSchema>

import { z } from 'zod'

const levels = z.tuple([z.number(), z.number(), z.number()])

export const FloodConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute flood levels and rate of rise.'),
  levelMetric: z.string().default('water_level').describe('Metric holding a gauge\'s water level, m.'),
  streetAlertLevelsM: levels.default([0.1, 0.3, 0.5]).describe('Street gauges without `alertLevelsM` metadata: water depth (m) for alert 1, 2, 3.'),
  riverAlertLevelsM: levels.optional().describe('River gauges without `alertLevelsM` metadata: stage (m) for báo động I, II, III. No default: each river station has its own levels.'),
  riseWindowMs: z.number().int().min(60_000).default(3_600_000).describe('Rate of rise: least-squares slope over this much history.'),
  intervalMs: z.number().int().min(60_000).default(900_000).describe('How often each gauge\'s level and rate of rise are emitted (event time); level changes are emitted at once.'),
}).prefault({})

export type FloodConfig = z.output<typeof FloodConfigSchema>

import { z } from 'zod'

const levels = z.tuple([z.number(), z.number(), z.number()])

export const FloodConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute flood levels and rate of rise.'),
  levelMetric: z.string().default('water_level').describe('Metric holding a gauge\'s water level, m.'),
  streetAlertLevelsM: levels.default([0.1, 0.3, 0.5]).describe('Street gauges without `alertLevelsM` metadata: water depth (m) for alert 1, 2, 3.'),
  riverAlertLevelsM: levels.optional().describe('River gauges without `alertLevelsM` metadata: stage (m) for báo động I, II, III. No default: each river station has its own levels.'),
  riseWindowMs: z.number().int().min(60_000).default(600_000).describe('Rate of rise: least-squares slope over this much history (10 min: on a new rise it reaches 97 % of the true rate 9 minutes after onset, docs/indicators.md#flood).'),
  riseMinPoints: z.number().int().min(2).default(3).describe('Readings the rise-rate window needs before a rate is given.'),
  intervalMs: z.number().int().min(60_000).default(300_000).describe('How often each gauge\'s level and rate of rise are emitted (event time); level changes are emitted at once.'),
  alertConfirmReadings: z.number().int().min(1).default(2).describe('Consecutive readings that must agree before the level name changes (one stray reading changes nothing).'),
  hysteresisM: z.number().min(0).default(0.03).describe('A level is left downwards only once the water is this far below its threshold (wider than the gauge\'s noise).'),
  plausibleStepM: z.number().positive().default(0.15).describe('A reading further than this from the last accepted one is held until the next reading confirms it (lies nearer it than the last accepted one); otherwise it is dropped as implausible.'),
  staleAfterMs: z.number().int().min(60_000).default(900_000).describe('A gauge silent this long while it rains or while it is at an alert level raises `flood_gauge_stale`.'),
  rainMetric: z.string().default('rainfall').describe('Metric of the rain gauges that tells the flood indicators it is raining: in a flood gauge\'s district (metadata `district`, compared without case or diacritics), or anywhere for a rain gauge or flood gauge without a district.'),
  rainLookbackMs: z.number().int().min(60_000).default(3_600_000).describe('Rain measured within this long counts as raining now.'),
}).prefault({})

export type FloodConfig = z.output<typeof FloodConfigSchema>

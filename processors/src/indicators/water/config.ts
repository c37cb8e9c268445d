import { z } from 'zod'

export const WaterConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute water-network indicators.'),
  nightStartMinute: z.number().int().min(0).max(1439).default(120).describe('Start of the minimum-night-flow window, minutes after local midnight (02:00).'),
  nightEndMinute: z.number().int().min(1).max(1440).default(240).describe('End of the minimum-night-flow window (04:00).'),
  nightFlowBucketMs: z.number().int().min(60_000).default(900_000).describe('Flow is averaged over buckets of this length before taking the night minimum (15 min smooths single-reading dips).'),
  nightFlowMeterExpiryMs: z.number().int().min(0).default(604_800_000)
    .describe('A meter of an area is expected in the area\'s night total while its newest flow reading is at most this old at the night\'s start (7 days); a bucket counts only when every expected meter reported in it.'),
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(420).describe('Local time of the night window (Asia/Ho_Chi_Minh, UTC+7).'),
  burstWindowMs: z.number().int().min(60_000).default(600_000).describe('Y: the window within which a pressure drop and a flow rise make a burst.'),
  burstPressureDropPct: z.number().min(0).max(100).default(20).describe('X: pressure below the window\'s maximum by more than this %.'),
  burstFlowRisePct: z.number().min(0).default(30).describe('Z: flow above the window\'s minimum by more than this %.'),
  burstClearFraction: z.number().min(0).max(1).default(0.5)
    .describe('A raised burst is held against the pre-burst baseline until the pressure drop or the flow rise against it is below this share of X or Z (0.5: within 10 % of the baseline pressure, or 15 % of the baseline flow).'),
  tankWindowMs: z.number().int().min(60_000).default(3_600_000).describe('Tank level trend: least-squares slope over this much history.'),
  tankIntervalMs: z.number().int().min(60_000).default(900_000).describe('How often a tank\'s trend is emitted (event time).'),
  tankMetric: z.string().default('level').describe('Metric holding a tank\'s level, m.'),
}).prefault({})

export type WaterConfig = z.output<typeof WaterConfigSchema>

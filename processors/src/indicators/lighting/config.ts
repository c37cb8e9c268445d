import { z } from 'zod'

export const LightingConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute street-lighting indicators.'),
  latitude: z.number().min(-90).max(90).default(16.05).describe('Where sunrise and sunset are computed (Da Nang).'),
  longitude: z.number().min(-180).max(180).default(108.2).describe('East positive.'),
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(420).describe('Local time that names a night (the date of its sunset).'),
  marginMinutes: z.number().int().min(0).max(120).default(15).describe('Lamps are expected on from this long after sunset to this long before sunrise (photocell and switching slack).'),
  minPowerW: z.number().min(0).default(5).describe('A lamp drawing at most this much is off (or failed when it should be on).'),
  failureConfirmReadings: z.number().int().min(1).default(2).describe('Consecutive dark readings at night before a lamp is reported failed.'),
  maxGapMs: z.number().int().min(60_000).default(900_000).describe('Power readings further apart are not integrated across (energy and burning hours skip the gap).'),
}).prefault({})

export type LightingConfig = z.output<typeof LightingConfigSchema>

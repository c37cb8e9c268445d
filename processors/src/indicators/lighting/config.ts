import { z } from 'zod'

export const LightingConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute street-lighting indicators.'),
  latitude: z.number().min(-90).max(90).default(16.05).describe('Where sunrise and sunset are computed (Da Nang).'),
  longitude: z.number().min(-180).max(180).default(108.2).describe('East positive.'),
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(420).describe('Local time that names a night (the date of its sunset).'),
  marginMinutes: z.number().int().min(0).max(120).default(15).describe('Lamps are expected on from this long after sunset to this long before sunrise (photocell and switching slack).'),
  minPowerW: z.number().min(0).default(5).describe('A lamp drawing at most this much is off (or failed when it should be on).'),
  failureConfirmReadings: z.number().int().min(1).default(2).describe('Consecutive readings before a lamp is reported failed, underpowered or a day burner.'),
  maxGapMs: z.number().int().min(60_000).default(900_000).describe('Power readings further apart are not integrated across (energy and burning hours skip the gap).'),
  underpowerPct: z.number().min(0).max(100).default(70).describe('A lit lamp drawing less than this share of its expected power (metadata `ratedPowerW` × its dim level) is underpowered.'),
  dayBurnerMarginMinutes: z.number().int().min(0).max(240).default(60).describe('A lamp drawing power from this long after sunrise to this long before sunset is a day burner.'),
  silentAfterMs: z.number().int().min(60_000).default(900_000).describe('A lamp that sends nothing this long while it should be lit is silent.'),
  circuitFaultMinLamps: z.number().int().min(2).default(3).describe('Circuits with at least this many lamps are judged as a whole: their lamp failures wait `circuitFaultHoldMs` for a circuit fault.'),
  circuitFaultSharePct: z.number().gt(0).max(100).default(80).describe('A circuit fault is raised when this share of a circuit\'s lamps is dark or silent, and cleared below half of it.'),
  circuitFaultHoldMs: z.number().int().min(0).default(300_000).describe('How long a dark or silent lamp on a judged circuit waits (event time) before it is reported alone.'),
}).prefault({})

export type LightingConfig = z.output<typeof LightingConfigSchema>

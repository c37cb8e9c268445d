import { z } from 'zod'

export const AirQualityConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Compute air-quality indices.'),
  vnAqi: z.boolean().default(true).describe('Emit VN_AQI (Decision 1459/QĐ-TCMT) hourly and daily.'),
  usAqi: z.boolean().default(true).describe('Emit US EPA AQI hourly (NowCast) and daily.'),
  perDistrict: z.boolean().default(true).describe('Also emit each district\'s AQI (the largest of its sensors\').'),
  hourlyCompletenessPct: z.number().min(0).max(100).default(75).describe("Share of the expected readings a pollutant needs in an hour for its hourly mean to count, %; expected from the device's reporting interval (metadata reportingIntervalS, else the median spacing of its readings). 0: only minReadingsPerHour. The decision sets no rule; 75 % is the usual completeness rule."),
  minReadingsPerHour: z.number().int().min(1).default(1).describe('Readings a pollutant needs in an hour for its hourly mean to count, whatever the completeness share says (a floor).'),
  dailyMinHours: z.number().int().min(1).max(24).default(18).describe('Hourly means a day needs for a 24-hour PM mean (75 %, the usual completeness rule; the decision sets none).'),
  eightHourMinHours: z.number().int().min(1).max(8).default(6).describe('Hourly means an 8-hour mean (O3, and CO for the EPA AQI) needs.'),
  literalHalfWeightNowcast: z.boolean().default(false).describe('Apply the decision\'s w = 1/2 NowCast formula as written, Σ (1/2)^i·ci, instead of dividing by the weights of the hours present (gridline\'s choice; docs/indicators.md#nowcast).'),
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(420).describe('Local time for daily AQI: days run 00:00-24:00 in this offset (Vietnam, UTC+7, has no daylight saving).'),
}).prefault({})

export type AirQualityConfig = z.output<typeof AirQualityConfigSchema>

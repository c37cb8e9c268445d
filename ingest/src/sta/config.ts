import { z } from 'zod'

const rule = z.strictObject({
  domain: z.string().min(1).describe('A device domain (environment, water, traffic, lighting, energy).'),
  metrics: z.array(z.string().min(1)).optional().describe('Only these metrics of the domain are open; all when absent.'),
})

/** The `sta` section: the SensorThings API 1.1 read side (docs/sensorthings.md). */
export const StaConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve OGC SensorThings API 1.1 (read) under /sta/v1.1 on the HTTP port.'),
  open: z.array(rule).default([{ domain: 'environment' }, { domain: 'water', metrics: ['level'] }])
    .describe('What is open data: domains, or some metrics of a domain. Default: air quality and flood gauges (environment) and tank levels; not lamps, pumps or their circuits.'),
  hiddenDevices: z.array(z.string()).default([]).describe('Device ids never shown, whatever their domain.'),
  indicators: z.array(z.string()).default(['vn_aqi_hourly', 'vn_aqi_daily', 'us_aqi', 'flood_level', 'flood_rise_rate']).describe('Indicator histories served as Datastreams of their own.'),
  maxTop: z.number().int().min(1).max(10_000).default(1_000).describe('Most entities in one page; a larger $top gets this many and an @iot.nextLink.'),
  defaultTop: z.number().int().min(1).max(10_000).default(100).describe('Entities in a page without $top.'),
  maxSkip: z.number().int().min(0).default(100_000).describe('Largest $skip (deep offsets read everything before them); page Observations by phenomenonTime instead.'),
  maxExactCount: z.number().int().min(1).default(100_000).describe('$count=true counts exactly up to this many; above it @iot.count is PostgreSQL\'s estimate (docs/sensorthings.md#count).'),
  queryTimeoutMs: z.number().int().min(100).default(5_000).describe('A query running longer is cancelled (503).'),
  datastreamFlushMs: z.number().int().min(100).default(10_000).describe('How often new Datastreams and their phenomenonTime are written to sta_datastreams.'),
  cacheMaxAgeS: z.number().int().min(0).default(10).describe('Cache-Control max-age of answers (public without an API key, private with one).'),
  corsOrigins: z.array(z.string()).default(['*']).describe('Origins allowed by CORS; [] sends no CORS headers.'),
  requireApiKey: z.boolean().default(false).describe('Refuse requests without a known API key (X-Api-Key header or api_key parameter).'),
  apiKeys: z.array(z.strictObject({
    consumer: z.string().min(1).describe('Who the key is for (shown in logs and metrics).'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).describe('SHA-256 (hex) of the key; the key itself is never in the config.'),
    requestsPerMinute: z.number().int().min(1).optional().describe('This consumer\'s rate limit; default rateLimit.requestsPerMinute.'),
  })).default([]).describe('API keys per consumer.'),
  rateLimit: z.strictObject({
    requestsPerMinute: z.number().int().min(1).default(600).describe('Requests per minute per client (its API key, else its address).'),
    burst: z.number().int().min(1).default(60).describe('Requests a client may make at once before the rate applies.'),
  }).prefault({}),
}).prefault({})

export type StaConfig = z.output<typeof StaConfigSchema>

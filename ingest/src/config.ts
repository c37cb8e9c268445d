import { EVEN_WITH_OTHER_PROBLEMS, type EnvOverride, applyEnvOverrides, bothNumbers, readConfigFile, validateConfig } from '@gridline/core'
import { AlarmsConfigSchema, IndicatorsConfigSchema, QualityConfigSchema, RollupConfigSchema, SequenceConfigSchema } from '@gridline/processors'
import { z } from 'zod'
import { type SinkConfig, SinkConfigSchema, type SourceConfig, SourceConfigSchema, componentMap } from './plugins.ts'
import { SparkplugSchema } from './sparkplug/config.ts'
import { StaConfigSchema } from './sta/config.ts'
import { NotificationsConfigSchema } from './notifications/config.ts'
import { LegacyMqttSchema, type MqttBrokerSourceConfig, MqttBrokerSourceSchema } from './sources/mqtt_broker/config.ts'

const port = z.number().int().min(0).max(65535)

export const IngestConfigSchema = z.strictObject({
  mqtt: LegacyMqttSchema.optional().describe('Alias of sources.mqtt (type mqtt_broker): the embedded broker\'s keys as configs before the sources map wrote them.'),
  sources: componentMap(SourceConfigSchema).optional().describe('Sources by id (docs/configuration.md#sources); default: one mqtt_broker with id mqtt.'),
  sinks: componentMap(SinkConfigSchema).default({ timescale: { type: 'timescale', dedupeHoldMs: 1_000 } }).describe('Sinks by id (docs/configuration.md#sinks); default: one timescale sink, the primary.'),
  http: z.strictObject({
    host: z.string().default('0.0.0.0').describe('Address the HTTP server (health, metrics) binds to.'),
    port: port.default(8080).describe('HTTP port; 0 picks a free one. Env HTTP_PORT.'),
    requestTimeoutMs: z.number().int().min(1_000).default(30_000).describe('A request\'s headers and body must arrive within this (ms); a trickled body is cut.'),
    headersTimeoutMs: z.number().int().min(1_000).default(10_000).describe('A request\'s headers must arrive within this (ms); at most requestTimeoutMs.'),
    idleTimeoutMs: z.number().int().min(20_000).default(120_000).describe('A connection silent both ways this long (ms) is closed; the live stream\'s 15 s heartbeat keeps it open.'),
  }).prefault({}),
  database: z.strictObject({
    url: z.string().min(1).optional().describe('PostgreSQL connection URL. Env DATABASE_URL. Required by `gridline ingest`; the demo starts an embedded PostgreSQL when absent.'),
    poolSize: z.number().int().min(2).max(100).default(6).describe('Connections in the pool (writers + queries).'),
    jit: z.boolean().default(false).describe("PostgreSQL's JIT compilation for the service's connections. Off (the default): the planner's cost estimates for a chart's minutes made PostgreSQL 15 spend ~300 ms compiling a query that runs in 5 ms (docs/storage.md#jit)."),
  }).prefault({}),
  storage: z.strictObject({
    timescale: z.enum(['auto', 'on', 'off']).default('auto').describe('Use TimescaleDB when the extension is available (auto), insist (on) or never (off).'),
    partitionIntervalHours: z.number().int().min(1).max(24 * 31).default(24).describe('Width of a chunk (TimescaleDB) or partition (PostgreSQL).'),
    partitionsAhead: z.number().int().min(1).max(366).default(3).describe('PostgreSQL: partitions kept ready ahead of now.'),
    partitionsBehind: z.number().int().min(0).max(366).default(7).describe('PostgreSQL: partitions created behind now for backfill; older rows go to telemetry_default.'),
    retentionDays: z.number().int().min(0).default(0).describe('Drop telemetry rows older than this many days; 0 keeps everything.'),
    rejectedRetentionDays: z.number().int().min(0).default(30).describe('Delete rejected rows (dead letters) older than this many days; 0 keeps them as long as telemetry (retentionDays). Env GRIDLINE_REJECTED_RETENTION_DAYS.'),
    compressAfterDays: z.number().int().min(0).default(7).describe('TimescaleDB: compress chunks older than this many days; 0 disables compression.'),
    maintenanceIntervalMs: z.number().int().min(1000).default(3_600_000).describe('How often storage maintenance runs: partitions created ahead (PostgreSQL) and retention applied (both engines).'),
  }).prefault({}),
  ingest: z.strictObject({
    maxBatchRows: z.number().int().min(1).default(5_000).describe('A batch is committed once it holds this many rows.'),
    flushIntervalMs: z.number().int().min(0).default(5).describe('... or once its oldest message waited this long.'),
    writers: z.number().int().min(1).max(32).default(2).describe('Batches committed in parallel, each on its own connection.'),
    maxPendingRows: z.number().int().min(1).default(50_000).describe('At this many uncommitted rows no acknowledgement is released, so no socket is read further, until they are down to half; the backpressure gauge is 1 meanwhile.'),
    maxPendingRowsPerConnection: z.number().int().min(1).default(10_000).describe('One connection\'s share: while this many of its rows (a message without rows counts as one) are uncommitted its socket is not read further, so one flooding client cannot fill the pipeline for everyone. Within it the broker reads on while messages wait for their commit.'),
    rejectedPerDevicePerSecond: z.number().min(0).default(5).describe('Rejected messages per second one device (or client) may add to the rejected table, with bursts of rejectedBurst; more are counted (gridline_ingest_rejected_unkept_total) and summarised in its next kept row, not kept one by one. 0 keeps every one.'),
    rejectedBurst: z.number().int().min(1).default(100).describe('Rejected messages one device may add at once before rejectedPerDevicePerSecond applies.'),
    shedAtPendingRows: z.number().int().min(1).default(200_000).describe('Past this many uncommitted rows (what was read before intake stopped, plus new connections) a new PUBLISH closes its connection unacknowledged; the client resends later.'),
    maxFutureSkewMs: z.number().int().min(0).default(300_000).describe('Readings stamped further ahead of the receive time are rejected (ts_in_future).'),
    minTimestamp: z.iso.datetime({ offset: true }).default('2000-01-01T00:00:00Z').describe('Readings stamped earlier are rejected (ts_too_old): an unset device clock.'),
    rejectedPayloadMaxBytes: z.number().int().min(0).max(1_048_576).default(4_096).describe('Bytes of a rejected payload kept in the rejected table.'),
    retryMinMs: z.number().int().min(1).default(100).describe('First delay before retrying a failed batch write.'),
    retryMaxMs: z.number().int().min(1).default(5_000).describe('Largest delay between retries of a failed batch write.'),
    shutdownTimeoutMs: z.number().int().min(0).default(30_000).describe('On SIGTERM, how long to wait for pending messages to commit before closing anyway (they are then not acknowledged).'),
  }).prefault({})
    // Checked even when other ingest keys are wrong, so every problem is listed at once (values may be unvalidated: compare numbers only).
    .refine((i) => !bothNumbers(i.retryMinMs, i.retryMaxMs) || i.retryMinMs <= i.retryMaxMs, { message: 'retryMinMs must not exceed retryMaxMs', path: ['retryMinMs'], ...EVEN_WITH_OTHER_PROBLEMS })
    .refine((i) => !bothNumbers(i.shedAtPendingRows, i.maxPendingRows) || i.shedAtPendingRows >= i.maxPendingRows, { message: 'shedAtPendingRows must not be below maxPendingRows', path: ['shedAtPendingRows'], ...EVEN_WITH_OTHER_PROBLEMS }),
  catalogue: z.strictObject({
    unknownMetrics: z.enum(['reject', 'store']).default('reject').describe('A well-formed metric the catalogue does not define for the domain: reject (refused as metric_unknown, so a typo like pm2_5 is visible) or store (kept and counted). Env GRIDLINE_UNKNOWN_METRICS.'),
    maxUnknownMetricsPerDevice: z.number().int().min(0).default(100).describe('With unknownMetrics: store, distinct metrics outside the catalogue one device may have since the service started; more are refused as metric_limit.'),
  }).prefault({}),
  auth: z.strictObject({
    mode: z.enum(['devices', 'none']).default('devices').describe('devices: each device logs in with its id and password. none: no login, no topic checks; trusted labs only. Env AUTH_MODE.'),
  }).prefault({}),
  processors: z.strictObject({
    sequence: SequenceConfigSchema.prefault({}).describe('Per-device seq tracking: duplicate suppression and the gap ledger (docs/rollups.md).'),
    quality: QualityConfigSchema.prefault({}).describe('Stuck, saturation and spike checks before the write (docs/rollups.md).'),
    rollups: RollupConfigSchema.prefault({}).describe('Event-time 1-minute and 1-hour rollups (docs/rollups.md).'),
    indicators: IndicatorsConfigSchema.describe('City indicators: air quality, traffic, water, lighting, flood (docs/indicators.md).'),
    alarms: AlarmsConfigSchema.prefault({}).describe('Alarm rules and their lifecycle (docs/alarms.md).'),
    onSecondInstance: z.enum(['refuse', 'warn']).default('refuse').describe('When another ingest process already runs on the same database: refuse to start (GRIDLINE_SECOND_INSTANCE), or warn: start anyway and log an error, for a planned hand-over. One ingest process per database is the supported deployment (docs/operations.md#one-ingest-process-per-database).'),
  }).prefault({}),
  console: z.strictObject({
    enabled: z.boolean().default(true).describe('Serve the operator web app and its API (docs/console-api.md) on the HTTP port.'),
    dataDir: z.string().min(1).default('data').describe('Folder for the console\'s files: Node-RED\'s user folder is <dataDir>/node-red. Env GRIDLINE_DATA_DIR.'),
    sessionTtlMinutes: z.number().int().min(1).default(720).describe('A login session ends this long after its last use.'),
    sessionMaxHours: z.number().int().min(1).default(24).describe('... and at the latest this long after login.'),
    secureCookies: z.boolean().default(false).describe('Mark the session cookie Secure; set it when the console is served over HTTPS (a TLS proxy in front).'),
    staleAfterSeconds: z.number().int().min(1).default(60).describe('A device that reported online but sent nothing for this long shows as stale.'),
    liveQueueEvents: z.number().int().min(10).default(2_000).describe('Events queued for one browser\'s live stream at which it is dropped (it reconnects by itself).'),
    liveMaxRate: z.number().int().min(1).default(100).describe('Most readings, rollups and indicators per second one live stream may ask for (server-side decimation).'),
    map: z.strictObject({
      styleUrl: z.url({ protocol: /^https?$/ }).optional().describe('A MapLibre style (JSON) of the city\'s GIS server for the map page\'s base, e.g. https://gis.danang.gov.vn/styles/city.json. Its origin, and those of its tiles, sprites and glyphs, are added to the console\'s Content-Security-Policy. Unset (with tileUrl unset too): the shipped coastline and a graticule, nothing fetched from elsewhere.'),
      tileUrl: z.string().regex(/^https?:\/\/[^/]+\/.*\{z\}.*\{x\}.*\{y\}/, 'an http(s) URL template with {z}, {x} and {y}').optional().describe('Raster XYZ tiles of the city\'s GIS server instead of a style, e.g. https://gis.danang.gov.vn/tiles/{z}/{x}/{y}.png (a WMTS in Web Mercator works too).'),
      tileSizePx: z.number().int().min(64).max(1024).default(256).describe('Edge of one raster tile of tileUrl, in pixels.'),
      extraOrigins: z.array(z.url({ protocol: /^https?$/ })).default([]).describe('More origins the base map loads from (a style\'s tiles, sprites or glyphs on other hosts), added to the Content-Security-Policy.'),
      attribution: z.string().max(500).default('').describe('Credit shown in the map\'s corner for the base map (e.g. "© Sở TT&TT Đà Nẵng").'),
      center: z.tuple([z.number().min(-180).max(180), z.number().min(-90).max(90)]).default([108.2022, 16.0544]).describe('Where the map opens before it fits the devices: [longitude, latitude], WGS 84 (default Da Nang).'),
      zoom: z.number().min(0).max(22).default(11.5).describe('The zoom the map opens at before it fits the devices.'),
    }).refine((m) => !(m.styleUrl && m.tileUrl), { message: 'set styleUrl or tileUrl, not both' }).prefault({}).describe('The map page\'s base map (docs/dashboards.md#map).'),
    nodeRed: z.strictObject({
      enabled: z.boolean().default(true).describe('Run Node-RED inside the service at /flows (admins only; docs/node-red.md).'),
      maxEventsPerSecond: z.number().int().min(1).default(10).describe('Most events per second a `gridline in` node may receive (decimated like any slow subscriber).'),
    }).prefault({}),
  }).prefault({}),
  sparkplug: SparkplugSchema.extend({
    enabled: z.boolean().default(true).describe('The embedded broker\'s Sparkplug B host application: edge nodes (logged in as their gateways) publish births, data and deaths on spBv1.0/...; false leaves the namespace to the telemetry decoder, which refuses it.'),
  }).prefault({}).describe('Sparkplug B on the embedded broker (docs/sparkplug.md); MQTT client sources have their own, per subscription.'),
  sta: StaConfigSchema.describe('OGC SensorThings API 1.1, read side, under /sta/v1.1 (docs/sensorthings.md).'),
  commands: z.strictObject({
    timeoutMs: z.number().int().min(100).default(10_000).describe('A device command not answered within this long is marked timeout (docs/protocol.md#device-commands).'),
  }).prefault({}),
  notifications: NotificationsConfigSchema.describe('Alarm events to webhooks and email: endpoints, routing, retries (docs/notifications.md).'),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level. Env LOG_LEVEL.'),
  }).prefault({}),
})
  .refine((c) => !(c.mqtt !== undefined && c.sources?.mqtt !== undefined), { message: 'mqtt is an alias of sources.mqtt; set one of them, not both', path: ['mqtt'] })
  .refine((c) => c.mqtt !== undefined || c.sources === undefined || Object.keys(c.sources).length > 0, { message: 'no source: a service needs at least one (sources: { mqtt: { type: mqtt_broker } })', path: ['sources'] })
  .refine((c) => Object.values(c.sinks).filter((k) => k.type === 'timescale').length === 1, { message: 'exactly one timescale sink is needed: it is the primary, whose commit releases the acknowledgements', path: ['sinks'] })
  .refine((c) => Object.values(c.sources ?? {}).filter((k) => k.type === 'mqtt_broker').length <= 1, { message: 'at most one mqtt_broker source (one embedded broker per process; it can listen on plain TCP and TLS at once)', path: ['sources'] })
  .refine((c) => c.mqtt !== undefined || c.sources === undefined || Object.values(c.sources).some((k) => k.type === 'mqtt_broker'), { message: 'an mqtt_broker source is needed beside the others: the service sends device commands, alarm events and rejection notices through its embedded broker', path: ['sources'] })
  // The legacy `mqtt:` section becomes sources.mqtt; with neither, the embedded broker with its defaults.
  .transform(({ mqtt, sources, ...rest }) => {
    const out: Record<string, SourceConfig> = { ...sources }
    if (mqtt !== undefined) out.mqtt = { type: 'mqtt_broker', ...mqtt }
    else if (sources === undefined) out.mqtt = MqttBrokerSourceSchema.parse({ type: 'mqtt_broker' })
    return { ...rest, sources: out }
  })

export type IngestConfig = z.output<typeof IngestConfigSchema>

/** The embedded broker's config (the mqtt_broker source), or undefined when the config has none. */
export function brokerConfig(config: Pick<IngestConfig, 'sources'>): (MqttBrokerSourceConfig & { id: string }) | undefined {
  for (const [id, source] of Object.entries(config.sources)) if (source.type === 'mqtt_broker') return { id, ...source }
  return undefined
}

/** The primary sink's config (the timescale sink) with its id. */
export function primarySinkConfig(config: Pick<IngestConfig, 'sinks'>): Extract<SinkConfig, { type: 'timescale' }> & { id: string } {
  const [id, sink] = Object.entries(config.sinks).find(([, k]) => k.type === 'timescale') as [string, Extract<SinkConfig, { type: 'timescale' }>]
  return { id, ...sink }
}

export const INGEST_ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'DATABASE_URL', path: 'database.url', type: 'string' },
  { env: 'MQTT_PORT', path: 'mqtt.port', type: 'number' },
  { env: 'MQTT_HOST', path: 'mqtt.host', type: 'string' },
  { env: 'MQTT_TLS_PORT', path: 'mqtt.tls.port', type: 'number' },
  { env: 'MQTT_TLS_CERT', path: 'mqtt.tls.certFile', type: 'string' },
  { env: 'MQTT_TLS_KEY', path: 'mqtt.tls.keyFile', type: 'string' },
  { env: 'MQTT_TLS_CA', path: 'mqtt.tls.caFile', type: 'string' },
  { env: 'HTTP_PORT', path: 'http.port', type: 'number' },
  { env: 'HTTP_HOST', path: 'http.host', type: 'string' },
  { env: 'AUTH_MODE', path: 'auth.mode', type: 'string' },
  { env: 'GRIDLINE_DATA_DIR', path: 'console.dataDir', type: 'string' },
  { env: 'LOG_LEVEL', path: 'log.level', type: 'string' },
  { env: 'GRIDLINE_TIMESCALE', path: 'storage.timescale', type: 'string' },
  { env: 'GRIDLINE_UNKNOWN_METRICS', path: 'catalogue.unknownMetrics', type: 'string' },
  { env: 'GRIDLINE_RETENTION_DAYS', path: 'storage.retentionDays', type: 'number' },
  { env: 'GRIDLINE_REJECTED_RETENTION_DAYS', path: 'storage.rejectedRetentionDays', type: 'number' },
]

/** Reads, overrides from the environment and validates the service config. Throws listing every problem. */
export function loadIngestConfig(path?: string, env: NodeJS.ProcessEnv = process.env, base: Record<string, unknown> = {}): IngestConfig {
  const file = readConfigFile(path)
  // Sections from the file replace the caller's defaults key by key.
  const raw: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(file)) {
    const below = base[key]
    raw[key] = isRecord(below) && isRecord(value) ? { ...below, ...value } : value
  }
  // With the sources map, MQTT_* override the source with id mqtt; otherwise the (legacy) mqtt section.
  const overrides = isRecord(raw.sources) ? INGEST_ENV_OVERRIDES.map((o) => o.path.startsWith('mqtt.') ? { ...o, path: `sources.${o.path}` } : o) : INGEST_ENV_OVERRIDES
  return validateConfig(IngestConfigSchema, applyEnvOverrides(raw, overrides, env), path ? `config ${path}` : 'config')
}

/** The config with every default, for tests and embedding. */
export function ingestConfig(overrides: Record<string, unknown> = {}): IngestConfig {
  return validateConfig(IngestConfigSchema, overrides)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

import { type EnvOverride, applyEnvOverrides, readConfigFile, validateConfig } from '@gridline/core'
import { z } from 'zod'

const port = z.number().int().min(0).max(65535)
const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must match the identifier pattern ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
const domain = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a lower-case domain name such as water')
const metric = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a lower-case metric name such as level')

const Deadband = z.strictObject({
  type: z.enum(['absolute', 'percent']).describe('absolute: change in engineering units; percent: of the node\'s EURange [OPC UA Part 8 6.2].'),
  value: z.number().min(0).describe('Smallest change that is reported.'),
})

const MonitoringDefaults = z.strictObject({
  samplingIntervalMs: z.number().min(0).default(500).describe('How often the server samples the node.'),
  queueSize: z.number().int().min(1).max(10_000).default(10).describe('Samples the server keeps between two publishes.'),
  deadband: Deadband.optional().describe('Report only changes larger than this; absent reports every change.'),
})

const OpcuaNode = z.strictObject({
  nodeId: z.string().min(1).describe('OPC-UA node id, e.g. ns=1;s=ps-01.TankLevel.'),
  device: identifier.describe('Device the readings are for (registered behind this gateway).'),
  domain: domain.describe('That device\'s domain.'),
  metric: metric.describe('Metric name in the catalogue.'),
  samplingIntervalMs: z.number().min(0).optional().describe('Overrides the server default.'),
  queueSize: z.number().int().min(1).max(10_000).optional().describe('Overrides the server default.'),
  deadband: Deadband.optional().describe('Overrides the server default.'),
})

const OpcuaAuth = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anonymous') }),
  z.strictObject({
    type: z.literal('username'),
    username: z.string().min(1),
    password: z.string().describe('Env GRIDLINE_EDGE_OPCUA_PASSWORD_<NAME> (name upper-cased, - as _).'),
  }),
  z.strictObject({
    type: z.literal('certificate'),
    certFile: z.string().min(1).describe('PEM or DER user certificate, relative to dataDir/pki.'),
    keyFile: z.string().min(1).describe('PEM private key, relative to dataDir/pki.'),
  }),
])

const OpcuaServer = z.strictObject({
  name: identifier.describe('Name of the server in logs, metrics and /healthz.'),
  endpointUrl: z.string().regex(/^opc\.tcp:\/\//, 'must start with opc.tcp://'),
  securityMode: z.enum(['None', 'SignAndEncrypt']).default('None'),
  securityPolicy: z.enum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']).optional()
    .describe('Default None with securityMode None, Basic256Sha256 with SignAndEncrypt.'),
  auth: OpcuaAuth.default({ type: 'anonymous' }),
  timestampSource: z.enum(['source', 'server']).default('source')
    .describe('source: the device\'s SourceTimestamp, falling back to the ServerTimestamp when absent; server: always the ServerTimestamp.'),
  publishingIntervalMs: z.number().int().min(10).default(500).describe('How often the server sends notifications.'),
  watchdogMs: z.number().int().min(1000).default(15_000)
    .describe('A subscription with neither data nor keep-alive for this long is rebuilt.'),
  reconnectMinMs: z.number().int().min(10).default(500),
  reconnectMaxMs: z.number().int().min(10).default(10_000),
  defaults: MonitoringDefaults.prefault({}),
  nodes: z.array(OpcuaNode).min(1),
}).refine((s) => s.securityMode === 'None' ? (s.securityPolicy ?? 'None') === 'None' : s.securityPolicy !== 'None',
  { message: 'securityPolicy None goes only with securityMode None', path: ['securityPolicy'] })

const MqttSubscription = z.strictObject({
  topic: z.string().min(1).describe('Topic filter on the local broker, + and # allowed.'),
  device: z.string().min(1).describe('Device id, or a template naming topic levels: "{1}" is the second level.'),
  domain: domain,
  values: z.record(metric, z.string().min(1)).refine((v) => Object.keys(v).length > 0, 'needs at least one metric')
    .describe('Metric name to the JSON field holding it (dotted path, e.g. pump.speed).'),
  ts: z.string().optional().describe('JSON field with the measurement time (epoch ms or RFC 3339); absent: the time the agent received it.'),
  quality: z.string().optional().describe('JSON field with good/uncertain/bad; absent: good.'),
})

const MqttSource = z.strictObject({
  name: identifier,
  broker: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('external'),
      url: z.string().regex(/^mqtts?:\/\//, 'must start with mqtt:// or mqtts://'),
      username: z.string().optional(),
      password: z.string().optional(),
    }),
    z.strictObject({
      type: z.literal('embedded'),
      host: z.string().default('0.0.0.0'),
      port: port.default(1883),
    }),
  ]),
  subscriptions: z.array(MqttSubscription).min(1),
})

export const EdgeConfigSchema = z.strictObject({
  gateway: z.strictObject({
    id: identifier.describe('The gateway id registered with the ingest service (gridline devices add ID --kind gateway).'),
  }),
  dataDir: z.string().min(1).describe('The agent\'s data folder: disk queue, sequence state, OPC-UA certificates. Env GRIDLINE_EDGE_DATA_DIR.'),
  uplink: z.strictObject({
    url: z.string().regex(/^mqtts?:\/\//, 'must start with mqtt:// or mqtts://').describe('The ingest service. Env GRIDLINE_EDGE_UPLINK_URL.'),
    password: z.string().optional().describe('The gateway\'s password. Env GRIDLINE_EDGE_UPLINK_PASSWORD.'),
    tls: z.strictObject({
      caFile: z.string().optional(),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      rejectUnauthorized: z.boolean().default(true),
    }).optional().describe('For mqtts:// URLs: CA, client certificate and key, PEM files.'),
    batchMaxReadings: z.number().int().min(1).max(10_000).default(5_000).describe('Readings in one gateway batch at most.'),
    batchMaxBytes: z.number().int().min(1024).max(900_000).default(900_000).describe('Payload bytes of one batch at most (the ingest limit is 1 MiB).'),
    maxInFlightBatches: z.number().int().min(1).max(256).default(8).describe('Batches published and not yet acknowledged at once.'),
    drainReadingsPerSec: z.number().int().min(1).default(40_000).describe('Backlog readings sent per second at most after an outage; live readings are not limited.'),
    reconnectMinMs: z.number().int().min(10).default(500),
    reconnectMaxMs: z.number().int().min(10).default(30_000),
    keepaliveSec: z.number().int().min(1).max(65_535).default(30),
    connectTimeoutMs: z.number().int().min(100).default(10_000),
  }).refine((u) => u.reconnectMinMs <= u.reconnectMaxMs, { message: 'reconnectMinMs must not exceed reconnectMaxMs', path: ['reconnectMinMs'] }),
  queue: z.strictObject({
    maxBytes: z.number().int().min(64 * 1024).default(1024 * 1024 * 1024).describe('Bound on the queue files. Env GRIDLINE_EDGE_QUEUE_MAX_BYTES.'),
    segmentBytes: z.number().int().min(4096).default(8 * 1024 * 1024).describe('Size of one segment file; delivered segments are deleted whole.'),
    fullPolicy: z.enum(['drop_oldest', 'reject_new']).default('drop_oldest').describe('What happens when maxBytes is reached; drops are counted either way.'),
    ttlMs: z.number().int().min(0).default(0).describe('Readings accepted longer ago are dropped (counted as expired) instead of sent; 0 keeps them.'),
    commitDelayMs: z.number().int().min(0).max(1000).default(0).describe('Extra wait to gather appends into one fdatasync; 0 batches whatever arrives during the previous one.'),
  }).prefault({}).refine((q) => q.maxBytes >= 2 * q.segmentBytes, { message: 'maxBytes must be at least twice segmentBytes', path: ['maxBytes'] }),
  http: z.strictObject({
    host: z.string().default('127.0.0.1').describe('Address of /healthz and /metrics.'),
    port: port.default(9464).describe('0 picks a free port. Env GRIDLINE_EDGE_HTTP_PORT.'),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Env LOG_LEVEL.'),
  }).prefault({}),
  opcua: z.array(OpcuaServer).default([]),
  mqtt: z.array(MqttSource).default([]),
})

export type EdgeConfig = z.output<typeof EdgeConfigSchema>
export type OpcuaServerConfig = EdgeConfig['opcua'][number]
export type MqttSourceConfig = EdgeConfig['mqtt'][number]

export const EDGE_ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'GRIDLINE_EDGE_DATA_DIR', path: 'dataDir', type: 'string' },
  { env: 'GRIDLINE_EDGE_UPLINK_URL', path: 'uplink.url', type: 'string' },
  { env: 'GRIDLINE_EDGE_UPLINK_PASSWORD', path: 'uplink.password', type: 'string' },
  { env: 'GRIDLINE_EDGE_QUEUE_MAX_BYTES', path: 'queue.maxBytes', type: 'number' },
  { env: 'GRIDLINE_EDGE_HTTP_PORT', path: 'http.port', type: 'number' },
  { env: 'LOG_LEVEL', path: 'log.level', type: 'string' },
]

/** Reads the YAML file, applies environment overrides, validates; throws listing every problem by path. */
export function loadEdgeConfig(path: string, env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const raw = applyEnvOverrides(readConfigFile(path), EDGE_ENV_OVERRIDES, env)
  applyOpcuaPasswords(raw, env)
  return validateConfig(EdgeConfigSchema, raw, `config ${path}`)
}

/** The config from an object, for tests and embedding. */
export function edgeConfig(raw: Record<string, unknown>): EdgeConfig {
  return validateConfig(EdgeConfigSchema, raw)
}

/** GRIDLINE_EDGE_OPCUA_PASSWORD_<NAME> sets opcua[name].auth.password, so secrets stay out of the file. */
function applyOpcuaPasswords(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (!Array.isArray(raw.opcua)) return
  for (const server of raw.opcua as Array<Record<string, unknown>>) {
    if (typeof server?.name !== 'string') continue
    const password = env[`GRIDLINE_EDGE_OPCUA_PASSWORD_${server.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`]
    const auth = server.auth as Record<string, unknown> | undefined
    if (password && auth?.type === 'username') auth.password = password
  }
}

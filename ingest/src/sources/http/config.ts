import { METRIC_NAME_PATTERN } from '@gridline/schemas'
import { z } from 'zod'
import { autoRegisterSchema } from '../../devices/auto-register.ts'

const port = z.number().int().min(0).max(65535)

/** `sources.<id>` with `type: http`: gridline JSON, Sensor.Community, The Things Stack webhooks and InfluxDB line protocol over HTTP(S), answered after the commit. */
export const HttpSourceSchema = z.strictObject({
  type: z.literal('http').describe('The HTTP source (ingest/src/sources/http/README.md).'),
  host: z.string().default('0.0.0.0').describe('Address the listener binds to.'),
  port: port.default(8086).describe('Its own port, apart from the console\'s: 8086 so InfluxDB clients work with their defaults; 0 picks a free one.'),
  tls: z.strictObject({
    certFile: z.string().min(1).optional().describe('PEM server certificate (chain); with keyFile the listener speaks HTTPS only.'),
    keyFile: z.string().min(1).optional().describe('PEM private key of the server certificate.'),
    caFile: z.string().min(1).optional().describe('PEM CA(s) that sign client certificates; when set, a presented client certificate must verify.'),
    reloadIntervalMs: z.number().int().min(100).default(10_000).describe('How often the files are checked; a change is loaded for new connections without a restart.'),
  }).prefault({})
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile must be set together', path: ['certFile'] })
    .refine((t) => t.caFile === undefined || t.certFile !== undefined, { message: 'caFile needs certFile and keyFile', path: ['caFile'] }),
  maxConnections: z.number().int().positive().default(10_000).describe('Connections accepted at once; more are refused at TCP level.'),
  maxBodyBytes: z.number().int().min(1_024).max(268_435_456).default(26_214_400).describe('Largest request body, after gzip is undone (InfluxDB\'s default, 25 MB); a larger one is refused with 413 before it is buffered.'),
  maxInflightBytes: z.number().int().min(1_048_576).default(268_435_456).describe('Bytes of bodies being read or waiting for their commit, across all requests; past it new requests get 503 with Retry-After.'),
  headersTimeoutMs: z.number().int().min(1_000).default(10_000).describe('A request\'s headers must arrive within this.'),
  requestTimeoutMs: z.number().int().min(1_000).default(60_000).describe('A request\'s whole body must arrive within this; a trickled body is cut with 408.'),
  keepAliveTimeoutMs: z.number().int().min(1_000).default(65_000).describe('An idle keep-alive connection is closed after this.'),
  shareWaitMs: z.number().int().min(0).max(60_000).default(10_000).describe('A write from a login that already has its share of uncommitted rows (ingest.maxPendingRowsPerConnection) waits this long for room, its body not read meanwhile (as the broker stops reading a connection), before 429 with Retry-After. 0: 429 at once.'),
  retryAfterSeconds: z.number().int().min(1).max(3_600).default(1).describe('Retry-After of a 503 (backpressure, database away, shutting down) and of a 429.'),
  rateLimit: z.strictObject({
    requestsPerSecond: z.number().min(0).default(100).describe('Requests per second one login may make (a token bucket); more get 429 with Retry-After. 0: no limit.'),
    burst: z.number().int().min(1).default(200).describe('Requests one login may make at once before requestsPerSecond applies.'),
  }).prefault({}),
  lineProtocol: z.strictObject({
    deviceTags: z.array(z.string().min(1)).min(1).default(['device']).describe('Tags that name the device, tried in order: add `host` for Telegraf, `node` for airrohr\'s InfluxDB option.'),
    rename: z.record(z.string().min(1), z.string().regex(METRIC_NAME_PATTERN)).default({}).describe('Field (or measurement.field) to catalogue metric, for fields not named like one: {"temp": "temperature", "env.rh": "humidity"}.'),
  }).prefault({}),
  autoRegister: autoRegisterSchema(
    'only writes logged in as this gateway (its API token or password), or any write with ingest.auth: none, register devices.',
    'Off by default: a write naming an unregistered device (a line protocol device tag, an airrohr chip id, a gateway batch reading) is refused as device_unknown. When set, the device is registered behind the gateway first (no password of its own) and the write stored.',
  ),
  thingsStack: z.strictObject({
    header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name').default('X-Gridline-Token').describe('POST /things-stack: the header that carries the API token of the gateway the application\'s devices are registered behind, for a webhook that cannot set Authorization: Bearer <token> (which works too). Its value is the token alone (or Bearer <token>).'),
    fields: z.record(z.string().min(1), z.string().regex(METRIC_NAME_PATTERN)).default({}).describe('decoded_payload field (dotted path for a nested one) to catalogue metric, for fields not named like one: {"temperature_c": "temperature", "meter.flowRate": "flow"}.'),
  }).prefault({}).describe('The Things Stack v3 webhook on POST /things-stack and /things-stack/<path> (docs/http-ingest.md#the-things-stack-webhook).'),
  sensorCommunity: z.strictObject({
    requireAuth: z.boolean().default(true).describe('A POST must log in (Basic: the firmware\'s user and password fields, or a gateway token); false lets the chip id alone name the device, which anyone can forge.'),
  }).prefault({}),
})

export type HttpSourceConfig = z.output<typeof HttpSourceSchema>

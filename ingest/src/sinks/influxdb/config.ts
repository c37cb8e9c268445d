import { z } from 'zod'

/**
 * `sinks.<id>` with `type: influxdb`: every committed reading also written to
 * InfluxDB, behind a disk-backed buffer of its own, so an InfluxDB that is
 * slow or away never holds an acknowledgement. 2.x (org, bucket, token)
 * through @influxdata/influxdb-client; 1.x (db, rp, username, password)
 * through its `/write` endpoint.
 */
export const InfluxDbSinkSchema = z.strictObject({
  type: z.literal('influxdb').describe('A secondary sink to InfluxDB (ingest/src/sinks/influxdb/README.md).'),
  url: z.url({ protocol: /^https?$/ }).describe('Where InfluxDB listens, e.g. http://influx.city.local:8086.'),
  version: z.union([z.literal(1), z.literal(2)]).default(2).describe('2: the /api/v2/write API (InfluxDB 2.x, 3.x, Cloud, 1.8+); 1: the 1.x /write API (InfluxDB 1.x before 1.8).'),
  org: z.string().min(1).optional().describe('2.x: the organization.'),
  bucket: z.string().min(1).optional().describe('2.x: the bucket.'),
  token: z.string().min(1).optional().describe('2.x: an API token with write access to the bucket.'),
  db: z.string().min(1).optional().describe('1.x: the database.'),
  rp: z.string().min(1).optional().describe('1.x: the retention policy (the database\'s default when absent).'),
  username: z.string().min(1).optional().describe('1.x: the user, when InfluxDB has auth on.'),
  password: z.string().min(1).optional().describe('1.x: the user\'s password.'),
  timeoutMs: z.number().int().min(100).default(10_000).describe('One write must be answered within this, else it is retried.'),
  maxBatchRows: z.number().int().min(1).default(10_000).describe('Rows per write to InfluxDB at most.'),
  retryMinMs: z.number().int().min(1).default(100).describe('First delay before a failed write is retried (then doubling, with full jitter).'),
  retryMaxMs: z.number().int().min(1).default(30_000).describe('Longest delay between retries.'),
  buffer: z.strictObject({
    dir: z.string().min(1).optional().describe('Folder of the buffer\'s files; default <console.dataDir>/sinks/<id>.'),
    maxBytes: z.number().int().min(1_048_576).default(1_073_741_824).describe('Byte quota of the buffer on disk (default 1 GiB); past it the oldest committed readings not yet written are dropped and counted (queue_full).'),
    segmentBytes: z.number().int().min(65_536).default(16_777_216).describe('Size of one buffer file; a file is deleted once all of it is written.'),
  }).prefault({}),
})
  .refine((c) => c.version === 1 || (c.org !== undefined && c.bucket !== undefined && c.token !== undefined), { message: 'version 2 needs org, bucket and token', path: ['org'] })
  .refine((c) => c.version === 2 || c.db !== undefined, { message: 'version 1 needs db', path: ['db'] })
  .refine((c) => c.buffer.maxBytes >= 2 * c.buffer.segmentBytes, { message: 'buffer.maxBytes must be at least two buffer.segmentBytes (the oldest file is what goes when the quota is reached)', path: ['buffer', 'maxBytes'] })

export type InfluxDbSinkConfig = z.output<typeof InfluxDbSinkSchema>

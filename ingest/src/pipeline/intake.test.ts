import { type DeliveryStatus, type Envelope, Rows, emptyWriteResult } from '@gridline/core'
import { defaultCatalogue } from '@gridline/schemas'
import { expect, test } from 'vitest'
import { silentLogger } from '../../../test/support.ts'
import { createIngestMetrics } from '../metrics.ts'
import { IngestPipeline } from './ingest-pipeline.ts'
import { RuntimeIntake } from './intake.ts'

const OPTIONS = { maxBatchRows: 100, flushIntervalMs: 1, writers: 1, maxPendingRows: 1000, retryMinMs: 1, retryMaxMs: 2 }
const DECODE = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: 0, rejectedPayloadMaxBytes: 4096 }

function setup() {
  const written: Envelope[] = []
  const metrics = createIngestMetrics()
  const pipeline = new IngestPipeline({ write: async (b: readonly Envelope[]) => { written.push(...b); return { ...emptyWriteResult(), inserted: b.length } } }, OPTIONS, metrics, silentLogger())
  const prepared: number[] = []
  const intake = new RuntimeIntake(pipeline, { decodeOptions: DECODE, processing: { prepare: (_d, at) => prepared.push(at.position) }, metrics, logger: silentLogger(), shedAtPendingRows: 10 })
  metrics.components.source('src', 'test')
  return { intake, pipeline, written, metrics, prepared }
}

const message = (topic: string, payload: string) => ({ source: 'src', topic, clientId: 'c', principal: null, receivedAt: Date.now(), payload: Buffer.from(payload) })

test('telemetry is decoded by the gridline JSON decoder, numbered for the pre-write processors, and counted for its source', async () => {
  const { intake, pipeline, written, metrics, prepared } = setup()
  const statuses: (DeliveryStatus | undefined)[] = []
  const e = intake.decode(message('telemetry/environment/aq-1', '{"values":{"pm25":3,"pm10":4}}'))
  expect(e).toMatchObject({ source: 'src', topic: 'telemetry/environment/aq-1', clientId: 'c', decoded: { readings: 1, domain: 'environment' } })
  expect(e.decoded.rows.metric).toEqual(['pm25', 'pm10'])
  e.ack = { settle: (status) => statuses.push(status) }
  intake.submit(e)
  await pipeline.drain()
  expect(written).toEqual([e])
  expect(statuses).toEqual(['delivered'])
  expect(prepared).toEqual([0])
  expect(await metrics.registry.metrics()).toContain('gridline_component_received_readings_total{component_id="src",component_type="test"} 1')
})

test('a route takes its messages before the decoder; one that throws dead-letters the message as decode_failed', () => {
  const { intake } = setup()
  intake.route({ name: 'pings', matches: (t) => t.startsWith('ping/'), handle: () => ({ decoded: { rows: new Rows(), readings: 0, rejections: [], unknownMetrics: 0, outOfRange: 0 } }) })
  intake.route({ name: 'broken', matches: (t) => t.startsWith('broken/'), handle: () => { throw new RangeError('boom') } })
  expect(intake.decode(message('ping/1', 'not json')).decoded.rejections).toEqual([])
  const broken = intake.decode(message('broken/1', 'x')).decoded.rejections
  expect(broken).toHaveLength(1)
  expect(broken[0]).toMatchObject({ reason: 'decode_failed', detail: expect.stringContaining('RangeError: boom') })
})

test('a message with nothing to store is settled at once as dropped and never reaches the sink', async () => {
  const { intake, pipeline, written } = setup()
  intake.route({ name: 'replies', matches: (t) => t.startsWith('replies/'), handle: () => ({ decoded: { rows: new Rows(), readings: 0, rejections: [], unknownMetrics: 0, outOfRange: 0 } }) })
  const statuses: (DeliveryStatus | undefined)[] = []
  const e = intake.decode(message('replies/lighting/lamp-1', '{}'))
  e.ack = { settle: (status) => statuses.push(status) }
  intake.submit(e)
  expect(statuses).toEqual(['dropped'])
  await pipeline.drain()
  expect(written).toEqual([])
})

test('a refused message is committed as a dead letter and settled rejected; shedding follows the pending rows', async () => {
  const { intake, pipeline } = setup()
  const statuses: (DeliveryStatus | undefined)[] = []
  const e = intake.decode(message('telemetry/environment/aq-1', '{"values":{"pm25":"x"}}'))
  e.ack = { settle: (status) => statuses.push(status) }
  expect(intake.shedding).toBe(false)
  intake.submit(e)
  for (let i = 0; i < 10; i++) intake.submit(intake.decode(message('telemetry/environment/aq-1', `{"ts":${i},"values":{"pm25":1}}`)))
  expect(intake.pendingRows).toBeGreaterThanOrEqual(10)
  expect(intake.shedding).toBe(true)
  await pipeline.drain()
  expect(statuses).toEqual(['rejected'])
  expect(intake.shedding).toBe(false)
})

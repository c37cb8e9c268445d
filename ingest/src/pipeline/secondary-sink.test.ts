import { type Envelope, Rows, type Sink, type SinkWriteResult, emptyWriteResult } from '@gridline/core'
import { expect, test } from 'vitest'
import { silentLogger } from '../../../test/support.ts'
import { createIngestMetrics } from '../metrics.ts'
import { IngestPipeline } from './ingest-pipeline.ts'
import { SecondarySink } from './secondary-sink.ts'

function envelope(name: string, rows: number, settled: string[]): Envelope {
  const r = new Rows()
  for (let i = 0; i < rows; i++) r.push(i, name, 'm', i, 0, -1, 0)
  return { topic: name, clientId: name, receivedAt: 0, payload: Buffer.alloc(0), decoded: { rows: r, readings: rows, rejections: [], unknownMetrics: 0, outOfRange: 0 }, ack: { settle: (status) => settled.push(`${name}:${status ?? 'delivered'}`) } }
}

const written = (batch: readonly Envelope[]): SinkWriteResult => ({ ...emptyWriteResult(), inserted: batch.reduce((n, e) => n + e.decoded.rows.length, 0) })

/** A secondary sink that blocks until released, or fails while `failing`. */
function fakeSink() {
  const batches: string[][] = []
  let release: (() => void) | undefined
  const state = { block: true, failing: 0, closed: false }
  const sink: Sink = {
    id: 'second', type: 'fake',
    async write(batch) {
      if (state.failing > 0) { state.failing--; throw new Error('down') }
      if (state.block) await new Promise<void>((resolve) => { release = resolve })
      batches.push(batch.map((e) => e.topic))
      return written(batch)
    },
    async healthcheck() { return true },
    async close() { state.closed = true },
  }
  return { sink, batches, state, release: () => { state.block = false; release?.() } }
}

const OPTIONS = { maxBatchRows: 100, flushIntervalMs: 1, writers: 1, maxPendingRows: 1000, retryMinMs: 1, retryMaxMs: 2 }

test('a secondary sink that hangs holds no acknowledgement: every envelope settles after the primary commit', async () => {
  const metrics = createIngestMetrics()
  const pipeline = new IngestPipeline({ write: async (b: readonly Envelope[]) => written(b) }, OPTIONS, metrics, silentLogger())
  const second = fakeSink()
  const secondary = new SecondarySink(second.sink, { maxBufferedRows: 1000, maxBatchRows: 100, retryMinMs: 1, retryMaxMs: 2 }, metrics, silentLogger())
  pipeline.onCommitted((batch) => secondary.offer(batch))
  const settled: string[] = []
  for (const name of ['a', 'b', 'c']) pipeline.submit(envelope(name, 2, settled))
  await pipeline.drain()
  expect(settled).toEqual(['a:delivered', 'b:delivered', 'c:delivered'])
  expect(second.batches).toEqual([])
  second.release()
  await secondary.close(1_000)
  expect(second.batches.flat()).toEqual(['a', 'b', 'c'])
  expect(second.state.closed).toBe(true)
})

test('its buffer is bounded: past maxBufferedRows the oldest rows are dropped and counted as buffer_full', async () => {
  const metrics = createIngestMetrics()
  const second = fakeSink()
  const secondary = new SecondarySink(second.sink, { maxBufferedRows: 4, maxBatchRows: 100, retryMinMs: 1, retryMaxMs: 2 }, metrics, silentLogger())
  const settled: string[] = []
  // The first goes to the (blocked) write at once; it counts too: 4 rows are held at most.
  secondary.offer([envelope('a', 2, settled)])
  secondary.offer(['b', 'c', 'd', 'e'].map((n) => envelope(n, 2, settled)))
  expect(secondary.bufferedRows).toBe(4)
  const dropped = await metrics.components.dropped.get()
  expect(dropped.values).toEqual([expect.objectContaining({ value: 6, labels: { component_id: 'second', component_type: 'fake', reason: 'buffer_full' } })])
  second.release()
  await secondary.close(1_000)
  expect(second.batches.flat()).toEqual(['a', 'e'])
  expect(settled).toEqual([])
})

test('a failing write is retried with backoff, in order, and counted as errors', async () => {
  const metrics = createIngestMetrics()
  const second = fakeSink()
  second.state.block = false
  second.state.failing = 3
  const secondary = new SecondarySink(second.sink, { maxBufferedRows: 100, maxBatchRows: 2, retryMinMs: 1, retryMaxMs: 2 }, metrics, silentLogger())
  secondary.offer(['a', 'b', 'c'].map((n) => envelope(n, 1, [])))
  await secondary.close(1_000)
  expect(second.batches).toEqual([['a', 'b'], ['c']])
  expect((await metrics.components.errors.get()).values[0]!.value).toBe(3)
})

test('at close, what it could not write in time is dropped and counted as shutdown', async () => {
  const metrics = createIngestMetrics()
  const second = fakeSink()
  const secondary = new SecondarySink(second.sink, { maxBufferedRows: 100, maxBatchRows: 100, retryMinMs: 1, retryMaxMs: 2 }, metrics, silentLogger())
  secondary.offer([envelope('a', 3, [])])
  await secondary.close(20)
  const dropped = await metrics.components.dropped.get()
  expect(dropped.values).toEqual([expect.objectContaining({ value: 3, labels: expect.objectContaining({ reason: 'shutdown' }) })])
  expect(secondary.bufferedRows).toBe(0)
  second.release()
})

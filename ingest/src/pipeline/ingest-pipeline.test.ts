import { Rows } from '@gridline/processors'
import { describe, expect, test } from 'vitest'
import { silentLogger } from '../../../test/support.ts'
import { createIngestMetrics } from '../metrics.ts'
import type { SinkWriteResult } from '@gridline/core'
import type { Envelope } from './envelope.ts'
import { IngestPipeline, type PipelineOptions } from './ingest-pipeline.ts'

// The pipeline's contract with its sink is `write(batch)`: resolve when
// committed, throw to be retried. These tests drive that contract directly;
// the real writer against PostgreSQL is covered by the integration tests.

const OPTIONS: PipelineOptions = { maxBatchRows: 100, flushIntervalMs: 2, writers: 1, maxPendingRows: 1000, retryMinMs: 1, retryMaxMs: 5 }

function envelope(rows: number, settled: string[], name: string): Envelope {
  const decoded = new Rows()
  for (let i = 0; i < rows; i++) decoded.push(i, 'd', 'm', i, 0, -1, 0)
  return {
    topic: 't', clientId: 'c', receivedAt: 0, payload: Buffer.alloc(0),
    decoded: { rows: decoded, readings: rows, rejections: [], unknownMetrics: 0, outOfRange: 0 },
    ack: { settle: (status, reason) => settled.push(status === 'errored' ? `${name}:${reason?.message}` : name) },
  }
}

const ok = (batch: readonly Envelope[]): SinkWriteResult => ({ inserted: batch.reduce((n, e) => n + e.decoded.rows.length, 0), duplicates: 0, rejected: new Map(), deadLettered: [] })

describe('IngestPipeline', () => {
  test('group commit: while the writer is busy the open batch grows, and every envelope settles after its batch', async () => {
    const batches: number[] = []
    let release: () => void = () => undefined
    const writer = {
      async write(batch: readonly Envelope[]) {
        batches.push(batch.length)
        if (batches.length === 1) await new Promise<void>((resolve) => { release = resolve })
        return ok(batch)
      },
    }
    const settled: string[] = []
    const pipeline = new IngestPipeline(writer, OPTIONS, createIngestMetrics(), silentLogger())
    pipeline.submit(envelope(1, settled, 'a'))
    await new Promise((resolve) => setTimeout(resolve, 10))
    for (const name of ['b', 'c', 'd']) pipeline.submit(envelope(1, settled, name))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(settled).toEqual([])
    expect(pipeline.pendingRows).toBe(4)
    release()
    await pipeline.drain()
    expect(batches).toEqual([1, 3])
    expect(settled).toEqual(['a', 'b', 'c', 'd'])
    expect(pipeline.pendingRows).toBe(0)
  })

  test('with two writers a later batch may commit first, but commit listeners see batches in submission order', async () => {
    let releaseFirst: () => void = () => undefined
    let writes = 0
    const writer = {
      async write(batch: readonly Envelope[]) {
        if (writes++ === 0) await new Promise<void>((resolve) => { releaseFirst = resolve })
        return ok(batch)
      },
    }
    const settled: string[] = []
    const pipeline = new IngestPipeline(writer, { ...OPTIONS, writers: 2, maxBatchRows: 1 }, createIngestMetrics(), silentLogger())
    const seen: string[] = []
    pipeline.onCommitted((batch) => { for (const e of batch) seen.push(String(e.clientId)) })
    for (const name of ['a', 'b']) pipeline.submit({ ...envelope(1, settled, name), clientId: name })
    await new Promise((resolve) => setTimeout(resolve, 10))
    // b is committed and acknowledged while a is still being written ...
    expect(settled).toEqual(['b'])
    expect(seen).toEqual([])
    expect(pipeline.committedThrough).toBe(-1)
    releaseFirst()
    await pipeline.drain()
    // ... but the processors get a, then b.
    expect(seen).toEqual(['a', 'b'])
    expect(pipeline.committedThrough).toBe(1)
  })

  test('a full batch is written without waiting for the linger time', async () => {
    const batches: number[] = []
    const writer = { async write(batch: readonly Envelope[]) { batches.push(batch.length); return ok(batch) } }
    const pipeline = new IngestPipeline(writer, { ...OPTIONS, flushIntervalMs: 60_000 }, createIngestMetrics(), silentLogger())
    const settled: string[] = []
    pipeline.submit(envelope(60, settled, 'a'))
    pipeline.submit(envelope(60, settled, 'b'))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(batches).toEqual([2])
    expect(settled).toEqual(['a', 'b'])
  })

  test('the wait before a write is split into linger (the group-commit wait) and queue (a full batch waiting for a busy writer)', async () => {
    let release: () => void = () => undefined
    let writes = 0
    const writer = {
      async write(batch: readonly Envelope[]) {
        if (writes++ === 0) await new Promise<void>((resolve) => { release = resolve })
        return ok(batch)
      },
    }
    const metrics = createIngestMetrics()
    const pipeline = new IngestPipeline(writer, { ...OPTIONS, maxBatchRows: 2, flushIntervalMs: 20 }, metrics, silentLogger())
    const settled: string[] = []
    // a (one row) lingers flushIntervalMs, then its write blocks ...
    pipeline.submit({ ...envelope(1, settled, 'a'), receivedAt: Date.now() })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(writes).toBe(1)
    // ... b fills a batch at once and queues behind it.
    pipeline.submit({ ...envelope(2, settled, 'b'), receivedAt: Date.now() })
    await new Promise((resolve) => setTimeout(resolve, 50))
    release()
    await pipeline.drain()
    const linger = (await metrics.batchLingerSeconds.get()).values
    const queue = (await metrics.batchQueueSeconds.get()).values
    const sum = (values: typeof linger) => values.find((v) => v.metricName?.endsWith('_sum'))!.value
    const count = (values: typeof linger) => values.find((v) => v.metricName?.endsWith('_count'))!.value
    expect(count(linger)).toBe(2)
    expect(count(queue)).toBe(2)
    // a's linger is its flush interval (b's is nil: it was full on arrival).
    expect(sum(linger)).toBeGreaterThanOrEqual(0.018)
    expect(sum(linger)).toBeLessThan(0.1)
    // b waited the 50 ms that a's write was held (a itself did not queue).
    expect(sum(queue)).toBeGreaterThanOrEqual(0.045)
    expect(settled).toEqual(['a', 'b'])
  })

  test('a failing write is retried until it succeeds; meanwhile the pipeline reports congestion', async () => {
    let attempts = 0
    const writer = {
      async write(batch: readonly Envelope[]) {
        if (++attempts < 4) throw new Error('connection refused')
        return ok(batch)
      },
    }
    const metrics = createIngestMetrics()
    const pipeline = new IngestPipeline(writer, OPTIONS, metrics, silentLogger())
    const settled: string[] = []
    let congestedSeen = false
    pipeline.submit(envelope(3, settled, 'a'))
    const watch = setInterval(() => { congestedSeen ||= pipeline.congested }, 1)
    await pipeline.drain()
    clearInterval(watch)
    expect(attempts).toBe(4)
    expect(congestedSeen).toBe(true)
    expect(pipeline.congested).toBe(false)
    expect(settled).toEqual(['a'])
    expect((await metrics.writeRetries.get()).values[0]!.value).toBe(3)
  })

  test('a hold from outside (the processors\' backlog) congests the pipeline until released, whatever its own state', async () => {
    const pipeline = new IngestPipeline({ write: async (batch: readonly Envelope[]) => ok(batch) }, OPTIONS, createIngestMetrics(), silentLogger())
    const changes: boolean[] = []
    pipeline.onCongestion((held) => changes.push(held))
    pipeline.hold('processors', true)
    pipeline.hold('processors', true)
    expect(pipeline.congested).toBe(true)
    pipeline.hold('other', true)
    pipeline.hold('processors', false)
    expect(pipeline.congested).toBe(true)
    pipeline.hold('other', false)
    expect(pipeline.congested).toBe(false)
    expect(changes).toEqual([true, false])
  })

  test('abandon settles everything not committed with the error and frees its rows', async () => {
    const writer = { async write(): Promise<SinkWriteResult> { throw new Error('database down') } }
    const pipeline = new IngestPipeline(writer, { ...OPTIONS, retryMinMs: 5, retryMaxMs: 5 }, createIngestMetrics(), silentLogger())
    const settled: string[] = []
    pipeline.submit(envelope(2, settled, 'a'))
    await new Promise((resolve) => setTimeout(resolve, 10))
    pipeline.submit(envelope(2, settled, 'b'))
    pipeline.abandon(new Error('shutdown timed out'))
    await pipeline.drain()
    expect(settled.sort()).toEqual(['a:shutdown timed out', 'b:shutdown timed out'])
    expect(pipeline.pendingRows).toBe(0)
  })
})

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Envelope, Rows, type Sink, emptyWriteResult } from '@gridline/core'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { silentLogger } from '../../../test/support.ts'
import { type IngestMetrics, createIngestMetrics } from '../metrics.ts'
import { type DiskBufferOptions, DiskBufferedSink } from './disk-buffered-sink.ts'

// The disk buffer in front of a secondary sink, on a real folder: commit
// order, nothing held, restarts, and the byte quota's drops counted in rows.

function envelope(device: string, from: number, rows: number, domain?: string): Envelope {
  const r = new Rows()
  for (let i = from; i < from + rows; i++) r.push(1_700_000_000_000 + i, device, 'pm25', i / 4, 0, i, 0)
  return { topic: device, clientId: device, receivedAt: 0, payload: Buffer.alloc(0), decoded: { rows: r, readings: rows, rejections: [], unknownMetrics: 0, outOfRange: 0, ...(domain ? { domain } : {}) }, ack: null }
}

/** A sink that records each row's seq and domain, and fails while `down`. */
function recordingSink() {
  const seqs: number[] = []
  const domains = new Set<string | undefined>()
  const state = { down: false, writes: 0 }
  const sink: Sink = {
    id: 'second', type: 'fake',
    async write(batch) {
      state.writes++
      if (state.down) throw new Error('down')
      let n = 0
      for (const e of batch) {
        domains.add(e.decoded.domain)
        for (let i = 0; i < e.decoded.rows.data.length; i += 7) seqs.push(e.decoded.rows.data[i + 5] as number)
        n += e.decoded.rows.length
      }
      return { ...emptyWriteResult(), inserted: n }
    },
    async healthcheck() { return true },
    async close() {},
  }
  return { sink, seqs, domains, state }
}

let dir: string
let metrics: IngestMetrics
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gridline-diskbuf-'))
  metrics = createIngestMetrics()
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const options = (over: Partial<DiskBufferOptions> = {}): DiskBufferOptions => ({ dir, maxBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, maxBatchRows: 50, retryMinMs: 1, retryMaxMs: 5, commitDelayMs: 0, ...over })

async function metric(name: string, labels: string): Promise<number> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line ? Number(line.split(' ').at(-1)) : 0
}

test('writes every committed row in commit order, with its domain, and offer never waits for the sink', async () => {
  const second = recordingSink()
  const buffered = await DiskBufferedSink.open(second.sink, options(), metrics, silentLogger())
  second.state.down = true
  const started = performance.now()
  for (let b = 0; b < 20; b++) buffered.offer([envelope('aq-1', b * 10, 10, 'environment'), envelope('gw-dev', 1_000 + b, 1)])
  expect(performance.now() - started).toBeLessThan(1_000)
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(second.seqs).toEqual([])
  expect(await metric('gridline_component_errors_total', 'component_id="second"')).toBeGreaterThan(0)
  second.state.down = false
  await buffered.drained(10_000)
  const expected = Array.from({ length: 20 }, (_, b) => [...Array.from({ length: 10 }, (_, i) => b * 10 + i), 1_000 + b]).flat()
  expect(second.seqs).toEqual(expected)
  expect(second.domains).toEqual(new Set(['environment', undefined]))
  expect(await metric('gridline_component_sent_rows_total', 'component_id="second"')).toBe(220)
  await buffered.close(1_000)
})

test('what is not written when it closes is written after it opens again on the same folder, once', async () => {
  const first = recordingSink()
  first.state.down = true
  const buffered = await DiskBufferedSink.open(first.sink, options(), metrics, silentLogger())
  for (let b = 0; b < 10; b++) buffered.offer([envelope('aq-1', b * 5, 5)])
  await buffered.close(200)
  expect(first.seqs).toEqual([])

  const second = recordingSink()
  const again = await DiskBufferedSink.open(second.sink, options(), createIngestMetrics(), silentLogger())
  again.offer([envelope('aq-1', 50, 5)])
  await again.drained(10_000)
  expect(second.seqs).toEqual(Array.from({ length: 55 }, (_, i) => i))
  await again.close(1_000)

  // Everything was written: a third start has nothing to send.
  const third = recordingSink()
  const last = await DiskBufferedSink.open(third.sink, options(), createIngestMetrics(), silentLogger())
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(third.seqs).toEqual([])
  await last.close(1_000)
})

test('past its byte quota the oldest rows go, counted in rows as queue_full; written + dropped = offered, none twice', async () => {
  const second = recordingSink()
  second.state.down = true
  // Small files so the quota is reached: each offer is about 5 KB on disk.
  const buffered = await DiskBufferedSink.open(second.sink, options({ maxBytes: 256 * 1024, segmentBytes: 32 * 1024, maxBatchRows: 1_000 }), metrics, silentLogger())
  const offered = 300
  for (let b = 0; b < offered; b++) {
    buffered.offer([envelope('aq-1', b * 100, 100)])
    // Let appends reach the disk now and then, as commits do.
    if (b % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  const dropped = await metric('gridline_component_dropped_rows_total', 'reason="queue_full"')
  expect(dropped).toBeGreaterThan(0)
  expect(dropped % 100).toBe(0)
  const bytes = await metric('gridline_component_buffer_bytes', 'component_id="second"')
  expect(bytes).toBeGreaterThan(0)
  expect(bytes).toBeLessThanOrEqual(256 * 1024)
  second.state.down = false
  await buffered.drained(10_000)
  expect(second.seqs.length + dropped).toBe(offered * 100)
  expect(new Set(second.seqs).size).toBe(second.seqs.length)
  // What is left is the newest, in order.
  expect(second.seqs).toEqual(Array.from({ length: second.seqs.length }, (_, i) => offered * 100 - second.seqs.length + i))
  await buffered.close(1_000)
})

import { appendFile, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { createLogger } from '../logger.ts'
import { DiskQueue, type DiskQueueOptions, QueueFullError } from './disk-queue.ts'

// Records shaped as the edge agent queues them: one reading's JSON with its device and seq.
const silentLogger = () => createLogger({ level: 'silent' })
function encodeQueuedReading(reading: { device: string; domain: string; ts: number; values: Record<string, number>; quality: string }, seq: number): Buffer {
  return Buffer.from(JSON.stringify({ device: reading.device, domain: reading.domain, ts: reading.ts, seq, values: reading.values }))
}
function sequenceOfQueuedReading(payload: Buffer): { device: string; seq: number } | undefined {
  const parsed = JSON.parse(payload.toString('utf8')) as { device?: unknown; seq?: unknown }
  return typeof parsed.device === 'string' && typeof parsed.seq === 'number' ? { device: parsed.device, seq: parsed.seq } : undefined
}

const dirs: string[] = []
const queues: DiskQueue[] = []

async function openQueue(dir: string, options: Partial<DiskQueueOptions> = {}): Promise<DiskQueue> {
  const queue = await DiskQueue.open({
    dir, maxBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, fullPolicy: 'drop_oldest', ttlMs: 0, commitDelayMs: 0,
    sequenceOf: sequenceOfQueuedReading, logger: silentLogger(), ...options,
  })
  queues.push(queue)
  return queue
}

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edge-queue-'))
  dirs.push(dir)
  return dir
}

function payload(device: string, seq: number): Buffer {
  return encodeQueuedReading({ device, domain: 'water', ts: 1_795_852_800_000 + seq, values: { level: seq }, quality: 'good' }, seq)
}

async function readAll(queue: DiskQueue): Promise<number[]> {
  const cursor = queue.openCursor()
  const seqs: number[] = []
  for (;;) {
    const { records } = await cursor.read(1000, 1 << 20)
    if (records.length === 0) break
    for (const r of records) seqs.push(sequenceOfQueuedReading(r.payload)!.seq)
  }
  await cursor.close()
  return seqs
}

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close().catch(() => undefined)))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('DiskQueue', () => {
  test('appends are group-committed and read back in order, across segments', async () => {
    const queue = await openQueue(await freshDir(), { segmentBytes: 4096 })
    await Promise.all(Array.from({ length: 500 }, (_, i) => queue.append(payload('pump-1', i))))
    expect(await readAll(queue)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(queue.stats().depthReadings).toBe(500)
  })

  test('a reopened queue keeps unacknowledged records and forgets acknowledged ones', async () => {
    const dir = await freshDir()
    const first = await openQueue(dir, { segmentBytes: 4096 })
    for (let group = 0; group < 3; group++) await Promise.all(Array.from({ length: 100 }, (_, i) => first.append(payload('pump-1', group * 100 + i))))
    const cursor = first.openCursor()
    const { start, end } = await cursor.read(120, 1 << 20)
    await cursor.close()
    first.ack(start, end)
    await first.close()
    const segmentsBefore = (await readdir(dir)).filter((n) => n.endsWith('.log')).length

    const second = await openQueue(dir, { segmentBytes: 4096 })
    expect(await readAll(second)).toEqual(Array.from({ length: 180 }, (_, i) => i + 120))
    expect(segmentsBefore).toBeGreaterThan(1)
  })

  test('per-device sequence numbers continue after a restart, even when everything was delivered', async () => {
    const dir = await freshDir()
    const first = await openQueue(dir, { segmentBytes: 2048 })
    for (let i = 0; i < 50; i++) await first.append(payload('pump-1', first.nextSeq('pump-1')))
    first.ack(0, 50)
    await first.close()
    const second = await openQueue(dir)
    expect(second.nextSeq('pump-1')).toBe(50)
    expect(second.nextSeq('pump-2')).toBe(0)
  })

  test('a torn last record is cut off at start-up and the records before it are kept', async () => {
    const dir = await freshDir()
    const first = await openQueue(dir)
    await Promise.all(Array.from({ length: 10 }, (_, i) => first.append(payload('pump-1', i))))
    await first.close()
    const [segment] = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort()
    const path = join(dir, segment!)
    const size = (await stat(path)).size
    // A crash in the middle of the last write: only part of the record reached the disk.
    await truncate(path, size - 7)

    const second = await openQueue(dir)
    expect(await readAll(second)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(second.stats().corruptAtStart).toBe(1)
    expect(second.stats().dropped.corrupt).toBe(1)
  })

  test('garbage after the last record (bad CRC) is detected and skipped', async () => {
    const dir = await freshDir()
    const first = await openQueue(dir)
    await Promise.all(Array.from({ length: 5 }, (_, i) => first.append(payload('pump-1', i))))
    await first.close()
    const [segment] = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort()
    const garbage = Buffer.alloc(40, 0)
    garbage.writeUInt32LE(32, 0)
    garbage.writeUInt32LE(0xdeadbeef, 4)
    await appendFile(join(dir, segment!), garbage)

    const second = await openQueue(dir)
    await second.append(payload('pump-1', 5))
    expect(await readAll(second)).toEqual([0, 1, 2, 3, 4, 5])
    expect(second.stats().corruptAtStart).toBe(1)
  })

  test('drop_oldest: when full, the oldest segment goes and its readings are counted as queue_full', async () => {
    const queue = await openQueue(await freshDir(), { maxBytes: 16 * 1024, segmentBytes: 4096 })
    for (let i = 0; i < 600; i++) await queue.append(payload('pump-1', i))
    const stats = queue.stats()
    expect(stats.diskBytes).toBeLessThanOrEqual(16 * 1024)
    expect(stats.dropped.queue_full).toBeGreaterThan(0)
    const left = await readAll(queue)
    // What is left is the newest readings, still in order, and nothing is unaccounted for.
    expect(left.at(-1)).toBe(599)
    expect(left).toEqual(Array.from({ length: left.length }, (_, i) => 600 - left.length + i))
    expect(left.length + stats.dropped.queue_full).toBe(600)
  })

  test('reject_new: when full, new readings are refused and counted', async () => {
    const queue = await openQueue(await freshDir(), { maxBytes: 8 * 1024, segmentBytes: 4096, fullPolicy: 'reject_new' })
    let refused = 0
    for (let i = 0; i < 300; i++) await queue.append(payload('pump-1', i)).catch((err) => { expect(err).toBeInstanceOf(QueueFullError); refused++ })
    const left = await readAll(queue)
    expect(refused).toBeGreaterThan(0)
    expect(queue.stats().dropped.queue_full).toBe(refused)
    expect(left).toEqual(Array.from({ length: 300 - refused }, (_, i) => i))
  })

  test('readings older than the TTL are dropped as expired when read, once', async () => {
    const queue = await openQueue(await freshDir(), { ttlMs: 60_000 })
    for (let i = 0; i < 5; i++) await queue.append(payload('pump-1', i), Date.now() - 120_000)
    for (let i = 5; i < 8; i++) await queue.append(payload('pump-1', i))
    expect(await readAll(queue)).toEqual([5, 6, 7])
    expect(await readAll(queue)).toEqual([5, 6, 7])
    expect(queue.stats().dropped.expired).toBe(5)
  })

  test('acknowledgements out of order: a live range acked during a drain is not read again', async () => {
    const queue = await openQueue(await freshDir(), { segmentBytes: 2048 })
    for (let i = 0; i < 100; i++) await queue.append(payload('pump-1', i))
    queue.ack(60, 100)
    expect(await readAll(queue)).toEqual(Array.from({ length: 60 }, (_, i) => i))
    queue.ack(0, 60)
    expect(queue.stats().depthReadings).toBe(0)
  })
})

/**
 * Disk queue append throughput on this machine, with and without fdatasync:
 *   npx tsx edge-agent/bench/queue-append.ts [--readings 200000] [--concurrency 1000]
 * `concurrency` appends are outstanding at once (a source delivering a burst); group
 * commit turns them into one write and one fdatasync per batch.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskQueue, createLogger } from '@gridline/core'
import { encodeQueuedReading, sequenceOfQueuedReading } from '../src/reading.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const READINGS = arg('--readings', 200_000)
const CONCURRENCY = arg('--concurrency', 1000)

async function run(fsync: boolean, concurrency: number, readings: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gridline-queue-bench-'))
  const queue = await DiskQueue.open({
    dir, maxBytes: 4 * 1024 ** 3, segmentBytes: 8 * 1024 * 1024, fullPolicy: 'drop_oldest', ttlMs: 0, commitDelayMs: 0, fsync,
    sequenceOf: sequenceOfQueuedReading, logger: createLogger({ level: 'silent' }),
  })
  const now = Date.now()
  const started = process.hrtime.bigint()
  for (let done = 0; done < readings; done += concurrency) {
    const batch: Promise<void>[] = []
    for (let i = 0; i < concurrency && done + i < readings; i++) {
      const n = done + i
      batch.push(queue.append(encodeQueuedReading({ device: `dev-${n % 100}`, domain: 'water', ts: now + n, values: { level: n % 7 }, quality: 'good' }, n)))
    }
    await Promise.all(batch)
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const bytes = queue.stats().diskBytes
  await queue.close()
  await rm(dir, { recursive: true, force: true })
  return `fsync ${fsync ? 'on ' : 'off'}, ${String(concurrency).padStart(5)} outstanding: ${Math.round(readings / seconds).toLocaleString('en')} appends/s, ${(bytes / readings).toFixed(0)} bytes/reading`
}

for (const concurrency of [1, 100, CONCURRENCY]) {
  for (const fsync of [true, false]) {
    const readings = concurrency === 1 ? Math.min(READINGS, 2_000) : READINGS
    const line = await run(fsync, concurrency, readings)
    process.stdout.write(`${line} (${readings.toLocaleString('en')} readings)\n`)
  }
}

/**
 * What a phase cost, beside what it achieved: CPU per stored reading (the
 * target process and the local PostgreSQL server's processes, read from
 * /proc) and, for gridline, where a message waited before its commit (the
 * pipeline's linger, queue and commit histograms, differenced over the phase).
 */
import { readdir, readFile } from 'node:fs/promises'
import type { CpuPerReading, StageWait, StageWaits } from './results.ts'

/** The CPU a target process has used so far (ms); null for a party that cannot say (mosquitto). */
export interface CpuReporter {
  cpuMs?(): Promise<number>
}

const TICKS_PER_SECOND = 100 // USER_HZ on Linux

/** User plus system CPU of every process named `postgres` (ms), or NaN where /proc is not readable. */
export async function postgresCpuMs(): Promise<number> {
  let ticks = 0
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return NaN
  }
  await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map(async (pid) => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces; fields after ')' start at state (field 3).
      const close = stat.lastIndexOf(')')
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') return
      const fields = stat.slice(close + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15)
    } catch {
      // The process ended while we looked.
    }
  }))
  return (ticks * 1000) / TICKS_PER_SECOND
}

/** CPU used over a phase (ms): the target process, and PostgreSQL (NaN when not counted). */
export interface CpuUsed {
  serviceMs: number
  postgresMs: number
}

/** Starts counting CPU; `stop()` (as soon as the phase ends) gives what was used; null for a target that cannot say. */
export async function startCpuMeter(target: CpuReporter, withPostgres: boolean): Promise<{ stop(): Promise<CpuUsed | null> }> {
  if (!target.cpuMs) return { stop: async () => null }
  const read = () => Promise.all([target.cpuMs!(), withPostgres ? postgresCpuMs() : NaN])
  const [t0, p0] = await read()
  return {
    stop: async () => {
      const [t1, p1] = await read()
      return { serviceMs: t1 - t0, postgresMs: p1 - p0 }
    },
  }
}

/** µs per reading of what a phase used. */
export function perReading(used: CpuUsed | null, readings: number): CpuPerReading | null {
  if (!used || !(readings > 0)) return null
  const serviceMicros = (used.serviceMs * 1000) / readings
  const postgresMicros = (used.postgresMs * 1000) / readings
  return { serviceMicros, postgresMicros, totalMicros: serviceMicros + (Number.isNaN(postgresMicros) ? 0 : postgresMicros) }
}

/** The pipeline's wait histograms (docs/operations.md#metrics). */
const STAGES = {
  linger: 'gridline_ingest_batch_linger_seconds',
  queue: 'gridline_ingest_batch_queue_seconds',
  commit: 'gridline_ingest_commit_seconds',
} as const

interface Buckets {
  /** Upper bounds (s), ascending, +Inf last, with cumulative counts. */
  le: number[]
  cumulative: number[]
  sum: number
  count: number
}

async function scrapeBuckets(httpPort: number): Promise<Record<keyof typeof STAGES, Buckets>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const out = {} as Record<keyof typeof STAGES, Buckets>
  for (const [stage, name] of Object.entries(STAGES) as [keyof typeof STAGES, string][]) {
    const b: Buckets = { le: [], cumulative: [], sum: 0, count: 0 }
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue
      const value = Number(line.slice(line.lastIndexOf(' ') + 1))
      const rest = line.slice(name.length)
      if (rest.startsWith('_bucket')) {
        const le = /le="([^"]+)"/.exec(rest)?.[1]
        b.le.push(le === '+Inf' ? Infinity : Number(le))
        b.cumulative.push(value)
      } else if (rest.startsWith('_sum')) b.sum = value
      else if (rest.startsWith('_count')) b.count = value
    }
    out[stage] = b
  }
  return out
}

/** The smallest bucket bound holding p% of the observations: "p99 <= 5 ms". */
function boundAt(le: number[], counts: number[], total: number, p: number): number {
  const want = (total * p) / 100
  for (let i = 0; i < le.length; i++) if (counts[i]! >= want) return le[i]! * 1000
  return Infinity
}

function waitBetween(a: Buckets, b: Buckets): StageWait {
  const count = b.count - a.count
  const counts = b.cumulative.map((c, i) => c - (a.cumulative[i] ?? 0))
  return {
    batches: count,
    meanMs: count > 0 ? ((b.sum - a.sum) / count) * 1000 : NaN,
    p50AtMostMs: count > 0 ? boundAt(b.le, counts, count, 50) : NaN,
    p99AtMostMs: count > 0 ? boundAt(b.le, counts, count, 99) : NaN,
  }
}

/** Scrapes the wait histograms now; `stop()` scrapes again and gives the phase's share. */
export async function startStageWaits(httpPort: number | null | undefined): Promise<{ stop(): Promise<StageWaits | null> }> {
  if (httpPort === null || httpPort === undefined) return { stop: async () => null }
  const before = await scrapeBuckets(httpPort)
  return {
    stop: async () => {
      const after = await scrapeBuckets(httpPort)
      return { linger: waitBetween(before.linger, after.linger), queue: waitBetween(before.queue, after.queue), commit: waitBetween(before.commit, after.commit) }
    },
  }
}

/**
 * The machine's Mosquitto as a phase target: it is not ours to start, so it
 * is watched from /proc (CPU and resident memory of its process, found by
 * its pid file) when that is readable, and reported as unknown otherwise.
 * And a private Mosquitto of the bench's own (`mqtt-client`), on a free port.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { trackChild } from './ipc.ts'
import { type Observed, type Sampled, pollEvery, processObservation } from './harness.ts'
import type { BenchSettings, TargetObservation } from './results.ts'
import type { TargetSample } from './target-process.ts'

const PID_FILES = ['/run/mosquitto/mosquitto.pid', '/var/run/mosquitto/mosquitto.pid', '/var/run/mosquitto.pid']
/** Linux reports CPU time in clock ticks (USER_HZ, 100 on every mainstream kernel) and RSS in pages. */
const TICKS_PER_SECOND = 100
const PAGE_BYTES = 4096

export class MosquittoTarget implements Observed {
  readonly kind = 'mosquitto' as const

  private constructor(readonly port: number, readonly settings: BenchSettings, private readonly pid: number | null) {}

  static async find(port: number, settings: BenchSettings): Promise<MosquittoTarget> {
    let pid: number | null = null
    for (const file of PID_FILES) {
      const text = await readFile(file, 'utf8').catch(() => '')
      const n = Number.parseInt(text.trim(), 10)
      if (Number.isInteger(n) && n > 0 && (await procStat(n)) !== null) {
        pid = n
        break
      }
    }
    return new MosquittoTarget(port, settings, pid)
  }

  sample(intervalMs: number): { stop(): Promise<Sampled> } {
    const sampled: Sampled = { samples: [], missed: 0 }
    let last: { cpuTicks: number; atMs: number } | null = null
    const poller = pollEvery(intervalMs, () => this.pid !== null, async () => {
      const stat = await procStat(this.pid!)
      if (!stat) {
        sampled.missed++
        return
      }
      const atMs = performance.now()
      const cpuPercent = last ? (((stat.cpuTicks - last.cpuTicks) / TICKS_PER_SECOND) * 1000 / Math.max(1, atMs - last.atMs)) * 100 : 0
      last = { cpuTicks: stat.cpuTicks, atMs }
      const sample: TargetSample = {
        atMs: Date.now(), rssBytes: stat.rssBytes, heapUsedBytes: NaN, cpuPercent, connectedClients: NaN,
        loopDelayP99Ms: NaN, loopDelayMaxMs: NaN, pendingRows: null, backpressureSeen: null, backpressureRises: null,
      }
      sampled.samples.push({ sample, answeredInMs: 0 })
    })
    return { stop: async () => { await poller.stop(); return sampled } }
  }

  async observe(sampled: Sampled): Promise<TargetObservation> {
    return {
      ...processObservation(sampled),
      heapUsedPeakBytes: NaN,
      slowestSampleAnswerMs: NaN,
      loopDelayP99Ms: NaN,
      loopDelayMaxMs: NaN,
      peakPendingRows: null,
      metrics: null,
      logWarnings: 0,
      logErrors: 0,
      firstComplaints: [],
    }
  }
}

/** utime + stime (ticks) and RSS of a process from /proc/<pid>/stat [proc(5)]; null when unreadable. */
export async function procStat(pid: number): Promise<{ cpuTicks: number; rssBytes: number } | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (!text) return null
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime 15, rss 24.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const rssPages = Number(fields[21])
  if (!Number.isFinite(utime) || !Number.isFinite(rssPages)) return null
  return { cpuTicks: utime + stime, rssBytes: rssPages * PAGE_BYTES }
}

/**
 * A Mosquitto of the bench's own on a free 127.0.0.1 port, anonymous, no
 * persistence (its sessions live as long as it does), and no queue or
 * in-flight limits: `max_queued_messages 0` (the machine's keeps 1,000 a
 * session and drops the rest, which would count as the subscriber's loss)
 * and `max_inflight_messages 0` (MQTT 5 clients still get their Receive
 * Maximum). Stop it with `stop()`.
 */
export async function startPrivateMosquitto(): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'gridline-bench-mosquitto-'))
  const config = join(dir, 'mosquitto.conf')
  await writeFile(config, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', 'max_queued_bytes 0',
    'max_inflight_messages 0', 'set_tcp_nodelay true', 'log_dest stderr', 'log_type error', 'log_type warning', '',
  ].join('\n'))
  const child = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  trackChild(child)
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    child.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = performance.now() + 10_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null || performance.now() > deadline) {
      await stop()
      throw new Error(`the bench's Mosquitto did not start on port ${port}: ${stderr.trim() || 'no output'}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { port, pid: child.pid!, stop }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

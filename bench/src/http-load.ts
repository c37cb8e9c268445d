/**
 * An HTTP load generator in its own process (so its CPU is not the target's
 * or the harness's): line protocol bodies over a few keep-alive
 * connections, the way Telegraf's influxdb output sends them, and airrohr
 * POSTs from many simulated sensors, closed loop or paced. Every latency is
 * from the moment a request was due (paced) or sent (closed loop) to the
 * end of its answer, so a slow target cannot hide its queue (no coordinated
 * omission). Commands: `lineProtocol`, `sensorsClosed`, `sensorsPaced`.
 */
import http from 'node:http'
import { airrohrRequest } from '@gridline/firmware-sim/replay'
import { serveRequests } from './ipc.ts'
import { lineProtocolBody, sensorValues } from './workload.ts'

export interface LineProtocolRequest {
  url: string
  headers: Record<string, string>
  deviceIds: string[]
  baseTimeMs: number
  linesPerRequest: number
  requests: number
  connections: number
  timeoutMs: number
}

export interface HttpLoadResult {
  requests: number
  /** Answers by status code (0: no answer). */
  statuses: Record<string, number>
  elapsedMs: number
  /** ms, in the order answered. */
  latenciesMs: number[]
  /** The first answer that was not 2xx, for the report. */
  firstError: string | null
  /** line protocol: bodies sent again after a 429 or 503 (as Telegraf does, after Retry-After). */
  retries: number
  cpuPercent: number
}

export interface Sensor {
  chipId: string
  login: string
  password: string
}

export interface SensorsRequest {
  url: string
  sensors: Sensor[]
  /** Closed loop: requests in flight at once. */
  concurrency?: number
  /** Closed loop: each sensor posts once (their first logins), no window. */
  onceEach?: boolean
  /** Paced: requests per second over all sensors. */
  ratePerSecond?: number
  warmupMs: number
  windowMs: number
  timeoutMs: number
}

interface Answer { status: number; text: string; retryAfterS: number }

function post(agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': String(body.length) }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { if (chunks.length < 4) chunks.push(c) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8').slice(0, 300), retryAfterS: Number(res.headers['retry-after'] ?? 0) || 0 }))
      res.on('error', () => resolve({ status: 0, text: 'response error', retryAfterS: 0 }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err) => resolve({ status: 0, text: err.message, retryAfterS: 0 }))
    req.end(body)
  })
}

class Tally {
  readonly statuses: Record<string, number> = {}
  readonly latencies: number[] = []
  firstError: string | null = null
  retries = 0
  private readonly cpu = process.cpuUsage()
  private readonly started = performance.now()
  note(answer: Answer, latencyMs: number | null): void {
    this.statuses[answer.status] = (this.statuses[answer.status] ?? 0) + 1
    if (latencyMs !== null) this.latencies.push(latencyMs)
    if ((answer.status < 200 || answer.status >= 300) && this.firstError === null) this.firstError = `${answer.status} ${answer.text}`
  }
  result(requests: number, elapsedMs: number): HttpLoadResult {
    const used = process.cpuUsage(this.cpu)
    return {
      requests, statuses: this.statuses, elapsedMs, latenciesMs: this.latencies, firstError: this.firstError, retries: this.retries,
      cpuPercent: ((used.user + used.system) / 1000 / Math.max(1, performance.now() - this.started)) * 100,
    }
  }
}

/** Every body is made before the clock starts; `connections` workers send them in turn, each on its own keep-alive connection. */
async function lineProtocol(body: unknown): Promise<HttpLoadResult> {
  const r = body as LineProtocolRequest
  const bodies = Array.from({ length: r.requests }, (_, i) => Buffer.from(lineProtocolBody(r.baseTimeMs, r.deviceIds, i, r.linesPerRequest)))
  const url = new URL(r.url)
  const tally = new Tally()
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: r.connections }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      while (next < bodies.length) {
        const b = bodies[next++]!
        const sent = performance.now()
        for (let attempt = 1; ; attempt++) {
          const answer = await post(agent, url, r.headers, b, r.timeoutMs)
          if ((answer.status === 429 || answer.status === 503) && attempt < 20) {
            tally.retries++
            await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, Math.max(100, answer.retryAfterS * 1_000))))
            continue
          }
          // The latency of a body is to its final answer, retries included.
          tally.note(answer, performance.now() - sent)
          break
        }
      }
    } finally {
      agent.destroy()
    }
  }))
  return tally.result(bodies.length, performance.now() - started)
}

/** POST `i` of a sensor, exactly as the firmware sends it (the simulator's airrohr replay makes it). */
function sensorPost(agent: http.Agent, url: URL, s: Sensor, i: number, timeoutMs: number): Promise<Answer> {
  const { body, headers } = airrohrRequest({ file: '', line: i, recordedAt: '', values: sensorValues(i) }, s.chipId, { username: s.login, password: s.password, softwareVersion: 'NRZ-2024-135' })
  return post(agent, url, headers, Buffer.from(body), timeoutMs)
}

/** Closed loop: `concurrency` requests in flight, sensors in turn; counts the answers inside the window after the warm-up. */
async function sensorsClosed(body: unknown): Promise<HttpLoadResult> {
  const r = body as SensorsRequest
  const url = new URL(r.url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: r.concurrency ?? 16 })
  const tally = new Tally()
  const started = performance.now()
  const windowStart = started + r.warmupMs
  const windowEnd = windowStart + r.windowMs
  let n = 0
  let inWindow = 0
  const more = () => (r.onceEach ? n < r.sensors.length : performance.now() < windowEnd)
  try {
    await Promise.all(Array.from({ length: r.concurrency ?? 16 }, async () => {
      while (more()) {
        const i = n++
        const sent = performance.now()
        const answer = await sensorPost(agent, url, r.sensors[i % r.sensors.length]!, i, r.timeoutMs)
        const done = performance.now()
        if (r.onceEach || (sent >= windowStart && done <= windowEnd)) {
          inWindow++
          tally.note(answer, done - sent)
        } else if (answer.status < 200 || answer.status >= 300) tally.note(answer, null)
      }
    }))
  } finally {
    agent.destroy()
  }
  return tally.result(inWindow, r.onceEach ? performance.now() - started : r.windowMs)
}

/** Open loop at ratePerSecond: each request is due at its slot, sent then, and timed from its slot. */
async function sensorsPaced(body: unknown): Promise<HttpLoadResult> {
  const r = body as SensorsRequest
  const url = new URL(r.url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: r.sensors.length })
  const tally = new Tally()
  const interval = 1000 / r.ratePerSecond!
  const started = performance.now()
  const total = Math.floor((r.warmupMs + r.windowMs) / interval)
  const warm = Math.floor(r.warmupMs / interval)
  const pending: Promise<void>[] = []
  let answeredInWindow = 0
  try {
    for (let i = 0; i < total; i++) {
      const due = started + i * interval
      const wait = due - performance.now()
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
      pending.push(sensorPost(agent, url, r.sensors[i % r.sensors.length]!, i, r.timeoutMs).then((answer) => {
        if (i >= warm) {
          answeredInWindow++
          tally.note(answer, performance.now() - due)
        }
      }))
    }
    await Promise.all(pending)
  } finally {
    agent.destroy()
  }
  return tally.result(answeredInWindow, r.windowMs)
}

serveRequests({ lineProtocol, sensorsClosed, sensorsPaced }, async () => undefined)

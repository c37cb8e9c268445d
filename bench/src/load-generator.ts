/**
 * A load generator process: MQTT 3.1.1 publishers (mqtt.js, QoS 1), driven
 * by the bench over IPC. One process tops out near 50k msg/s, so the bench
 * runs two and splits the connections between them.
 *
 * Commands: `connect` opens the connections, then any number of `count` or
 * `window` phases run on them (the ack-latency phase reuses the connections
 * of the throughput phase), and `stop` closes them.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { serveRequests } from './ipc.ts'
import { benchTopic, messagePayload } from './workload.ts'

export interface ConnectRequest {
  port: number
  deviceIds: string[]
  password: string
  /** Reading i of every device is stamped baseTimeMs + i. */
  baseTimeMs: number
  timeoutMs: number
}

/** Publish a fixed number of messages per connection as fast as the in-flight cap allows. */
export interface CountPhase {
  kind: 'count'
  readingsPerMessage: number
  messagesPerConnection: number
  /** Unacknowledged QoS 1 messages allowed per connection. */
  maxInflight: number
  timeoutMs: number
}

/** Publish for warmupMs + windowMs, counting what happens inside the window. */
export interface WindowPhase {
  kind: 'window'
  readingsPerMessage: number
  maxInflight: number
  warmupMs: number
  windowMs: number
  /** This process's target rate in messages/s; null publishes as fast as acks return (closed loop). */
  ratePerSecond: number | null
  /** Keep publish-to-PUBACK latency of every message published inside the window. */
  recordLatency: boolean
  /** After the window, how long to wait for outstanding PUBACKs. */
  drainTimeoutMs: number
}

export interface CountResult {
  ackedMessages: number
  failedMessages: number
  /** Epoch ms (performance.timeOrigin based) of the first publish and of the last PUBACK. */
  firstPublishEpochMs: number
  lastAckEpochMs: number
  complete: boolean
  disconnects: number
  cpuPercent: number
}

export interface WindowResult {
  /** PUBACKs that arrived inside the window. */
  ackedInWindow: number
  publishedInWindow: number
  windowMs: number
  /** Over the whole phase, warm-up and drain included. */
  totalPublished: number
  totalAcked: number
  /** Publishes the pacer could not make because every connection was at its in-flight cap. */
  deferred: number
  /** Messages still unacknowledged after the drain timeout. */
  unacked: number
  failedMessages: number
  disconnects: number
  /** publish-to-PUBACK ms of messages published inside the window, unsorted. */
  latenciesMs: Float64Array
  cpuPercent: number
}

interface Connection {
  client: MqttClient
  topic: string
  /** Index of the next reading this device sends; continues across phases so timestamps never repeat. */
  nextReading: number
  inflight: number
}

let connections: Connection[] = []
let baseTimeMs = 0
let disconnects = 0

const epochNow = () => performance.timeOrigin + performance.now()

async function connect(body: unknown): Promise<{ connected: number; ms: number }> {
  const request = body as ConnectRequest
  baseTimeMs = request.baseTimeMs
  const started = performance.now()
  connections = await Promise.all(request.deviceIds.map(async (deviceId) => {
    const client = await mqtt.connectAsync({
      host: '127.0.0.1',
      port: request.port,
      protocolVersion: 4,
      clientId: `${deviceId}-${process.pid}`,
      username: deviceId,
      password: request.password,
      clean: true,
      // A dropped connection is a finding, not something to paper over.
      reconnectPeriod: 0,
      connectTimeout: request.timeoutMs,
      keepalive: 60,
    })
    // An error ends in 'close', which is what gets counted and reported.
    client.on('error', () => undefined)
    client.on('close', () => disconnects++)
    return { client, topic: benchTopic(deviceId), nextReading: 0, inflight: 0 }
  }))
  return { connected: connections.length, ms: performance.now() - started }
}

function publish(connection: Connection, readings: number, onAck: (err: Error | undefined) => void): void {
  const payload = messagePayload(baseTimeMs, connection.nextReading, readings)
  connection.nextReading += readings
  connection.inflight++
  connection.client.publish(connection.topic, payload, { qos: 1 }, (err) => {
    connection.inflight--
    onAck(err ?? undefined)
  })
}

function cpuPercentSince(start: NodeJS.CpuUsage, startedMs: number): number {
  const used = process.cpuUsage(start)
  const elapsedMs = performance.now() - startedMs
  return elapsedMs > 0 ? ((used.user + used.system) / 1000 / elapsedMs) * 100 : 0
}

function runCount(phase: CountPhase): Promise<CountResult> {
  const cpu = process.cpuUsage()
  const startedMs = performance.now()
  const disconnectsBefore = disconnects
  let acked = 0
  let failed = 0
  let lastAckEpochMs = epochNow()
  const total = phase.messagesPerConnection * connections.length
  const firstPublishEpochMs = epochNow()
  return new Promise((resolve) => {
    let finished = false
    const finish = (complete: boolean) => {
      if (finished) return
      finished = true
      clearTimeout(deadline)
      resolve({ ackedMessages: acked, failedMessages: failed, firstPublishEpochMs, lastAckEpochMs, complete, disconnects: disconnects - disconnectsBefore, cpuPercent: cpuPercentSince(cpu, startedMs) })
    }
    const deadline = setTimeout(() => finish(false), phase.timeoutMs)
    for (const connection of connections) {
      let sent = 0
      const sendMore = () => {
        while (sent < phase.messagesPerConnection && connection.inflight < phase.maxInflight) {
          sent++
          publish(connection, phase.readingsPerMessage, onAck)
        }
      }
      const onAck = (err: Error | undefined) => {
        if (err) failed++
        else acked++
        lastAckEpochMs = epochNow()
        if (acked + failed === total) finish(true)
        else sendMore()
      }
      sendMore()
    }
    if (total === 0) finish(true)
  })
}

function runWindow(phase: WindowPhase): Promise<WindowResult> {
  const cpu = process.cpuUsage()
  const disconnectsBefore = disconnects
  const start = performance.now()
  const windowStart = start + phase.warmupMs
  const windowEnd = windowStart + phase.windowMs
  let ackedInWindow = 0
  let publishedInWindow = 0
  let failed = 0
  let deferred = 0
  let totalPublished = 0
  let totalAcked = 0
  let stopped = false
  let latencies = new Float64Array(phase.recordLatency ? 65_536 : 0)
  let latencyCount = 0

  const record = (latencyMs: number) => {
    if (latencyCount === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[latencyCount++] = latencyMs
  }

  const send = (connection: Connection) => {
    const sentAt = performance.now()
    const inWindow = sentAt >= windowStart && sentAt < windowEnd
    if (inWindow) publishedInWindow++
    totalPublished++
    publish(connection, phase.readingsPerMessage, (err) => {
      const ackedAt = performance.now()
      if (err) failed++
      else {
        totalAcked++
        if (ackedAt >= windowStart && ackedAt < windowEnd) ackedInWindow++
        if (phase.recordLatency && inWindow) record(ackedAt - sentAt)
      }
      // Closed loop: each PUBACK lets the next message go.
      if (phase.ratePerSecond === null && !stopped) send(connection)
    })
  }

  let pacer: NodeJS.Timeout | undefined
  if (phase.ratePerSecond === null) {
    for (const connection of connections) for (let i = 0; i < phase.maxInflight; i++) send(connection)
  } else {
    // Open loop: messages are due at a fixed rate, spread round-robin over the
    // connections, whatever the acks do. A due message finding every
    // connection at its cap is counted as deferred rather than queued.
    const rate = phase.ratePerSecond
    let scheduled = 0
    let next = 0
    pacer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * rate) / 1000)
      for (; scheduled < due; scheduled++) {
        let tries = 0
        while (tries < connections.length && connections[next]!.inflight >= phase.maxInflight) {
          next = (next + 1) % connections.length
          tries++
        }
        if (tries === connections.length) {
          deferred++
          continue
        }
        send(connections[next]!)
        next = (next + 1) % connections.length
      }
    }, 1)
  }

  return new Promise((resolve) => {
    setTimeout(() => {
      stopped = true
      clearInterval(pacer)
      const drainDeadline = performance.now() + phase.drainTimeoutMs
      const waitForAcks = () => {
        const outstanding = connections.reduce((n, c) => n + c.inflight, 0)
        if (outstanding > 0 && performance.now() < drainDeadline) {
          setTimeout(waitForAcks, 10)
          return
        }
        resolve({
          ackedInWindow,
          publishedInWindow,
          windowMs: phase.windowMs,
          totalPublished,
          totalAcked,
          deferred,
          unacked: outstanding,
          failedMessages: failed,
          disconnects: disconnects - disconnectsBefore,
          latenciesMs: latencies.slice(0, latencyCount),
          cpuPercent: cpuPercentSince(cpu, start),
        })
      }
      waitForAcks()
    }, phase.warmupMs + phase.windowMs)
  })
}

async function closeAll(): Promise<void> {
  await Promise.all(connections.map((c) => c.client.endAsync(true).catch(() => undefined)))
  connections = []
}

serveRequests({
  connect,
  count: async (body) => runCount(body as CountPhase),
  window: async (body) => runWindow(body as WindowPhase),
  stop: closeAll,
}, closeAll)

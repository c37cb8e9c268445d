/**
 * A load generator process: MQTT 3.1.1 publishers (mqtt.js, QoS 1), driven
 * by the bench over IPC. One process tops out near 50k msg/s, so the bench
 * runs two and splits the connections between them.
 *
 * Commands: `connect` opens the connections, then any number of `count` or
 * `window` phases run on them (the ack-latency phase reuses the connections
 * of the throughput phase), then any number of `overload` phases, and `stop`
 * closes them.
 */
import { readFileSync } from 'node:fs'
import mqtt, { type MqttClient } from 'mqtt'
import { serveRequests } from './ipc.ts'
import { IndexRanges } from './overload.ts'
import { Timeline } from './series.ts'
import { SPARKPLUG_DOMAIN, benchTopic, messagePayload, sparkplugBirths, sparkplugData, sparkplugDataTopic, waterJson } from './workload.ts'
import { deviceTopic } from '@gridline/schemas'

export interface ConnectRequest {
  port: number
  deviceIds: string[]
  password: string
  /** Reading i of every device is stamped baseTimeMs + i. */
  baseTimeMs: number
  timeoutMs: number
  /** Put before every topic, so a shared broker (Mosquitto) keeps this run's messages apart. Default none. */
  topicPrefix?: string
  /** Connect over TLS (mqtts), trusting this CA (PEM file). Default plain MQTT. */
  caFile?: string | undefined
}

/**
 * Payloads made before the clock starts (the `sparkplug` scenario), used by
 * the phases after it instead of the bench's one-reading JSON: `sparkplug`,
 * each login an edge node: its NBIRTH and DBIRTH are published (QoS 1,
 * acknowledged) at once, then DDATA 0 .. messages - 1; `water-json`, each
 * login a water device: the same readings as gridline JSON on its own topic.
 */
export interface PrepareRequest {
  kind: 'sparkplug' | 'water-json'
  messages: number
}

/** Publish a fixed number of messages per connection as fast as the in-flight cap allows. */
export interface CountPhase {
  kind: 'count'
  readingsPerMessage: number
  messagesPerConnection: number
  /** Unacknowledged QoS 1 messages allowed per connection. */
  maxInflight: number
  timeoutMs: number
  /** Keep publish-to-PUBACK latency of every message. */
  recordLatency?: boolean
  /** Bucket of the PUBACK timeline (throughput over time); default 500 ms. */
  timelineBucketMs?: number
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
  /**
   * 1 (default): every message QoS 1. 0: closed loop only; each send is
   * `qos0PerFence` - 1 QoS 0 messages and one QoS 1 message (the fence).
   * A broker handles one connection's packets in order, so the fence's
   * PUBACK says the QoS 0 messages before it were taken in too: QoS 0 gets
   * a rate and flow control without a subscriber.
   */
  qos?: 0 | 1
  qos0PerFence?: number
  /** Bucket of the PUBACK timeline (throughput over time); default 500 ms. */
  timelineBucketMs?: number
}

/**
 * Open-loop overload: messages are due at a fixed rate for offerMs whatever
 * the acks do, then no new ones while the outstanding ones drain.
 */
export interface OverloadPhase {
  kind: 'overload'
  readingsPerMessage: number
  /** This process's offered rate in messages/s. */
  ratePerSecond: number
  /** Unacknowledged messages allowed per connection: set high enough that it never paces the load. */
  maxInflight: number
  offerMs: number
  /** After the offered load, how long to wait for every PUBACK (or the connection's close). */
  drainTimeoutMs: number
  /** While this process's RSS is above this, due messages are skipped rather than queued: the generator's own memory stays bounded. */
  memoryGuardBytes: number
  sampleIntervalMs: number
}

/** One connection's share of an overload phase. */
export interface OverloadConnectionResult {
  deviceId: string
  /** Readings firstReading .. nextReading - 1 were published in this phase (timestamps baseTimeMs + index). */
  firstReading: number
  nextReading: number
  /** Acknowledged reading indices, flattened [lo, hi) pairs. */
  acked: number[]
  /** Published in this phase and neither acknowledged nor failed when the phase ended. */
  outstanding: number
  /** The connection was closed (by the service: shed, or an error) during the phase. */
  closed: boolean
}

export interface GeneratorSample {
  /** ms since the phase started */
  atMs: number
  published: number
  acked: number
  outstanding: number
  rssBytes: number
  heapUsedBytes: number
  /** Whether the memory guard held offering back at this sample. */
  guarded: boolean
}

export interface OverloadResult {
  /** Messages due at the asked rate during the offered-load time. */
  due: number
  published: number
  acked: number
  /** PUBACKs that arrived before the offered-load time ended. */
  ackedDuringOffer: number
  failedMessages: number
  /** Due but not sent: every open connection at its in-flight cap. */
  deferredAtCap: number
  /** Due but not sent: the generator fell more than 100 ms behind schedule (it could not publish that fast). */
  behind: number
  /** Due but not sent: the memory guard was holding offering back. */
  skippedMemoryGuard: number
  /** Due but not sent: every connection was closed. */
  skippedClosed: number
  offerStartEpochMs: number
  offerEndEpochMs: number
  /** Last PUBACK of a message of this phase; NaN when none came. */
  lastAckEpochMs: number
  /** Every message published in this phase was acknowledged, failed, or sat on a closed connection before the drain timeout. */
  drained: boolean
  /** Outstanding on connections still open at the end (the drain timed out on these). */
  unackedOpen: number
  /** Outstanding on connections that were closed: not acknowledged, and not resent by this generator. */
  unackedClosed: number
  connectionsClosed: number
  /** Closed connections from an earlier phase that were replaced by new ones before this phase. */
  reopened: number
  disconnects: number
  maxInflight: number
  cpuPercent: number
  peakRssBytes: number
  peakHeapUsedBytes: number
  connections: OverloadConnectionResult[]
  samples: GeneratorSample[]
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
  /** publish-to-PUBACK ms of every message when asked for, unsorted. */
  latenciesMs: Float64Array
  /** Readings acknowledged per timelineBucketMs since the first publish. */
  ackTimeline: number[]
  timelineBucketMs: number
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
  /** Messages acknowledged per timelineBucketMs since the phase started (warm-up included). */
  ackTimeline: number[]
  timelineBucketMs: number
}

interface Connection {
  client: MqttClient
  deviceId: string
  topic: string
  /** Index of the next reading this device sends; continues across phases so timestamps never repeat. */
  nextReading: number
  inflight: number
  /** Set when the connection closes; this generator does not reconnect within a phase. */
  closed: boolean
  /** Prepared payloads (a `prepare` request): message nextReading is prepared[nextReading]. */
  prepared: Buffer[] | null
}

let connections: Connection[] = []
let baseTimeMs = 0
let disconnects = 0
let connectRequest: ConnectRequest | undefined
const DEFAULT_TIMELINE_BUCKET_MS = 500

const epochNow = () => performance.timeOrigin + performance.now()

async function connect(body: unknown): Promise<{ connected: number; ms: number }> {
  const request = body as ConnectRequest
  baseTimeMs = request.baseTimeMs
  connectRequest = request
  const started = performance.now()
  connections = await Promise.all(request.deviceIds.map((deviceId) => openConnection(request, deviceId, 0)))
  return { connected: connections.length, ms: performance.now() - started }
}

async function openConnection(request: ConnectRequest, deviceId: string, nextReading: number): Promise<Connection> {
  const client = await mqtt.connectAsync({
    host: '127.0.0.1',
    port: request.port,
    ...(request.caFile ? { protocol: 'mqtts' as const, ca: readFileSync(request.caFile) } : {}),
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
  const connection: Connection = { client, deviceId, topic: `${request.topicPrefix ?? ''}${benchTopic(deviceId)}`, nextReading, inflight: 0, closed: false, prepared: null }
  // An error ends in 'close', which is what gets counted and reported.
  client.on('error', () => undefined)
  client.on('close', () => {
    disconnects++
    connection.closed = true
  })
  return connection
}

/**
 * Replaces connections closed in an earlier phase by new ones (same device,
 * readings continuing). The old client is ended first, which fails its
 * unacknowledged messages: they stay counted where they were, never resent.
 */
async function reopenClosed(): Promise<number> {
  const request = connectRequest
  if (!request) return 0
  let reopened = 0
  await Promise.all(connections.map(async (old, i) => {
    if (!old.closed) return
    await old.client.endAsync(true).catch(() => undefined)
    connections[i] = await openConnection(request, old.deviceId, old.nextReading)
    reopened++
  }))
  return reopened
}

async function prepare(body: unknown): Promise<{ ms: number }> {
  const request = body as PrepareRequest
  const started = performance.now()
  await Promise.all(connections.map(async (connection) => {
    const prepared: Buffer[] = new Array(request.messages)
    if (request.kind === 'sparkplug') {
      for (let i = 0; i < request.messages; i++) prepared[i] = sparkplugData(baseTimeMs, i)
      connection.topic = sparkplugDataTopic(connection.deviceId)
      // Births at an earlier time than any data, so they do not collide with DDATA 0's rows.
      for (const birth of sparkplugBirths(connection.deviceId, baseTimeMs - 60_000)) await connection.client.publishAsync(birth.topic, birth.payload, { qos: 1 })
    } else {
      for (let i = 0; i < request.messages; i++) prepared[i] = Buffer.from(waterJson(baseTimeMs, i))
      connection.topic = deviceTopic(SPARKPLUG_DOMAIN, connection.deviceId)
    }
    connection.prepared = prepared
    connection.nextReading = 0
  }))
  return { ms: performance.now() - started }
}

/** The next message of a connection: its prepared payload, else `readings` bench readings as JSON. */
function nextPayload(connection: Connection, readings: number): string | Buffer {
  if (connection.prepared) {
    const payload = connection.prepared[connection.nextReading++]
    if (payload === undefined) throw new Error(`load generator: only ${connection.prepared.length} messages were prepared`)
    return payload
  }
  const payload = messagePayload(baseTimeMs, connection.nextReading, readings)
  connection.nextReading += readings
  return payload
}

function publish(connection: Connection, readings: number, onAck: (err: Error | undefined) => void): void {
  const payload = nextPayload(connection, readings)
  connection.inflight++
  connection.client.publish(connection.topic, payload, { qos: 1 }, (err) => {
    connection.inflight--
    onAck(err ?? undefined)
  })
}

/** Fire and forget: a QoS 0 message, nothing comes back. */
function publishQos0(connection: Connection, readings: number): void {
  const payload = nextPayload(connection, readings)
  connection.client.publish(connection.topic, payload, { qos: 0 })
}

/** A growable latency buffer (ms). */
class Latencies {
  private values: Float64Array
  private count = 0

  constructor(enabled: boolean) {
    this.values = new Float64Array(enabled ? 65_536 : 0)
  }

  record(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(Math.max(1024, this.values.length * 2))
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.count++] = ms
  }

  toArray(): Float64Array {
    return this.values.slice(0, this.count)
  }
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
  const timeline = new Timeline(phase.timelineBucketMs ?? DEFAULT_TIMELINE_BUCKET_MS, startedMs)
  const latencies = new Latencies(phase.recordLatency ?? false)
  return new Promise((resolve) => {
    let finished = false
    const finish = (complete: boolean) => {
      if (finished) return
      finished = true
      clearTimeout(deadline)
      resolve({
        ackedMessages: acked, failedMessages: failed, firstPublishEpochMs, lastAckEpochMs, complete, disconnects: disconnects - disconnectsBefore,
        cpuPercent: cpuPercentSince(cpu, startedMs), latenciesMs: latencies.toArray(), ackTimeline: timeline.toArray(), timelineBucketMs: timeline.bucketMs,
      })
    }
    const deadline = setTimeout(() => finish(false), phase.timeoutMs)
    for (const connection of connections) {
      let sent = 0
      const sendMore = () => {
        while (sent < phase.messagesPerConnection && connection.inflight < phase.maxInflight) {
          sent++
          const sentAt = performance.now()
          publish(connection, phase.readingsPerMessage, (err) => onAck(err, sentAt))
        }
      }
      const onAck = (err: Error | undefined, sentAt: number) => {
        const now = performance.now()
        if (err) failed++
        else {
          acked++
          timeline.add(phase.readingsPerMessage, now)
          if (phase.recordLatency) latencies.record(now - sentAt)
        }
        lastAckEpochMs = performance.timeOrigin + now
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
  const latencies = new Latencies(phase.recordLatency)
  const timeline = new Timeline(phase.timelineBucketMs ?? DEFAULT_TIMELINE_BUCKET_MS, start)
  const qos0 = phase.qos === 0
  if (qos0 && phase.ratePerSecond !== null) throw new Error('QoS 0 runs closed loop only')
  // Messages one send stands for: QoS 0 sends a run of QoS 0 messages closed by a QoS 1 fence.
  const perSend = qos0 ? Math.max(1, phase.qos0PerFence ?? 50) : 1

  const send = (connection: Connection) => {
    const sentAt = performance.now()
    const inWindow = sentAt >= windowStart && sentAt < windowEnd
    if (inWindow) publishedInWindow += perSend
    totalPublished += perSend
    for (let i = 1; i < perSend; i++) publishQos0(connection, phase.readingsPerMessage)
    publish(connection, phase.readingsPerMessage, (err) => {
      const ackedAt = performance.now()
      if (err) failed += perSend
      else {
        totalAcked += perSend
        timeline.add(perSend, ackedAt)
        if (ackedAt >= windowStart && ackedAt < windowEnd) ackedInWindow += perSend
        if (phase.recordLatency && inWindow) latencies.record(ackedAt - sentAt)
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
          latenciesMs: latencies.toArray(),
          cpuPercent: cpuPercentSince(cpu, start),
          ackTimeline: timeline.toArray(),
          timelineBucketMs: timeline.bucketMs,
        })
      }
      waitForAcks()
    }, phase.warmupMs + phase.windowMs)
  })
}

/**
 * Open loop for offerMs: message k is due at k / rate seconds, sent on the
 * next open connection (round robin) below its in-flight cap, whatever the
 * acks do. Unacknowledged messages pile up in mqtt.js and in the socket
 * buffers as TCP pushes back, as they would on real devices. Then no new
 * messages; waits (at most drainTimeoutMs) until every message of the phase
 * is acknowledged or sits on a closed connection. Bounded in time:
 * offerMs + drainTimeoutMs plus the reconnects of closed connections.
 */
async function runOverload(phase: OverloadPhase): Promise<OverloadResult> {
  const reopened = await reopenClosed()
  const cpu = process.cpuUsage()
  const disconnectsBefore = disconnects
  const start = performance.now()
  const offerEnd = start + phase.offerMs
  const offerStartEpochMs = epochNow()
  const offerEndEpochMs = offerStartEpochMs + phase.offerMs
  const perConnection = connections.map((connection) => ({
    connection,
    firstReading: connection.nextReading,
    acked: new IndexRanges(),
    outstanding: 0,
  }))
  let due = 0
  let published = 0
  let acked = 0
  let ackedDuringOffer = 0
  let failed = 0
  let deferredAtCap = 0
  let behind = 0
  let skippedMemoryGuard = 0
  let skippedClosed = 0
  let lastAckEpochMs = NaN
  let guarded = false
  let peakRssBytes = 0
  let peakHeapUsedBytes = 0
  const samples: GeneratorSample[] = []

  const outstandingNow = () => perConnection.reduce((n, p) => n + p.outstanding, 0)
  const sample = () => {
    const memory = process.memoryUsage()
    guarded = memory.rss > phase.memoryGuardBytes
    peakRssBytes = Math.max(peakRssBytes, memory.rss)
    peakHeapUsedBytes = Math.max(peakHeapUsedBytes, memory.heapUsed)
    // Bounded: the phase is bounded in time, and so is this list (one entry per interval, at most 10,000).
    if (samples.length < 10_000) {
      samples.push({ atMs: performance.now() - start, published, acked, outstanding: outstandingNow(), rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, guarded })
    }
  }
  sample()
  const sampler = setInterval(sample, phase.sampleIntervalMs)

  const send = (p: (typeof perConnection)[number]) => {
    const first = p.connection.nextReading
    p.outstanding++
    published++
    publish(p.connection, phase.readingsPerMessage, (err) => {
      p.outstanding--
      if (err) {
        failed++
        return
      }
      acked++
      p.acked.add(first, phase.readingsPerMessage)
      const now = performance.now()
      if (now < offerEnd) ackedDuringOffer++
      lastAckEpochMs = performance.timeOrigin + now
    })
  }

  // A generator that falls behind catches up by at most 100 ms of messages
  // at once; what is further behind is counted, not sent in one burst.
  const maxBurst = Math.max(1, Math.ceil(phase.ratePerSecond / 10))
  let next = 0
  await new Promise<void>((resolve) => {
    const pacer = setInterval(() => {
      const now = performance.now()
      const target = Math.floor(((Math.min(now, offerEnd) - start) * phase.ratePerSecond) / 1000)
      if (target - due > maxBurst) {
        behind += target - due - maxBurst
        due = target - maxBurst
      }
      for (; due < target; due++) {
        if (guarded) {
          skippedMemoryGuard++
          continue
        }
        let tries = 0
        let open = 0
        while (tries < perConnection.length) {
          const c = perConnection[next]!.connection
          if (!c.closed) {
            open++
            if (c.inflight < phase.maxInflight) break
          }
          next = (next + 1) % perConnection.length
          tries++
        }
        if (tries === perConnection.length) {
          if (open === 0) skippedClosed++
          else deferredAtCap++
          continue
        }
        send(perConnection[next]!)
        next = (next + 1) % perConnection.length
      }
      if (now >= offerEnd) {
        clearInterval(pacer)
        resolve()
      }
    }, 1)
  })

  // Drain: nothing new; every message of the phase acknowledged, failed, or on a closed connection.
  const drainDeadline = performance.now() + phase.drainTimeoutMs
  const unackedOpen = () => perConnection.reduce((n, p) => n + (p.connection.closed ? 0 : p.outstanding), 0)
  while (unackedOpen() > 0 && performance.now() < drainDeadline) await sleep(10)
  clearInterval(sampler)
  sample()

  return {
    due,
    published,
    acked,
    ackedDuringOffer,
    failedMessages: failed,
    deferredAtCap,
    behind,
    skippedMemoryGuard,
    skippedClosed,
    offerStartEpochMs,
    offerEndEpochMs,
    lastAckEpochMs,
    drained: unackedOpen() === 0,
    unackedOpen: unackedOpen(),
    unackedClosed: perConnection.reduce((n, p) => n + (p.connection.closed ? p.outstanding : 0), 0),
    connectionsClosed: perConnection.filter((p) => p.connection.closed).length,
    reopened,
    disconnects: disconnects - disconnectsBefore,
    maxInflight: phase.maxInflight,
    cpuPercent: cpuPercentSince(cpu, start),
    peakRssBytes,
    peakHeapUsedBytes,
    connections: perConnection.map((p) => ({
      deviceId: p.connection.deviceId,
      firstReading: p.firstReading,
      nextReading: p.connection.nextReading,
      acked: p.acked.toArray(),
      outstanding: p.outstanding,
      closed: p.connection.closed,
    })),
    samples,
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function closeAll(): Promise<void> {
  await Promise.all(connections.map((c) => c.client.endAsync(true).catch(() => undefined)))
  connections = []
}

serveRequests({
  connect,
  prepare,
  count: async (body) => runCount(body as CountPhase),
  window: async (body) => runWindow(body as WindowPhase),
  overload: async (body) => runOverload(body as OverloadPhase),
  stop: closeAll,
}, closeAll)

/**
 * The alarm-latency probe, in its own process: a few device logins take
 * turns publishing readings that, per device, alternately cross a threshold
 * rule's raise and clear limits,
 * and one integration login subscribed to `alarms/events/#` receives the
 * alarm events. Both run here, so every latency is taken on one monotonic
 * clock: event receipt (or PUBACK) minus the moment the crossing reading was
 * handed to mqtt.js. Commands: `connect`, `run`, `stop`.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { serveRequests } from './ipc.ts'

export interface ProbeConnectRequest {
  port: number
  /**
   * The probe devices and their telemetry topics. They take turns, so one
   * device's crossings are devices x intervalMs apart: the service commits
   * batches on parallel writers, and two readings of one device committed
   * out of order reach the alarm engine out of order (the older is skipped).
   */
  devices: { id: string; topic: string }[]
  integrationId: string
  password: string
  timeoutMs: number
}

export interface ProbeRunRequest {
  /** The rule the probe crosses: only its events for the probe device count. */
  ruleId: string
  metric: string
  /** A value above the rule's raise limit, and one below its clear limit (a little jitter is added, so no value repeats for the stuck check). */
  raiseValue: number
  clearValue: number
  /** Crossings sent first and left out of the figures (the service's alarm path is JIT-cold). */
  warmupCrossings: number
  crossings: number
  /** One crossing is due every intervalMs, whatever the acknowledgements do. */
  intervalMs: number
  /** After the last crossing, how long to wait for its event and PUBACK. */
  settleTimeoutMs: number
}

/** One crossing reading; latencies in ms, null when the event or the PUBACK never came. */
export interface ProbeCrossing {
  index: number
  deviceId: string
  /** The transition the reading should cause. */
  expected: 'raised' | 'cleared'
  warmup: boolean
  /** Due time from the start of the run, and how late the publish was against it. */
  dueMs: number
  lateMs: number
  eventMs: number | null
  pubackMs: number | null
  failed: boolean
}

export interface ProbeRunResult {
  crossings: ProbeCrossing[]
  /** Alarm events that matched no crossing of this run (another subject or rule, or a second event for one crossing). */
  unexpectedEvents: number
  firstUnexpected: string[]
  /** Whether every crossing had its event and PUBACK before settleTimeoutMs ran out. */
  settled: boolean
}

interface Pending extends ProbeCrossing {
  sentAt: number
}

let probeDevices: { id: string; topic: string; client: MqttClient; crossings: number }[] = []
let integration: MqttClient | undefined
let target: ProbeConnectRequest | undefined
/** Crossings of the current run by `${device}:${reading ts}:${expected state}`: an alarm event carries the reading's ts as its time. */
const byKey = new Map<string, Pending>()
let watchedRule = ''
let unexpected = 0
const firstUnexpected: string[] = []
let lastTs = 0
let seq = 0

async function connect(body: unknown): Promise<void> {
  target = body as ProbeConnectRequest
  const login = (username: string) => mqtt.connectAsync({
    host: '127.0.0.1', port: target!.port, username, password: target!.password, protocolVersion: 4,
    clientId: `${username}-${process.pid}`, reconnectPeriod: 0, connectTimeout: target!.timeoutMs,
  })
  integration = await login(target.integrationId)
  integration.on('message', onAlarmEvent)
  const granted = await integration.subscribeAsync('alarms/events/#', { qos: 1 })
  if (granted.some((g) => g.qos === 128)) throw new Error(`the service refused ${target.integrationId}'s subscription to alarms/events/#`)
  for (const d of target.devices) probeDevices.push({ ...d, client: await login(d.id), crossings: 0 })
}

function onAlarmEvent(topic: string, payload: Buffer): void {
  const receivedAt = performance.now()
  let event: { ruleId?: string; subject?: string; state?: string; time?: number }
  try {
    event = JSON.parse(payload.toString()) as typeof event
  } catch {
    countUnexpected(`unparsable payload on ${topic}`)
    return
  }
  const crossing = event.ruleId === watchedRule ? byKey.get(`${event.subject}:${event.time}:${event.state}`) : undefined
  if (!crossing || crossing.eventMs !== null) {
    countUnexpected(`${topic} ${payload.toString().slice(0, 200)}`)
    return
  }
  crossing.eventMs = receivedAt - crossing.sentAt
}

function countUnexpected(what: string): void {
  unexpected++
  if (firstUnexpected.length < 5) firstUnexpected.push(what)
}

async function run(body: unknown): Promise<ProbeRunResult> {
  const request = body as ProbeRunRequest
  if (probeDevices.length === 0) throw new Error('alarm-probe: run before connect')
  byKey.clear()
  unexpected = 0
  firstUnexpected.length = 0
  watchedRule = request.ruleId
  const total = request.warmupCrossings + request.crossings
  const crossings: Pending[] = []
  const started = performance.now()
  for (let i = 0; i < total; i++) {
    const dueMs = i * request.intervalMs
    const wait = started + dueMs - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const device = probeDevices[i % probeDevices.length]!
    const expected = device.crossings++ % 2 === 0 ? 'raised' : 'cleared'
    // A wall-clock reading time, strictly increasing: it keys the event back to its crossing.
    const ts = Math.max(lastTs + 1, Date.now())
    lastTs = ts
    const value = (expected === 'raised' ? request.raiseValue : request.clearValue) + (i % 10) / 10
    const payload = `{"ts":${ts},"seq":${++seq},"values":{"${request.metric}":${value}}}`
    const sentAt = performance.now()
    const crossing: Pending = { index: i, deviceId: device.id, expected, warmup: i < request.warmupCrossings, dueMs, lateMs: sentAt - started - dueMs, eventMs: null, pubackMs: null, failed: false, sentAt }
    crossings.push(crossing)
    byKey.set(`${device.id}:${ts}:${expected}`, crossing)
    device.client.publish(device.topic, payload, { qos: 1 }, (err) => {
      if (err) crossing.failed = true
      else crossing.pubackMs = performance.now() - sentAt
    })
  }
  const done = () => crossings.every((c) => c.failed || (c.eventMs !== null && c.pubackMs !== null))
  const settleBy = performance.now() + request.settleTimeoutMs
  while (!done() && performance.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 20))
  // A late event for this run must not count against the next one.
  const settled = done()
  watchedRule = ''
  return {
    crossings: crossings.map(({ sentAt: _sentAt, ...c }) => ({ ...c })),
    unexpectedEvents: unexpected,
    firstUnexpected: [...firstUnexpected],
    settled,
  }
}

async function stop(): Promise<void> {
  await Promise.all([...probeDevices.map((d) => d.client), integration].map((c) => c?.endAsync(true).catch(() => undefined)))
}

serveRequests({ connect, run, stop }, stop)

/**
 * `mqtt-client`: gridline's mqtt_client source (MQTT 5, persistent sessions,
 * `mqttClientConnections` connections on a shared subscription, PUBACK after
 * the commit) against the naive subscriber of `peers` (acknowledges at once,
 * INSERTs row by row), each reading the same paced load from a private
 * Mosquitto of the bench's own (no queue limit, so nothing is dropped for a
 * slow subscriber), one after the other in the round (which goes first
 * alternates by round). Then the kill -9 check of each: a stream below
 * either's capacity, the subscriber's process killed with SIGKILL halfway and
 * started again at once; when the stream has ended and the count settled,
 * what was stored of what Mosquitto took, and how many rows twice. And, as
 * context, gridline's rate from a backlog: `mqttClientBacklog` messages
 * published into its sessions while it is stopped, then drained, so neither
 * the load generators nor their CPU set the figure.
 */
import type { BenchDatabase } from './database.ts'
import { LoadSet, Target, progress, sleep, sum } from './harness.ts'
import type { CountPhase, CountResult, WindowPhase, WindowResult } from './load-generator.ts'
import { startPrivateMosquitto } from './mosquitto.ts'
import { type Subscriber, startPeer, storedWindow } from './peers.ts'
import type { BacklogDrain, KillCheck, MqttClientResult, PeerResult, RunContext } from './results.ts'
import { devices } from './workload.ts'

type Who = KillCheck['subscriber']

/** What a check needs of a subscriber: measured, killed with SIGKILL, stopped. */
interface Running {
  subscriber: Subscriber
  startupMs: number
  kill9(): Promise<void>
  stop(): Promise<void>
}

/** A count that has not moved for this long, after the stream, is final (a subscriber that lost messages never reaches the published count). */
const SETTLE_QUIET_MS = 5_000
const SETTLE_TIMEOUT_MS = 60_000

export async function measureMqttClient(ctx: RunContext, db: BenchDatabase, round: number): Promise<MqttClientResult> {
  const s = ctx.settings
  // Client ids (at most 20 characters) unique per run and round: a session left on a broker is never taken over.
  const tag = `${process.pid % 100_000}r${round}`
  const start = (who: Who, port: number, prefix: string, clientId: string): Promise<Running> =>
    who === 'gridline' ? startSource(ctx, db, port, prefix, clientId, s.mqttClientConnections) : startNaive(ctx, db, port, prefix)

  const throughput = async (who: Who): Promise<PeerResult> => {
    progress(`round ${round}: mqtt-client: ${who === 'gridline' ? `gridline mqtt_client source, ${s.mqttClientConnections} connections` : 'naive subscriber'}, ${s.mqttClientRate} msg/s offered into a private Mosquitto`)
    return withMosquitto(async (port) => {
      await db.reset()
      const prefix = `gridline-bench/${ctx.runId}/mqtt-client-${who}/`
      const running = await start(who, port, prefix, `gbt${tag}`)
      try {
        return await storedWindow(ctx, db, who, port, prefix, s.mqttClientRate, running.subscriber, running.startupMs)
      } finally {
        await running.stop()
      }
    })
  }

  const killCheck = async (who: Who): Promise<KillCheck> => {
    progress(`round ${round}: mqtt-client: kill -9 of the ${who === 'gridline' ? 'gridline service' : 'naive subscriber'} mid-stream (${s.mqttClientKillRate} msg/s for ${s.mqttClientKillStreamMs / 1000} s)`)
    return withMosquitto(async (port) => {
      await db.reset()
      const prefix = `gridline-bench/${ctx.runId}/kill-${who}/`
      const clientId = `gbk${tag}`
      let running = await start(who, port, prefix, clientId)
      try {
        const load = await LoadSet.start(ctx, `load-kill-${who}`, port, devices(s.peerConnections), { topicPrefix: prefix })
        try {
          const phase: WindowPhase = {
            kind: 'window', readingsPerMessage: 1, maxInflight: 50, warmupMs: 0, windowMs: s.mqttClientKillStreamMs,
            ratePerSecond: s.mqttClientKillRate / Math.min(s.loadProcesses, s.peerConnections), recordLatency: false, drainTimeoutMs: 5_000,
          }
          const streaming = load.run<WindowResult>('window', phase, phase.windowMs + phase.drainTimeoutMs + 10_000)
          await sleep(phase.windowMs / 2)
          const storedAtKill = await db.countTelemetry()
          const killedAt = performance.now()
          await running.kill9()
          // The same client ids (gridline): its persistent sessions kept what it had not acknowledged.
          running = await start(who, port, prefix, clientId)
          const downMs = performance.now() - killedAt
          const published = sum((await streaming).map((r) => r.totalAcked))
          const settleMs = await settle(db, published)
          const { rows, distinct } = await db.countDistinctTelemetry()
          return { subscriber: who, published, storedAtKill, storedRows: rows, distinctRows: distinct, duplicates: rows - distinct, lost: published - distinct, downMs, settleMs }
        } finally {
          await load.stop()
        }
      } finally {
        await running.stop()
      }
    })
  }

  const backlog = async (): Promise<BacklogDrain> => {
    progress(`round ${round}: mqtt-client: gridline drains a backlog of ${s.mqttClientBacklog} messages from its sessions`)
    return withMosquitto(async (port) => {
      await db.reset()
      const prefix = `gridline-bench/${ctx.runId}/backlog/`
      const clientId = `gbd${tag}`
      // A first start leaves the persistent sessions and their subscriptions on the broker.
      await (await start('gridline', port, prefix, clientId)).stop()
      const load = await LoadSet.start(ctx, 'load-backlog', port, devices(s.peerConnections), { topicPrefix: prefix })
      let published: number
      try {
        const phase: CountPhase = { kind: 'count', readingsPerMessage: 1, messagesPerConnection: Math.ceil(s.mqttClientBacklog / s.peerConnections), maxInflight: 50, timeoutMs: s.countTimeoutMs }
        published = sum((await load.run<CountResult>('count', phase, phase.timeoutMs + 10_000)).map((r) => r.ackedMessages))
      } finally {
        await load.stop()
      }
      const running = await start('gridline', port, prefix, clientId)
      try {
        const counts: { atMs: number; total: number }[] = []
        const started = performance.now()
        // A longer quiet spell than the kill checks': a backlog stuck short of the end is a finding, not a pause to cut off.
        await settle(db, published, (total) => counts.push({ atMs: performance.now() - started, total }), s.countTimeoutMs, 15_000)
        // The steady part: from a tenth of the backlog stored to nine tenths.
        const from = counts.find((c) => c.total >= published * 0.1)
        const to = counts.find((c) => c.total >= published * 0.9)
        const storedPerSecond = from && to && to.atMs > from.atMs ? (to.total - from.total) / ((to.atMs - from.atMs) / 1000) : NaN
        return { published, stored: counts[counts.length - 1]?.total ?? 0, storedPerSecond }
      } finally {
        await running.stop()
      }
    })
  }

  const [first, second]: [Who, Who] = round % 2 === 1 ? ['gridline', 'naive-subscriber'] : ['naive-subscriber', 'gridline']
  const measured = new Map<Who, PeerResult>()
  measured.set(first, await throughput(first))
  measured.set(second, await throughput(second))
  const gridline = measured.get('gridline')!
  const naive = measured.get('naive-subscriber')!
  const drain = await backlog()
  const kill = { gridline: await killCheck('gridline'), naive: await killCheck('naive-subscriber') }
  return { connections: s.mqttClientConnections, gridline, naive, ratio: gridline.storedPerSecond / naive.storedPerSecond, backlog: drain, kill }
}

async function withMosquitto<T>(run: (port: number) => Promise<T>): Promise<T> {
  const broker = await startPrivateMosquitto()
  try {
    return await run(broker.port)
  } finally {
    await broker.stop()
  }
}

/** gridline with an mqtt_client source on `prefix`'s telemetry (the device id is the topic's last level), as docs/mqtt-client.md configures it. */
async function startSource(ctx: RunContext, db: BenchDatabase, port: number, prefix: string, clientId: string, connections: number): Promise<Running> {
  const started = performance.now()
  const target = await Target.start(ctx, 'gridline', db, {
    config: {
      sources: {
        upstream: {
          type: 'mqtt_client', url: `mqtt://127.0.0.1:${port}`, protocolVersion: 5, clientId, connections,
          ...(connections > 1 ? { shareGroup: clientId } : {}), sessionExpirySeconds: 3_600,
          subscriptions: [{ filter: `${prefix}telemetry/+/+`, device: { topicLevel: prefix.split('/').filter(Boolean).length + 2 } }],
        },
      },
    },
    // A restart after kill -9 must not wait for the dead process's processor lock.
    processors: { onSecondInstance: 'warn' },
  })
  const subscriber: Subscriber = {
    get exited() { return target.exited },
    sample: async () => {
      const x = await target.sampleOnce()
      return { rssBytes: x.rssBytes, cpuPercent: x.cpuPercent, received: NaN, errors: 0 }
    },
  }
  return { subscriber, startupMs: performance.now() - started, kill9: () => target.kill9(), stop: () => target.stop() }
}

async function startNaive(ctx: RunContext, db: BenchDatabase, port: number, prefix: string): Promise<Running> {
  const { peer, subscriber, startupMs } = await startPeer(ctx, db, 'naive-subscriber', port, `${prefix}telemetry/+/+`)
  return { subscriber, startupMs, kill9: () => peer.kill('SIGKILL'), stop: () => peer.stop(30_000) }
}

/** Waits until telemetry holds `published` rows, or its count has not moved for SETTLE_QUIET_MS; each count goes to `seen`; resolves with the wait. */
async function settle(db: BenchDatabase, published: number, seen: (total: number) => void = () => undefined, timeoutMs = SETTLE_TIMEOUT_MS, quietMs = SETTLE_QUIET_MS): Promise<number> {
  const started = performance.now()
  let last = -1
  let changedAt = started
  while (performance.now() - started < timeoutMs) {
    const n = await db.countTelemetry()
    seen(n)
    if (n >= published) break
    if (n !== last) {
      last = n
      changedAt = performance.now()
    } else if (performance.now() - changedAt > quietMs) break
    await sleep(100)
  }
  return performance.now() - started
}

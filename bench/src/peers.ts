/**
 * `peers`: gridline's end-to-end figure against what a user would otherwise
 * build on the same machine, load and table (see peer-process.ts). The load
 * generators publish into Mosquitto at a fixed rate (peerRate: the peers
 * store far less than gridline, so a closed loop through a broker that
 * acknowledges at once would only flood Mosquitto's queue); what counts is
 * rows stored per second inside the window, read from the database.
 */
import { ChildHandle } from './ipc.ts'
import { LoadSet, pollEvery, progress, sleep } from './harness.ts'
import type { BenchDatabase } from './database.ts'
import type { WindowPhase, WindowResult } from './load-generator.ts'
import type { PeerKind, PeerSample, PeerStartRequest } from './peer-process.ts'
import type { PeerResult, PeersResult, RunContext } from './results.ts'
import { devices } from './workload.ts'
import { ratesFromCumulative } from './series.ts'
import os from 'node:os'

export async function measurePeers(ctx: RunContext, db: BenchDatabase, round: number): Promise<PeersResult> {
  const naive = await measurePeer(ctx, db, round, 'naive-subscriber')
  const nodeRed = await measurePeer(ctx, db, round, 'node-red')
  return { naive, nodeRed }
}

/** A subscriber under measurement: a peer process, or gridline with its mqtt_client source (mqtt-client.ts). */
export interface Subscriber {
  readonly exited: boolean
  sample(): Promise<PeerSample>
}

/** A peer process subscribed to `topicFilter` on the Mosquitto at `port`; stop it with `stop`. */
export async function startPeer(ctx: RunContext, db: BenchDatabase, kind: PeerKind, port: number, topicFilter: string): Promise<{ peer: ChildHandle; subscriber: Subscriber; startupMs: number }> {
  const peer = ChildHandle.start(`peer-${kind}`, './peer-process.ts', [kind], ctx.log)
  try {
    const request: PeerStartRequest = { mosquittoPort: port, topicFilter, databaseUrl: db.url, scratchDir: os.tmpdir() }
    const { startupMs } = await peer.request<{ startupMs: number }>('start', request, 60_000)
    const subscriber: Subscriber = { get exited() { return peer.exited }, sample: () => peer.request<PeerSample>('sample', undefined, 10_000) }
    return { peer, subscriber, startupMs }
  } catch (err) {
    await peer.stop(5_000)
    throw err
  }
}

async function measurePeer(ctx: RunContext, db: BenchDatabase, round: number, kind: PeerKind): Promise<PeerResult> {
  const s = ctx.settings
  await db.reset()
  const prefix = `gridline-bench/${ctx.runId}/${kind}/`
  progress(`round ${round}: peers: ${kind} at ${s.peerRate} msg/s offered`)
  const { peer, subscriber, startupMs } = await startPeer(ctx, db, kind, s.mosquittoPort, `${prefix}telemetry/+/+`)
  try {
    return await storedWindow(ctx, db, kind, s.mosquittoPort, prefix, s.peerRate, subscriber, startupMs)
  } finally {
    await peer.stop(30_000)
  }
}

/**
 * peerConnections publish 1 reading per QoS 1 message under `prefix` into
 * the Mosquitto at `port`, paced at `rate` msg/s, for a warm-up and a
 * window; rows stored per second inside the window, read from the database.
 */
export async function storedWindow(ctx: RunContext, db: BenchDatabase, name: PeerResult['peer'], port: number, prefix: string, rate: number, subscriber: Subscriber, startupMs: number): Promise<PeerResult> {
  const s = ctx.settings
  const load = await LoadSet.start(ctx, `load-peer-${name}`, port, devices(s.peerConnections), { topicPrefix: prefix })
  try {
    const phase: WindowPhase = {
      kind: 'window', readingsPerMessage: 1, maxInflight: 50, warmupMs: s.peerWarmupMs, windowMs: s.peerWindowMs,
      ratePerSecond: rate / Math.min(s.loadProcesses, s.peerConnections), recordLatency: false, drainTimeoutMs: 2_000,
    }
    const counts: { atMs: number; total: number }[] = []
    const peerSamples: PeerSample[] = []
    const started = performance.now()
    const poller = pollEvery(500, () => !subscriber.exited, async () => {
      counts.push({ atMs: performance.now() - started, total: await db.countTelemetry() })
      peerSamples.push(await subscriber.sample())
    })
    const running = load.run<WindowResult>('window', phase, phase.warmupMs + phase.windowMs + phase.drainTimeoutMs + 10_000)
    // The window's edges read exactly, not from the poller's grid.
    await sleep(phase.warmupMs)
    const windowStart = { atMs: performance.now(), total: await db.countTelemetry() }
    await sleep(phase.windowMs)
    const windowEnd = { atMs: performance.now(), total: await db.countTelemetry() }
    let results: WindowResult[]
    try {
      results = await running
    } finally {
      await poller.stop()
    }
    const storedInWindow = windowEnd.total - windowStart.total
    const windowMs = windowEnd.atMs - windowStart.atMs
    const inWindow = peerSamples.slice(Math.max(1, Math.floor(phase.warmupMs / 500)))
    const errors = peerSamples[peerSamples.length - 1]?.errors ?? 0
    return {
      peer: name,
      offeredPerSecond: results.reduce((n, r) => n + r.publishedInWindow / (r.windowMs / 1000), 0),
      storedPerSecond: storedInWindow / (windowMs / 1000),
      storedInWindow,
      windowMs,
      storedTotal: await db.countTelemetry(),
      published: results.reduce((n, r) => n + r.totalPublished, 0),
      peerCpuPercent: inWindow.length > 0 ? inWindow.reduce((a, x) => a + x.cpuPercent, 0) / inWindow.length : NaN,
      peerRssPeakBytes: peerSamples.length > 0 ? Math.max(...peerSamples.map((x) => x.rssBytes)) : NaN,
      errors,
      startupMs,
      timeline: ratesFromCumulative(counts),
    }
  } finally {
    await load.stop()
  }
}

import { join } from 'node:path'
import type { Logger } from '@gridline/core'
import type { FastifyInstance } from 'fastify'
import type { EdgeConfig } from './config.ts'
import { buildHealthServer } from './health/http.ts'
import { EdgeCounters, createEdgeMetrics } from './metrics.ts'
import { DiskQueue, QueueFullError } from '@gridline/core'
import { type Reading, encodeQueuedReading, sequenceOfQueuedReading } from './reading.ts'
import { MqttLocalSource } from './sources/mqtt/mqtt-local-source.ts'
import { routeOpcuaLogs } from './sources/opcua/opcua-logs.ts'
import { OpcuaSource } from './sources/opcua/opcua-source.ts'
import type { ReadingSink, Source } from './sources/source.ts'
import { Uplink } from './uplink/uplink.ts'

export interface EdgeAgent {
  /** Opens the queue, starts the HTTP server, the uplink and the sources; resolves with the HTTP port. */
  start(): Promise<{ httpPort: number }>
  /** Stops the sources, then the uplink, then closes the queue (nothing accepted is lost). */
  stop(): Promise<void>
  /** Accepts one reading into the disk queue (what the sources call). */
  accept(reading: Reading): Promise<void>
  health(): EdgeHealth
  readonly counters: EdgeCounters
}

export interface EdgeHealth {
  status: 'ok' | 'degraded'
  uplink: { connected: boolean; draining: boolean; batchesInFlight: number; lastError?: string }
  queue: { readings: number; bytes: number; oldestUnsentAgeSeconds: number; dropped: Record<string, number>; corruptAtStart: number }
  sendRatePerSec: number
  totals: { accepted: number; sentLive: number; sentBackfill: number; batchesAcked: number }
  process: { rssBytes: number; cpuUserMs: number; cpuSystemMs: number }
  sources: Record<string, Record<string, unknown>>
}

function cpu(): { user: number; system: number } {
  const usage = process.cpuUsage()
  return { user: usage.user / 1000, system: usage.system / 1000 }
}

/** Builds the agent from its config, un-started: the composition root. */
export function buildEdgeAgent(config: EdgeConfig, logger: Logger): EdgeAgent {
  const counters = new EdgeCounters()
  routeOpcuaLogs(logger.child({ component: 'opcua' }))
  let queue: DiskQueue | undefined
  let uplink: Uplink | undefined
  let http: FastifyInstance | undefined
  const sources: Source[] = []
  const rate = { at: Date.now(), sent: 0, perSec: 0 }
  /** A figure per OPC-UA server, keyed by its configured name (the metrics' `server` label). */
  const perOpcuaServer = (figure: (source: OpcuaSource) => number) =>
    Object.fromEntries(sources.filter((s) => s instanceof OpcuaSource).map((s) => [s.serverName, figure(s)]))

  const sink: ReadingSink = {
    accept(reading) {
      return agent.accept(reading).catch(() => undefined)
    },
    sourceError(reason) {
      counters.sourceError(reason)
    },
  }

  const agent: EdgeAgent = {
    counters,
    async start() {
      queue = await DiskQueue.open({
        dir: join(config.dataDir, 'queue'),
        ...config.queue,
        sequenceOf: sequenceOfQueuedReading,
        logger: logger.child({ component: 'queue' }),
      })
      const q = queue
      q.on('dropped', (reason, count) => {
        if (reason === 'queue_full') logger.debug({ reason, count }, 'Readings were dropped from the disk queue.')
      })
      uplink = new Uplink(q, { gatewayId: config.gateway.id, ...config.uplink }, counters, logger.child({ component: 'uplink' }))
      for (const server of config.opcua) sources.push(new OpcuaSource(server, config.dataDir, sink, logger.child({ component: 'opcua', server: server.name })))
      for (const local of config.mqtt) sources.push(new MqttLocalSource(local, sink, logger.child({ component: 'mqtt-local', source: local.name })))
      const registry = createEdgeMetrics({
        counters,
        queue: () => q.stats(),
        uplinkConnected: () => uplink?.isConnected ?? false,
        batchesInFlight: () => uplink?.batchesInFlight ?? 0,
        opcuaSessions: () => perOpcuaServer((s) => (s.isUp ? 1 : 0)),
        opcuaRebuilds: () => perOpcuaServer((s) => s.rebuilds),
        opcuaWatchdogTimeouts: () => perOpcuaServer((s) => s.watchdogTimeouts),
      })
      http = buildHealthServer(registry, () => agent.health())
      await http.listen({ host: config.http.host, port: config.http.port })
      const address = http.server.address()
      const httpPort = typeof address === 'object' && address ? address.port : config.http.port
      uplink.start()
      for (const source of sources) await source.start()
      logger.info({ httpPort, gateway: config.gateway.id, sources: sources.map((s) => s.name) }, 'The edge agent is running.')
      return { httpPort }
    },

    async stop() {
      for (const source of sources.splice(0)) await source.stop().catch((err) => logger.warn({ err, source: source.name }, 'A source did not stop cleanly.'))
      await uplink?.stop()
      await queue?.close()
      await http?.close()
      logger.info('The edge agent has stopped.')
    },

    async accept(reading) {
      if (!queue) throw new Error('The edge agent is not started.')
      const seq = queue.nextSeq(reading.device)
      try {
        await queue.append(encodeQueuedReading(reading, seq))
        counters.accepted += 1
      } catch (err) {
        // Counted by the queue (queue_full, disk_error); a source has nobody to tell.
        if (!(err instanceof QueueFullError)) logger.debug({ err }, 'A reading was not accepted.')
        throw err
      }
    },

    health() {
      const stats = queue?.stats()
      const now = Date.now()
      const sent = counters.sentLive + counters.sentBackfill
      if (now - rate.at >= 1000) {
        rate.perSec = ((sent - rate.sent) * 1000) / (now - rate.at)
        rate.at = now
        rate.sent = sent
      }
      const connected = uplink?.isConnected ?? false
      const sourceHealth = Object.fromEntries(sources.map((s) => [s.name, s.health()]))
      const sourcesUp = Object.values(sourceHealth).every((h) => h.up !== false)
      return {
        status: connected && sourcesUp ? 'ok' : 'degraded',
        uplink: {
          connected, draining: uplink?.draining ?? false, batchesInFlight: uplink?.batchesInFlight ?? 0,
          ...(uplink?.lastError ? { lastError: uplink.lastError } : {}),
        },
        queue: {
          readings: stats?.depthReadings ?? 0,
          bytes: stats?.diskBytes ?? 0,
          oldestUnsentAgeSeconds: stats?.oldestUnsentAcceptedAt === undefined ? 0 : Math.max(0, (now - stats.oldestUnsentAcceptedAt) / 1000),
          dropped: stats?.dropped ?? {},
          corruptAtStart: stats?.corruptAtStart ?? 0,
        },
        sendRatePerSec: Math.round(rate.perSec),
        totals: { accepted: counters.accepted, sentLive: counters.sentLive, sentBackfill: counters.sentBackfill, batchesAcked: counters.batchesAcked },
        process: { rssBytes: process.memoryUsage.rss(), cpuUserMs: cpu().user, cpuSystemMs: cpu().system },
        sources: sourceHealth,
      }
    },
  }
  return agent
}

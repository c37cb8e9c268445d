import Fastify, { type FastifyInstance } from 'fastify'
import type { IngestMetrics } from './metrics.ts'

export interface HealthProbe {
  /** Broker listening and database reachable. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>
}

/**
 * The service's HTTP surface: `/healthz` (alive), `/readyz` (ready for
 * traffic), `/metrics` (Prometheus text); `extend` adds the operator console
 * (its API, live stream, web app and Node-RED).
 */
export function buildHttpServer(metrics: IngestMetrics, probe: HealthProbe, extend?: (app: FastifyInstance) => void): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576 })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const { ready, checks } = await probe.ready()
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics()
    return reply.header('content-type', metrics.registry.contentType).send(text)
  })
  extend?.(app)
  return app
}

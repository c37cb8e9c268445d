import Fastify, { type FastifyInstance } from 'fastify'
import type { IngestMetrics } from './metrics.ts'

export interface HealthProbe {
  /** Broker listening and database reachable. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>
}

/**
 * The service's HTTP surface: `/healthz` (alive), `/readyz` (ready for
 * traffic), `/metrics` (Prometheus text). Later issues add the API and the
 * dashboards here.
 */
export function buildHttpServer(metrics: IngestMetrics, probe: HealthProbe): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const { ready, checks } = await probe.ready()
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics()
    return reply.header('content-type', metrics.registry.contentType).send(text)
  })
  return app
}

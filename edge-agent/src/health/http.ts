import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'

/**
 * The agent's local HTTP surface: `/healthz` (JSON state; 200 when the
 * uplink and every source are up, 503 while degraded: the agent still
 * accepts and queues readings then) and `/metrics` (Prometheus text).
 */
export function buildHealthServer(registry: Registry, health: () => { status: 'ok' | 'degraded' }): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/healthz', async (_req, reply) => {
    const state = health()
    return reply.code(state.status === 'ok' ? 200 : 503).send(state)
  })
  app.get('/metrics', async (_req, reply) => {
    const text = await registry.metrics()
    return reply.header('content-type', registry.contentType).send(text)
  })
  return app
}

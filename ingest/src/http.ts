import Fastify, { type FastifyInstance } from 'fastify'
import { type HttpGuardOptions, registerHttpGuards } from './http-guards.ts'
import type { IngestMetrics } from './metrics.ts'

export interface HealthProbe {
  /** Broker listening and database reachable. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean | Record<string, boolean>> }>
}

export interface HttpServerOptions extends HttpGuardOptions {
  /** The whole request (headers and body) must arrive within this; a trickled body is cut. */
  requestTimeoutMs?: number
  /** The request's headers must arrive within this. */
  headersTimeoutMs?: number
  /** A connection with no traffic either way is closed after this (the live stream sends a heartbeat every 15 s). */
  idleTimeoutMs?: number
  /** How often Node checks requests against the two timeouts above (Node's default is 30 s). */
  timeoutCheckIntervalMs?: number
}

export const HTTP_DEFAULTS = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, idleTimeoutMs: 120_000 } as const
/** Request bodies (the console's JSON) larger than this are refused with 413; Node-RED reads its own (deploys up to 5 MB). */
export const HTTP_BODY_LIMIT_BYTES = 1_048_576

/**
 * The service's HTTP surface: `/healthz` (alive), `/readyz` (ready for
 * traffic), `/metrics` (Prometheus text); `extend` adds the operator console
 * (its API, live stream, web app and Node-RED). Every response carries the
 * security headers and every state-changing request must pass the Origin
 * check (http-guards.ts).
 */
export function buildHttpServer(metrics: IngestMetrics, probe: HealthProbe, extend?: (app: FastifyInstance) => void, options: HttpServerOptions = {}): FastifyInstance {
  const requestTimeoutMs = options.requestTimeoutMs ?? HTTP_DEFAULTS.requestTimeoutMs
  // Node requires headersTimeout <= requestTimeout.
  const headersTimeoutMs = Math.min(options.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs, requestTimeoutMs)
  const app = Fastify({
    logger: false,
    bodyLimit: HTTP_BODY_LIMIT_BYTES,
    requestTimeout: requestTimeoutMs,
    connectionTimeout: options.idleTimeoutMs ?? HTTP_DEFAULTS.idleTimeoutMs,
    http: { headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: options.timeoutCheckIntervalMs ?? Math.min(1_000, requestTimeoutMs) },
  })
  app.server.headersTimeout = headersTimeoutMs
  registerHttpGuards(app, options)
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

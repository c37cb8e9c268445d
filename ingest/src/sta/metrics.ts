import { Counter, Histogram, type Registry } from 'prom-client'

/** Why a request was refused, from its status (routes.ts answers each case with one status). */
export type StaRefusal = 'bad_query' | 'unauthorized' | 'not_found' | 'rate_limited' | 'timeout'

const REFUSALS: Record<number, StaRefusal> = { 400: 'bad_query', 401: 'unauthorized', 404: 'not_found', 429: 'rate_limited', 503: 'timeout' }

export function refusalOf(status: number): StaRefusal | undefined {
  return REFUSALS[status]
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`
}

/** A page of 1,000 Datastreams with their latest Observation is tens of milliseconds; a query at statement_timeout is 5 s. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The SensorThings API's Prometheus metrics (docs/sensorthings.md#metrics,
 * docs/operations.md#metrics), bumped once per request after its answer is
 * sent. Without a registry they are kept but exported nowhere (tests, tools).
 */
export function createStaMetrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : []
  const requests = new Counter({
    name: 'gridline_sta_requests_total',
    help: 'SensorThings API GET requests answered, by entity set (the one the path names last; landing, other) and status class (2xx, 4xx, 5xx).',
    labelNames: ['entity_set', 'status_class'] as const, registers,
  })
  const seconds = new Histogram({
    name: 'gridline_sta_request_duration_seconds',
    help: 'Time from a SensorThings request received to its answer sent, by entity set.',
    labelNames: ['entity_set'] as const, buckets: DURATION_BUCKETS, registers,
  })
  const rows = new Counter({
    name: 'gridline_sta_rows_returned_total',
    help: 'Entities in SensorThings answers (the page\'s and the expanded ones; dataArray rows), by the entity set asked for.',
    labelNames: ['entity_set'] as const, registers,
  })
  const refused = new Counter({
    name: 'gridline_sta_refused_total',
    help: 'SensorThings requests refused, by reason: bad_query (400), unauthorized (401), not_found (404), rate_limited (429), timeout (503).',
    labelNames: ['reason'] as const, registers,
  })
  // Every reason exists from the start, so a rate() over a fresh process is 0 rather than absent.
  for (const reason of Object.values(REFUSALS)) refused.inc({ reason }, 0)
  return { requests, seconds, rows, refused }
}

export type StaMetrics = ReturnType<typeof createStaMetrics>

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Counts bumped per reading, kept as plain numbers on the hot path and
 * copied into Prometheus counters when /metrics is read.
 */
export class EdgeCounters {
  accepted = 0
  sentLive = 0
  sentBackfill = 0
  batchesAcked = 0
  /** Readings a source could not turn into a reading (bad payload, unmapped topic), by reason. */
  readonly sourceErrors = new Map<string, number>()

  sourceError(reason: string): void {
    this.sourceErrors.set(reason, (this.sourceErrors.get(reason) ?? 0) + 1)
  }
}

/** What the metrics read at collection time. */
export interface EdgeMetricSources {
  counters: EdgeCounters
  queue(): { depthReadings: number; diskBytes: number; oldestUnsentAcceptedAt: number | undefined; dropped: Record<string, number> }
  uplinkConnected(): boolean
  batchesInFlight(): number
  /** 1 when the server's session and subscription are up, per configured server name. */
  opcuaSessions(): Record<string, number>
  opcuaRebuilds(): Record<string, number>
  opcuaWatchdogTimeouts(): Record<string, number>
}

function mirrored(name: string, help: string, registry: Registry, read: () => number, labels: Record<string, string> = {}): Counter {
  let reported = 0
  return new Counter({
    name, help, registers: [registry], labelNames: Object.keys(labels),
    collect() {
      const now = read()
      if (now > reported) this.inc(labels, now - reported)
      reported = now
    },
  })
}

/** Every metric the edge agent exports on /metrics (docs/edge-agent.md#metrics). */
export function createEdgeMetrics(sources: EdgeMetricSources): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gridline_edge_' })
  const r = [registry]
  const { counters } = sources
  mirrored('gridline_edge_readings_accepted_total', 'Readings accepted into the disk queue (fsynced).', registry, () => counters.accepted)
  const sent = new Counter({ name: 'gridline_edge_readings_sent_total', help: 'Readings delivered upstream (PUBACK received), by kind: live or backfill.', labelNames: ['kind'] as const, registers: r,
    collect() {
      this.reset()
      this.inc({ kind: 'live' }, counters.sentLive)
      this.inc({ kind: 'backfill' }, counters.sentBackfill)
    } })
  void sent
  mirrored('gridline_edge_batches_acked_total', 'Gateway batches acknowledged by the ingest service.', registry, () => counters.batchesAcked)
  new Counter({ name: 'gridline_edge_readings_dropped_total', help: 'Readings accepted but never delivered, by reason (queue_full, expired, corrupt, disk_error).', labelNames: ['reason'] as const, registers: r,
    collect() {
      this.reset()
      for (const [reason, n] of Object.entries(sources.queue().dropped)) this.inc({ reason }, n)
    } })
  new Counter({ name: 'gridline_edge_source_errors_total', help: 'Southbound data that could not become a reading, by reason.', labelNames: ['reason'] as const, registers: r,
    collect() {
      this.reset()
      for (const [reason, n] of counters.sourceErrors) this.inc({ reason }, n)
    } })
  new Gauge({ name: 'gridline_edge_queue_readings', help: 'Readings in the disk queue waiting for delivery.', registers: r, collect() { this.set(sources.queue().depthReadings) } })
  new Gauge({ name: 'gridline_edge_queue_bytes', help: 'Bytes of the disk queue segment files.', registers: r, collect() { this.set(sources.queue().diskBytes) } })
  new Gauge({ name: 'gridline_edge_queue_oldest_unsent_age_seconds', help: 'Age of the oldest undelivered reading (to one segment), 0 when the queue is empty.', registers: r,
    collect() {
      const oldest = sources.queue().oldestUnsentAcceptedAt
      this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000))
    } })
  new Gauge({ name: 'gridline_edge_uplink_connected', help: '1 while the uplink to the ingest service is connected.', registers: r, collect() { this.set(sources.uplinkConnected() ? 1 : 0) } })
  new Gauge({ name: 'gridline_edge_uplink_batches_in_flight', help: 'Batches published and not yet acknowledged.', registers: r, collect() { this.set(sources.batchesInFlight()) } })
  new Gauge({ name: 'gridline_edge_opcua_session_up', help: '1 while the OPC-UA session and subscription to a server are up.', labelNames: ['server'] as const, registers: r,
    collect() {
      this.reset()
      for (const [server, up] of Object.entries(sources.opcuaSessions())) this.set({ server }, up)
    } })
  new Counter({ name: 'gridline_edge_opcua_rebuilds_total', help: 'Times the OPC-UA session and subscriptions to a server were rebuilt (connection lost, watchdog).', labelNames: ['server'] as const, registers: r,
    collect() {
      this.reset()
      for (const [server, n] of Object.entries(sources.opcuaRebuilds())) this.inc({ server }, n)
    } })
  new Counter({ name: 'gridline_edge_opcua_watchdog_timeouts_total', help: 'Rebuilds started by the watchdog: a subscription delivered neither data nor a keep-alive for watchdogMs.', labelNames: ['server'] as const, registers: r,
    collect() {
      this.reset()
      for (const [server, n] of Object.entries(sources.opcuaWatchdogTimeouts())) this.inc({ server }, n)
    } })
  return registry
}

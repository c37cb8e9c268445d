import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Counts bumped once or more per message. Plain numbers on the hot path;
 * copied into the Prometheus counters when /metrics is read, which saves
 * prom-client's per-call work tens of thousands of times a second.
 */
export class HotCounters {
  deviceMessages = 0
  gatewayMessages = 0
  readingsReceived = 0
  messagesAcked = 0
}

/**
 * A metric registered once per registry: the first component that needs it
 * makes it, the others (two http sources, two buffered sinks) share it and
 * tell themselves apart by their component_id label.
 */
export function sharedMetric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make()
}

/** A counter whose value is taken from `read()` at collection time. */
export function mirroredCounter(name: string, help: string, registry: Registry, read: () => number): Counter {
  let reported = 0
  return new Counter({
    name, help, registers: [registry],
    collect() {
      const now = read()
      if (now > reported) this.inc(now - reported)
      reported = now
    },
  })
}

/** A counter per label value, each taken from `read()` (label value -> count) at collection time. */
export function mirroredLabelledCounter<L extends string>(name: string, help: string, label: L, registry: Registry, read: () => Readonly<Record<string, number>>): Counter<L> {
  const reported = new Map<string, number>()
  return new Counter<L>({
    name, help, labelNames: [label], registers: [registry],
    collect() {
      for (const [value, now] of Object.entries(read())) {
        const before = reported.get(value) ?? 0
        if (now > before) this.inc({ [label]: value } as Partial<Record<L, string>>, now - before)
        reported.set(value, now)
      }
    },
  })
}

/**
 * Per-component counts, labelled by the component's id in the config
 * (`sources.<id>`, `sinks.<id>`) and its type, as Vector labels its
 * `component_*` metrics. Sources' counts are plain numbers on the hot path,
 * copied at collection like HotCounters.
 */
export class ComponentMetrics {
  private readonly sources = new Map<string, { type: string; messages: number; readings: number; reported: { messages: number; readings: number } }>()
  readonly receivedMessages: Counter<'component_id' | 'component_type'>
  readonly receivedReadings: Counter<'component_id' | 'component_type'>
  readonly sentRows: Counter<'component_id' | 'component_type'>
  readonly writeSeconds: Histogram<'component_id' | 'component_type'>
  readonly errors: Counter<'component_id' | 'component_type'>
  readonly refused: Counter<'component_id' | 'component_type'>
  readonly dropped: Counter<'component_id' | 'component_type' | 'reason'>
  readonly bufferRows: Gauge<'component_id' | 'component_type'>

  constructor(registry: Registry) {
    const r = [registry]
    const sources = this.sources
    const labels = ['component_id', 'component_type'] as const
    // Copies one of the sources' hot counts into its Prometheus counter at collection.
    const mirrored = (name: string, help: string, count: 'messages' | 'readings') => new Counter({
      name, help, labelNames: labels, registers: r,
      collect() {
        for (const [id, s] of sources) {
          this.labels(id, s.type).inc(s[count] - s.reported[count])
          s.reported[count] = s[count]
        }
      },
    })
    this.receivedMessages = mirrored('gridline_component_received_messages_total', 'Telemetry messages a source handed to the intake, by source.', 'messages')
    this.receivedReadings = mirrored('gridline_component_received_readings_total', 'Readings decoded without error, by source.', 'readings')
    this.sentRows = new Counter({ name: 'gridline_component_sent_rows_total', help: 'Telemetry rows a sink wrote (new and duplicate), by sink.', labelNames: labels, registers: r })
    this.writeSeconds = new Histogram({ name: 'gridline_component_write_seconds', help: 'Time a sink took to write one batch, by sink.', labelNames: labels, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r })
    this.errors = new Counter({ name: 'gridline_component_errors_total', help: 'Failed batch writes (retried), by sink.', labelNames: labels, registers: r })
    this.refused = new Counter({ name: 'gridline_component_refused_messages_total', help: 'Messages a secondary sink refused and kept nowhere, by sink.', labelNames: labels, registers: r })
    this.dropped = new Counter({ name: 'gridline_component_dropped_rows_total', help: 'Rows a secondary sink did not write, by sink and reason (buffer_full, refused, shutdown).', labelNames: [...labels, 'reason'] as const, registers: r })
    this.bufferRows = new Gauge({ name: 'gridline_component_buffer_rows', help: 'Rows waiting in a secondary sink\'s buffer, by sink.', labelNames: labels, registers: r })
  }

  /** Declares a source, so its counters show (at 0) before its first message. */
  source(id: string, type: string): void {
    if (!this.sources.has(id)) this.sources.set(id, { type, messages: 0, readings: 0, reported: { messages: 0, readings: 0 } })
  }

  /** Hot path: one telemetry message and its readings from a source (undeclared sources are not counted). */
  received(id: string | undefined, readings: number): void {
    const s = id === undefined ? undefined : this.sources.get(id)
    if (!s) return
    s.messages++
    s.readings += readings
  }
}

/** Waits inside the pipeline: sub-millisecond to seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** Every metric the ingest service exports on /metrics (docs/operations.md#metrics). */

export function createIngestMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gridline_' })
  const r = [registry]
  const hot = new HotCounters()
  const reportedMessages = { device: 0, gateway: 0 }
  return {
    registry,
    hot,
    components: new ComponentMetrics(registry),
    messagesReceived: new Counter({
      name: 'gridline_ingest_messages_received_total', help: 'MQTT PUBLISH packets taken in by the pipeline.', labelNames: ['kind'] as const, registers: r,
      collect() {
        this.labels('device').inc(hot.deviceMessages - reportedMessages.device)
        this.labels('gateway').inc(hot.gatewayMessages - reportedMessages.gateway)
        reportedMessages.device = hot.deviceMessages
        reportedMessages.gateway = hot.gatewayMessages
      },
    }),
    readingsReceived: mirroredCounter('gridline_ingest_readings_received_total', 'Readings decoded without error (a reading is one ts with its values).', registry, () => hot.readingsReceived),
    readingsStored: new Counter({ name: 'gridline_ingest_readings_stored_total', help: 'Readings whose rows are committed.', registers: r }),
    rowsStored: new Counter({ name: 'gridline_ingest_rows_stored_total', help: 'Telemetry rows (one per reading and metric) newly committed.', registers: r }),
    rowsDuplicate: new Counter({ name: 'gridline_ingest_rows_duplicate_total', help: 'Telemetry rows already stored (same device, metric, time), skipped.', registers: r }),
    rejected: new Counter({ name: 'gridline_ingest_rejected_total', help: 'Messages, readings or values committed to the rejected table, by reason.', labelNames: ['reason'] as const, registers: r }),
    rejectedUnkept: new Counter({ name: 'gridline_ingest_rejected_unkept_total', help: 'Refusals (messages, readings or values) counted but not kept in the rejected table because their sender was over ingest.rejectedPerDevicePerSecond, by reason.', labelNames: ['reason'] as const, registers: r }),
    rejectedMessagesUnkept: new Counter({ name: 'gridline_ingest_rejected_messages_unkept_total', help: 'Messages whose refusals were not kept as a rejected row (sender over ingest.rejectedPerDevicePerSecond); its next kept row counts them.', registers: r }),
    unknownMetricRows: new Counter({ name: 'gridline_ingest_unknown_metric_rows_total', help: 'Rows stored whose metric is not in the catalogue.', registers: r }),
    outOfRangeRows: new Counter({ name: 'gridline_ingest_out_of_range_rows_total', help: 'Rows stored with quality 1 (outside the plausible range).', registers: r }),
    messagesAcked: mirroredCounter('gridline_ingest_messages_acked_total', 'QoS 1 and 2 messages acknowledged (PUBACK or PUBREC released) after their commit.', registry, () => hot.messagesAcked),
    batches: new Histogram({ name: 'gridline_ingest_batch_rows', help: 'Rows per committed batch.', buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000], registers: r }),
    commitSeconds: new Histogram({ name: 'gridline_ingest_commit_seconds', help: 'Time to write and commit one batch.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r }),
    batchLingerSeconds: new Histogram({ name: 'gridline_ingest_batch_linger_seconds', help: 'Group-commit wait per batch: from its oldest message received to the batch closed (full, or ingest.flushIntervalMs passed and a writer free).', buckets: LATENCY_BUCKETS, registers: r }),
    batchQueueSeconds: new Histogram({ name: 'gridline_ingest_batch_queue_seconds', help: 'Queue wait per batch: from closed (full) to its first write attempt, while every writer was busy.', buckets: LATENCY_BUCKETS, registers: r }),
    writeRetries: new Counter({ name: 'gridline_ingest_write_retries_total', help: 'Batch writes retried after a database or connection error.', registers: r }),
    pendingRows: new Gauge({ name: 'gridline_ingest_pending_rows', help: 'Rows decoded and not yet committed.', registers: r }),
    backpressure: new Gauge({ name: 'gridline_ingest_backpressure', help: '1 while intake is held back (database slow or down, pending rows over the limit).', registers: r }),
    connectedClients: new Gauge({ name: 'gridline_ingest_connected_clients', help: 'MQTT clients connected now.', registers: r }),
    authFailures: new Counter({ name: 'gridline_ingest_auth_failures_total', help: 'Connections refused at CONNECT, by reason.', labelNames: ['reason'] as const, registers: r }),
    tlsRefused: new Counter({ name: 'gridline_ingest_tls_refused_total', help: 'TLS connections closed before MQTT, by reason: tls_handshake (failed handshake), bad_certificate (a client certificate that did not verify: another CA, expired).', labelNames: ['reason'] as const, registers: r }),
    tlsReloads: new Counter({ name: 'gridline_ingest_tls_reloads_total', help: 'Reloads of the MQTT TLS certificate, key and CA after they changed on disk, by result (ok, failed: the previous ones are kept).', labelNames: ['result'] as const, registers: r }),
    authThrottled: new Counter({ name: 'gridline_ingest_auth_throttled_total', help: 'Logins refused without checking the password because recent failures throttle them, by scope (device_address, address, device).', labelNames: ['scope'] as const, registers: r }),
    clientIdRejected: new Counter({ name: 'gridline_ingest_client_id_rejected_total', help: 'Logins refused with CONNACK 2 (identifier rejected), by reason (in_use, session_held, empty_persistent).', labelNames: ['reason'] as const, registers: r }),
    connectionsClosed: new Counter({ name: 'gridline_ingest_connections_closed_total', help: 'Connections closed before or instead of being served: oversized or late CONNECT, too many pending from one address, protocol violations; by reason.', labelNames: ['reason'] as const, registers: r }),
    oversizedPackets: new Counter({ name: 'gridline_ingest_oversized_packets_total', help: 'Connections closed because a packet announced more than the largest allowed size.', registers: r }),
    shedConnections: new Counter({ name: 'gridline_ingest_shed_total', help: 'Publishes refused unacknowledged (connection closed) because pending rows passed ingest.shedAtPendingRows.', registers: r }),
    statusReports: new Counter({ name: 'gridline_ingest_status_reports_total', help: 'Valid device status reports (status topics and wills), by state.', labelNames: ['state'] as const, registers: r }),
    subscribeDenied: new Counter({ name: 'gridline_ingest_subscribe_denied_total', help: 'SUBSCRIBE requests refused by authorization.', registers: r }),
    seqMissing: new Gauge({ name: 'gridline_ingest_seq_missing_readings', help: 'Readings missing according to per-device seq gaps since start.', registers: r }),
    seqRegressions: new Gauge({ name: 'gridline_ingest_seq_regressions', help: 'Readings whose seq was not above the device\'s last one since start (resends, restarts).', registers: r }),
  }
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>

import type { Envelope } from './envelope.ts'

/** What a sink did with one batch. */
export interface SinkWriteResult {
  /** Telemetry rows that are new in the store. */
  inserted: number
  /** Telemetry rows already stored (same device, metric and time, and the same value or seq): redeliveries and resends. */
  duplicates: number
  /** Rows kept as dead letters, by reason: the messages' own rejections and the rows the store refused. */
  rejected: Map<string, number>
  /**
   * Envelopes the store refused for their data and that the sink kept whole
   * as dead letters (`storage_rejected`); they are settled `rejected`.
   */
  deadLettered: Envelope[]
  /**
   * Envelopes refused and kept nowhere by this sink. Only a secondary sink
   * (one that holds no acknowledgement) may answer so; the runtime counts
   * them by sink (`gridline_sink_refused_total`). A primary sink must
   * dead-letter instead: an acknowledged message is never silently lost.
   */
  refused?: Envelope[]
  /**
   * Rows a secondary sink's store refused for good (an InfluxDB partial
   * write says how many it dropped, not which): counted as dropped, reason
   * refused. When absent, the rows of `refused` are.
   */
  refusedRows?: number
}

/**
 * Where committed data goes: a database, a second store, a bus.
 *
 * Lifecycle: `start` once, before the first write; then `write` any number of
 * times, up to the runtime's `writers` at once (each call gets its own
 * batch); `close` once, after the runtime drained, never concurrent with a
 * write. `healthcheck` may be called at any time.
 *
 * A sink stays small: the runtime owns batching, retries, ordering and
 * acknowledgements (Telegraf's `models/running_output.go`). `write` writes
 * the batch now, in one transaction where the store has them, and resolves
 * only when it is durable; or it throws, and the runtime retries the same
 * batch with capped backoff. It must be idempotent for a batch written again
 * after a failure that left the outcome unknown (rows already stored are
 * counted as duplicates, not stored twice).
 *
 * Every sink runs the conformance suite in `ingest/src/sinks/conformance.ts`.
 */
export interface Sink {
  /** The sink's id in the config's `sinks` map; the `component` label of its metrics. */
  readonly id: string
  /** Its plugin type (`timescale`, `influxdb`). */
  readonly type: string
  start?(): Promise<void>
  write(batch: readonly Envelope[]): Promise<SinkWriteResult>
  /** True when the store answers now (the readiness probe). */
  healthcheck(): Promise<boolean>
  close(): Promise<void>
}

/** An empty result to fill in. */
export const emptyWriteResult = (): SinkWriteResult => ({ inserted: 0, duplicates: 0, rejected: new Map(), deadLettered: [] })

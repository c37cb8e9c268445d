import { DiskQueue, type Envelope, type Logger, type QueueCursor, type QueuedRecord, Rows, type Sink, type SinkWriteResult } from '@gridline/core'
import { Gauge } from 'prom-client'
import { type IngestMetrics, sharedMetric } from '../metrics.ts'
import { writeUntilTaken } from './secondary-sink.ts'

export interface DiskBufferOptions {
  /** Folder of the buffer's files. */
  dir: string
  /** Byte quota on disk; past it the oldest records are dropped (counted as queue_full). */
  maxBytes: number
  segmentBytes: number
  /** Rows per sink write at most (whole committed batches are never split). */
  maxBatchRows: number
  retryMinMs: number
  retryMaxMs: number
  /** Extra wait gathering appends into one fsync. */
  commitDelayMs?: number
}

/**
 * A sink that writes a wire format of its own (InfluxDB's line protocol) can
 * have the buffer keep that format: each committed batch is encoded once, at
 * offer, and written from disk as it is, never decoded again.
 */
export interface EncodingSink extends Sink {
  /** The batch's telemetry rows in the store's format (UTF-8 text); null when it has none. */
  encode(batch: readonly Envelope[]): string | null
  /** Writes payloads `encode` made, in order, as one write of `rows` rows. */
  writeEncoded(payloads: readonly Buffer[], rows: number): Promise<SinkWriteResult>
}

function isEncoding(sink: Sink): sink is EncodingSink {
  return typeof (sink as Partial<EncodingSink>).encode === 'function' && typeof (sink as Partial<EncodingSink>).writeEncoded === 'function'
}

/** One record read back: its index, rows, and what to write of it. */
interface Part {
  index: number
  rows: number
  payload: Buffer
  envelopes: Envelope[] | null
}

/**
 * A secondary sink behind a disk-backed buffer (the edge agent's DiskQueue):
 * every committed batch is appended as one record, and a writer sends the
 * records to the sink in commit order, one write at a time, retried with
 * capped backoff and full jitter until the sink takes them. It never holds an
 * acknowledgement: `offer` returns at once. An outage of the second store
 * costs disk up to `maxBytes` (the oldest unsent records then go, counted),
 * never memory or ingest's throughput; and what is on disk survives a restart
 * of gridline: the writer resumes where the store last took it. A record
 * written again after a crash is the same points again (the sink is idempotent).
 *
 * Record format: the record's row count (uint32, big-endian), then the
 * sink's own encoding (an EncodingSink), or else JSON `[[domain|null,
 * rows.data], ...]`, one entry per envelope with telemetry (JSON numbers
 * round-trip exactly). The count lets drops past the quota be counted in rows
 * without reading what is dropped.
 */
export class DiskBufferedSink {
  private cursor: QueueCursor | undefined
  private running: Promise<void> | undefined
  private closed = false
  /** Ends the idle wait (new records are durable, or close). */
  private wake: (() => void) | undefined
  /** Ends a wait between retries (close only: new records must not defeat the backoff). */
  private wakeRetry: (() => void) | undefined
  private readonly labels: { component_id: string; component_type: string }
  private appends = 0
  private readonly gauges: NodeJS.Timeout

  private constructor(
    readonly sink: Sink,
    private readonly queue: DiskQueue,
    private readonly options: DiskBufferOptions,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
  ) {
    this.labels = { component_id: sink.id, component_type: sink.type }
    this.encoding = isEncoding(sink) ? sink : null
    const stats = () => queue.stats()
    const bytes = sharedMetric(metrics.registry, 'gridline_component_buffer_bytes', () => new Gauge({ name: 'gridline_component_buffer_bytes', help: 'Bytes a disk-buffered secondary sink holds on disk, by sink.', labelNames: ['component_id', 'component_type'] as const, registers: [metrics.registry] }))
    const lag = sharedMetric(metrics.registry, 'gridline_component_lag_seconds', () => new Gauge({ name: 'gridline_component_lag_seconds', help: 'Age of the oldest committed batch a disk-buffered secondary sink has not written yet (0 when it is caught up), by sink.', labelNames: ['component_id', 'component_type'] as const, registers: [metrics.registry] }))
    this.refresh = () => {
      const s = stats()
      bytes.set(this.labels, s.diskBytes)
      lag.set(this.labels, s.oldestUnsentAcceptedAt === undefined ? 0 : Math.max(0, (Date.now() - s.oldestUnsentAcceptedAt) / 1000))
    }
    // The lag grows while nothing happens (an outage): read every second, not only on writes.
    this.gauges = setInterval(this.refresh, 1_000)
    this.gauges.unref()
    queue.on('dropped', (reason, _records, rows) => metrics.components.dropped.inc({ ...this.labels, reason }, rows))
    queue.on('durable', () => this.wake?.())
  }

  private readonly refresh: () => void
  private readonly encoding: EncodingSink | null

  static async open(sink: Sink, options: DiskBufferOptions, metrics: IngestMetrics, logger: Logger): Promise<DiskBufferedSink> {
    const queue = await DiskQueue.open({
      dir: options.dir,
      maxBytes: options.maxBytes,
      segmentBytes: options.segmentBytes,
      fullPolicy: 'drop_oldest',
      ttlMs: 0,
      commitDelayMs: options.commitDelayMs ?? 5,
      sequenceOf: () => undefined,
      weightOf: (payload) => (payload.length >= 4 ? payload.readUInt32BE(0) : 0),
      logger,
    })
    const buffered = new DiskBufferedSink(sink, queue, options, metrics, logger)
    await sink.start?.()
    buffered.cursor = queue.openCursor()
    buffered.running = buffered.run()
    return buffered
  }

  /** Committed batches in the buffer not yet written. */
  get depth(): number {
    return this.queue.stats().depthReadings
  }

  /** Called after each commit with the committed envelopes; returns at once. */
  offer(committed: readonly Envelope[]): void {
    if (this.closed) return
    let rows = 0
    for (const e of committed) rows += e.decoded.rows.length
    if (rows === 0) return
    let payload: string | null
    try {
      payload = this.encoding ? this.encoding.encode(committed) : encodeJson(committed)
    } catch (err) {
      this.metrics.components.dropped.inc({ ...this.labels, reason: 'encode_failed' }, rows)
      this.logger.error({ err, sink: this.sink.id, rows }, 'A committed batch could not be encoded for a secondary sink; it is not written there.')
      return
    }
    if (payload === null) return
    // Written straight into the record: no intermediate buffer of the payload.
    const record = Buffer.allocUnsafe(4 + Buffer.byteLength(payload))
    record.writeUInt32BE(rows, 0)
    record.write(payload, 4)
    this.appends++
    this.queue.append(record).catch((err) => {
      // Only a disk error gets here (the queue counted it, disk_error); drop_oldest makes room otherwise.
      this.logger.error({ err, sink: this.sink.id, rows }, 'A committed batch could not be buffered for a secondary sink; it is not written there.')
    }).finally(() => { this.appends-- })
    this.refresh()
  }

  /**
   * Stops writing (within `timeoutMs` for a write under way) and closes the
   * buffer and the sink. What is not written stays on disk for the next start.
   */
  async close(timeoutMs: number): Promise<void> {
    // Appends under way reach the disk first.
    const deadline = Date.now() + timeoutMs
    while (this.appends > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    this.closed = true
    clearInterval(this.gauges)
    this.wake?.()
    this.wakeRetry?.()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.running, new Promise((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - Date.now())) })])
    clearTimeout(timer)
    this.refresh()
    await this.cursor?.close()
    await this.queue.close()
    await this.sink.close()
  }

  /** Resolves once everything buffered now is written (tests, benchmarks). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.appends > 0 || this.queue.stats().depthReadings > 0) {
      if (Date.now() > deadline) throw new Error(`${this.queue.stats().depthReadings} buffered batches still unwritten after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  private async run(): Promise<void> {
    const cursor = this.cursor!
    while (!this.closed) {
      const read = await cursor.read(256, 64 * 1024 * 1024)
      if (read.records.length === 0) {
        if (read.end > read.start) this.queue.ack(read.start, read.end)
        this.refresh()
        await new Promise<void>((resolve) => {
          this.wake = resolve
          setTimeout(resolve, 1_000)
        })
        this.wake = undefined
        continue
      }
      let from = 0
      while (from < read.records.length && !this.closed) {
        let rows = 0
        const parts: Part[] = []
        let to = from
        while (to < read.records.length && (parts.length === 0 || rows < this.options.maxBatchRows)) {
          const part = this.partOf(read.records[to]!)
          if (part) {
            parts.push(part)
            rows += part.rows
          }
          to++
        }
        if (!(await this.writeWithRetry(parts, rows))) return
        from = to
      }
      if (from === read.records.length) this.queue.ack(read.start, read.end)
      this.refresh()
    }
  }

  /** A record as the writer sends it; undefined (counted as corrupt) when its JSON does not parse, which only a bug can cause: the CRC matched. */
  private partOf(record: QueuedRecord): Part | undefined {
    const rows = record.payload.length >= 4 ? record.payload.readUInt32BE(0) : 0
    const payload = record.payload.subarray(4)
    if (this.encoding) return { index: record.index, rows, payload, envelopes: null }
    const envelopes = decodeJson(payload, record.acceptedAt)
    if (envelopes === undefined) {
      this.metrics.components.dropped.inc({ ...this.labels, reason: 'corrupt' }, rows)
      return undefined
    }
    return { index: record.index, rows, payload, envelopes }
  }

  /** False when the buffer closed before the write went through (it is written after the next start). */
  private writeWithRetry(parts: Part[], rows: number): Promise<boolean> {
    // Records dropped past the quota while a write was failing are counted there, so not written after all.
    const attempt = () => {
      const live = parts.filter((p) => !this.queue.isAcked(p.index))
      if (live.length === 0) return null
      if (this.encoding) return this.encoding.writeEncoded(live.map((p) => p.payload), live.reduce((n, p) => n + p.rows, 0))
      return this.sink.write(live.flatMap((p) => p.envelopes!))
    }
    return writeUntilTaken(this.sink, rows, attempt, {
      ...this.options,
      metrics: this.metrics,
      logger: this.logger,
      isClosed: () => this.closed,
      sleep: (ms) => new Promise<void>((resolve) => {
        this.wakeRetry = resolve
        setTimeout(resolve, ms)
      }).finally(() => { this.wakeRetry = undefined }),
    })
  }
}

function encodeJson(committed: readonly Envelope[]): string {
  const entries: [string | null, (number | string)[]][] = []
  for (const e of committed) if (e.decoded.rows.length > 0) entries.push([e.decoded.domain ?? null, e.decoded.rows.data])
  return JSON.stringify(entries)
}

function decodeJson(payload: Buffer, acceptedAt: number): Envelope[] | undefined {
  let entries: [string | null, (number | string)[]][]
  try {
    entries = JSON.parse(payload.toString('utf8')) as [string | null, (number | string)[]][]
  } catch {
    return undefined
  }
  return entries.map(([domain, data]) => {
    const rows = new Rows()
    rows.data = data
    return {
      topic: '',
      clientId: null,
      receivedAt: acceptedAt,
      payload: Buffer.alloc(0),
      decoded: { rows, readings: 0, rejections: [], unknownMetrics: 0, outOfRange: 0, ...(domain ? { domain } : {}) },
      ack: null,
    }
  })
}

/**
 * The scenarios that need no network: `writer` (the service's TimescaleSink
 * alone, fed pre-built rows) and `pipeline` (decode + validate + the
 * processors' stage + write, from raw payloads). Both run in the bench
 * process itself, with the service's batch size and writer count, on the
 * same rows as copy-limit.
 */
import { type Envelope, IngestPipeline, type LiveDeviceDirectory, RuntimeIntake, TimescaleSink, createIngestMetrics, ingestConfig } from '@gridline/ingest'
import { type DecodeOptions, type Principal, type WritePosition, decodeMessage } from '@gridline/processors'
import { createLogger } from '@gridline/core'
import { defaultCatalogue } from '@gridline/schemas'
import pg from 'pg'
import type { BenchDatabase } from './database.ts'
import { type ProcessStage, createProcessStage } from './process-stage.ts'
import type { BenchSettings, InProcessResult, RunContext } from './results.ts'
import { Timeline, ratesOf } from './series.ts'
import { batchedMessagesPerConnection, devices, BENCH_DOMAIN, benchTopic, messagePayload } from './workload.ts'

/** One message as the broker would hand it over. */
export interface RawMessage {
  topic: string
  principal: Principal
  payload: Buffer
}

/** The copy-limit workload as raw messages, interleaved by device as they arrive. */
function rawMessages(s: BenchSettings, baseTimeMs: number): RawMessage[] {
  const ids = devices(s.batchedConnections)
  const out: RawMessage[] = []
  for (let m = 0; m < batchedMessagesPerConnection(s); m++) {
    for (const id of ids) {
      const topic = benchTopic(id)
      out.push({
        topic,
        principal: { kind: 'device', id, domain: BENCH_DOMAIN },
        payload: Buffer.from(messagePayload(baseTimeMs, m * s.readingsPerBatchMessage, s.readingsPerBatchMessage)),
      })
    }
  }
  return out
}

function decodeOptions(): DecodeOptions {
  const config = ingestConfig().ingest
  return {
    catalogue: defaultCatalogue(),
    maxFutureSkewMs: config.maxFutureSkewMs,
    minTimestampMs: Date.parse(config.minTimestamp),
    rejectedPayloadMaxBytes: config.rejectedPayloadMaxBytes,
  }
}

function envelopeOf(message: RawMessage, receivedAt: number, options: DecodeOptions, stage: ProcessStage | null, at: WritePosition): Envelope {
  const decoded = decodeMessage(message.topic, message.payload, receivedAt, message.principal, options)
  stage?.prepare(decoded, at)
  return { topic: message.topic, clientId: message.principal.id, receivedAt, payload: message.payload, decoded, ack: null }
}

const NO_POSITION: WritePosition = { position: 0, committedThrough: 0 }

/** A writer as the service builds it: its own pool, `writers` batches in flight at once. */
class WriterPool {
  readonly writer: TimescaleSink
  private readonly pool: pg.Pool
  private readonly inFlight = new Set<Promise<void>>()
  readonly writers: number

  constructor(databaseUrl: string) {
    const config = ingestConfig()
    this.writers = config.ingest.writers
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: this.writers })
    this.pool.on('error', () => undefined)
    this.writer = new TimescaleSink(this.pool, createLogger({ level: 'silent' }), { rejectedPayloadMaxBytes: config.ingest.rejectedPayloadMaxBytes })
  }

  /** Starts writing a batch once a writer is free; a write that fails fails the scenario. */
  async submit(batch: Envelope[], onDone: (rows: number, batch: Envelope[]) => void): Promise<void> {
    while (this.inFlight.size >= this.writers) await Promise.race(this.inFlight)
    const write = this.writer.write(batch).then((result) => {
      if (result.deadLettered.length > 0 || result.rejected.size > 0) throw new Error(`the writer refused ${result.deadLettered.length} messages of the bench workload`)
      onDone(result.inserted, batch)
    })
    const tracked = write.finally(() => this.inFlight.delete(tracked))
    this.inFlight.add(tracked)
  }

  async drain(): Promise<void> {
    await Promise.all(this.inFlight)
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

/** Splits envelopes into batches of about `rows` rows, as the service's batcher does. */
function batchesOf(envelopes: Envelope[], rows: number): Envelope[][] {
  const out: Envelope[][] = []
  let current: Envelope[] = []
  let n = 0
  for (const e of envelopes) {
    current.push(e)
    n += e.decoded.rows.length
    if (n >= rows) {
      out.push(current)
      current = []
      n = 0
    }
  }
  if (current.length > 0) out.push(current)
  return out
}

const cpuMicros = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}

/** `writer`: TimescaleSink alone, fed batches decoded before the clock starts. */
export async function measureWriter(ctx: RunContext, db: BenchDatabase): Promise<InProcessResult> {
  const s = ctx.settings
  const options = decodeOptions()
  const receivedAt = Date.now()
  const batches = batchesOf(rawMessages(s, ctx.baseTimeMs).map((m) => envelopeOf(m, receivedAt, options, null, NO_POSITION)), s.inProcessBatchRows)
  const rows = batches.reduce((n, b) => n + b.reduce((k, e) => k + e.decoded.rows.length, 0), 0)
  await db.reset()
  const writers = new WriterPool(db.url)
  try {
    const started = performance.now()
    const timeline = new Timeline(250, started)
    const cpu = process.cpuUsage()
    for (const batch of batches) await writers.submit(batch, (n) => timeline.add(n, performance.now()))
    await writers.drain()
    const elapsedMs = performance.now() - started
    const cpuUsed = cpuMicros(cpu)
    const storedRows = await db.countTelemetry()
    return {
      readings: rows, rows, storedRows, elapsedMs,
      readingsPerSecond: storedRows / (elapsedMs / 1000),
      rowsPerSecond: storedRows / (elapsedMs / 1000),
      cpuMicrosPerReading: cpuUsed / rows,
      cpuMicrosPerReadingBeforeWrite: NaN,
      batches: batches.length,
      timeline: ratesOf([timeline.toArray()], timeline.bucketMs),
    }
  } finally {
    await writers.close()
  }
}

/** Another workload than copy-limit's (pipeline-city's), and the registry its processors look devices up in. */
export interface PipelineWorkload {
  messages?: readonly RawMessage[]
  directory?: LiveDeviceDirectory | null
}

/**
 * `pipeline` (no processors) and `pipeline-processors`: the service's own
 * intake and runtime (RuntimeIntake: decode, reading rules, pre-write
 * processors; IngestPipeline: group commit, writers, settlement; the
 * TimescaleSink), fed raw payloads as the broker would hand them over, all
 * in this process: the ingest hot path without MQTT. While the runtime is
 * congested no message is fed, as the broker reads no socket then.
 */
export async function measurePipeline(ctx: RunContext, db: BenchDatabase, withProcessors: boolean, workload: PipelineWorkload = {}): Promise<InProcessResult> {
  const s = ctx.settings
  const config = ingestConfig()
  const messages = workload.messages ?? rawMessages(s, ctx.baseTimeMs)
  await db.reset()
  const pool = new pg.Pool({ connectionString: db.url, max: config.ingest.writers })
  pool.on('error', () => undefined)
  const logger = createLogger({ level: 'silent' })
  const metrics = createIngestMetrics()
  const sink = new TimescaleSink(pool, logger, { rejectedPayloadMaxBytes: config.ingest.rejectedPayloadMaxBytes })
  let batches = 0
  let refused = 0
  const counted = {
    id: sink.id,
    type: sink.type,
    async write(batch: readonly Envelope[]) {
      batches++
      const result = await sink.write(batch)
      refused += result.deadLettered.length + result.rejected.size
      return result
    },
  }
  const pipeline = new IngestPipeline(counted, { ...config.ingest, maxBatchRows: s.inProcessBatchRows }, metrics, logger)
  const stage = withProcessors ? await createProcessStage(db.url, workload.directory ?? null) : null
  let stageClosed = false
  const intake = new RuntimeIntake(pipeline, {
    decodeOptions: decodeOptions(),
    processing: { prepare: (decoded, at) => stage?.prepare(decoded, at) },
    metrics,
    logger,
    shedAtPendingRows: config.ingest.shedAtPendingRows,
  })
  let resume: (() => void) | undefined
  intake.onCongestion((held) => { if (!held) resume?.() })
  stage?.onCongestion((held) => pipeline.hold('processors', held))
  const started = performance.now()
  const timeline = new Timeline(250, started)
  pipeline.onCommitted((batch) => {
    timeline.add(batch.reduce((n, e) => n + e.decoded.rows.length, 0), performance.now())
    stage?.committed(batch)
  })
  try {
    const cpu = process.cpuUsage()
    let beforeWriteMs = 0
    let readings = 0
    let rows = 0
    for (const message of messages) {
      if (intake.congested) await new Promise<void>((resolve) => { resume = resolve })
      const t0 = performance.now()
      const envelope = intake.decode({ source: 'bench', topic: message.topic, clientId: message.principal.id, principal: message.principal, receivedAt: Date.now(), payload: message.payload })
      beforeWriteMs += performance.now() - t0
      readings += envelope.decoded.readings
      rows += envelope.decoded.rows.length
      intake.submit(envelope)
    }
    await pipeline.drain()
    if (refused > 0) throw new Error(`the sink refused ${refused} messages or rows of the bench workload`)
    // The processors' own work after the last commit (rollups written) counts too.
    await stage?.close()
    stageClosed = true
    const elapsedMs = performance.now() - started
    const cpuUsed = cpuMicros(cpu)
    const storedRows = await db.countTelemetry()
    return {
      readings, rows, storedRows, elapsedMs,
      readingsPerSecond: readings / (elapsedMs / 1000),
      rowsPerSecond: storedRows / (elapsedMs / 1000),
      cpuMicrosPerReading: cpuUsed / readings,
      // Decode, reading rules and the pre-write processors: synchronous code, so its wall time is its CPU time.
      cpuMicrosPerReadingBeforeWrite: (beforeWriteMs * 1000) / readings,
      batches,
      timeline: ratesOf([timeline.toArray()], timeline.bucketMs),
    }
  } finally {
    if (stage && !stageClosed) await stage.close().catch(() => undefined)
    await pool.end()
  }
}

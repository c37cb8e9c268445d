/**
 * The scenarios that need no network: `writer` (the service's TelemetryWriter
 * alone, fed pre-built rows) and `pipeline` (decode + validate + the
 * processors' stage + write, from raw payloads). Both run in the bench
 * process itself, with the service's batch size and writer count, on the
 * same rows as copy-limit.
 */
import { type Envelope, TelemetryWriter, ingestConfig } from '@gridline/ingest'
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
interface RawMessage {
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
        principal: { kind: 'device', id, domain: BENCH_DOMAIN, topic },
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
  readonly writer: TelemetryWriter
  private readonly pool: pg.Pool
  private readonly inFlight = new Set<Promise<void>>()
  readonly writers: number

  constructor(databaseUrl: string) {
    const config = ingestConfig()
    this.writers = config.ingest.writers
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: this.writers })
    this.pool.on('error', () => undefined)
    this.writer = new TelemetryWriter(this.pool, createLogger({ level: 'silent' }), { rejectedPayloadMaxBytes: config.ingest.rejectedPayloadMaxBytes })
  }

  /** Starts writing a batch once a writer is free; a write that fails fails the scenario. */
  async submit(batch: Envelope[], onDone: (rows: number, batch: Envelope[]) => void): Promise<void> {
    while (this.inFlight.size >= this.writers) await Promise.race(this.inFlight)
    const write = this.writer.write(batch).then((result) => {
      if (result.refused.length > 0 || result.rejected.size > 0) throw new Error(`the writer refused ${result.refused.length} messages of the bench workload`)
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

/** `writer`: TelemetryWriter alone, fed batches decoded before the clock starts. */
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

/**
 * `pipeline` (stage null) and `pipeline-processors`: raw payloads decoded,
 * validated, passed through the stage and batched while earlier batches are
 * being written, all in this process: the ingest hot path without MQTT.
 */
export async function measurePipeline(ctx: RunContext, db: BenchDatabase, withProcessors: boolean): Promise<InProcessResult> {
  const s = ctx.settings
  const options = decodeOptions()
  const messages = rawMessages(s, ctx.baseTimeMs)
  await db.reset()
  const writers = new WriterPool(db.url)
  const stage = withProcessors ? await createProcessStage(db.url) : null
  let stageClosed = false
  // Write positions as the service numbers them: a resend is dropped only once its original committed.
  const at: WritePosition = { position: -1, committedThrough: -1 }
  const started = performance.now()
  const timeline = new Timeline(250, started)
  const committed = (rows: number, batch: Envelope[]) => {
    timeline.add(rows, performance.now())
    stage?.committed(batch)
  }
  try {
    const cpu = process.cpuUsage()
    let beforeWriteMicros = 0
    let readings = 0
    let rows = 0
    let batches = 0
    let batch: Envelope[] = []
    let batchRows = 0
    // CPU before the write, read per batch: per message it would cost a syscall each.
    let batchCpu = process.cpuUsage()
    for (const message of messages) {
      if (batchRows === 0) batchCpu = process.cpuUsage()
      at.position++
      const envelope = envelopeOf(message, Date.now(), options, stage, at)
      readings += envelope.decoded.readings
      rows += envelope.decoded.rows.length
      batch.push(envelope)
      batchRows += envelope.decoded.rows.length
      if (batchRows >= s.inProcessBatchRows) {
        beforeWriteMicros += cpuMicros(batchCpu)
        batches++
        const end = at.position
        await writers.submit(batch, (n, b) => { at.committedThrough = Math.max(at.committedThrough, end); committed(n, b) })
        batch = []
        batchRows = 0
      }
    }
    if (batch.length > 0) {
      beforeWriteMicros += cpuMicros(batchCpu)
      batches++
      await writers.submit(batch, committed)
    }
    await writers.drain()
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
      cpuMicrosPerReadingBeforeWrite: beforeWriteMicros / readings,
      batches,
      timeline: ratesOf([timeline.toArray()], timeline.bucketMs),
    }
  } finally {
    if (stage && !stageClosed) await stage.close().catch(() => undefined)
    await writers.close()
  }
}

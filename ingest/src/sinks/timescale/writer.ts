import type { Logger } from '@gridline/core'
import type { StatusChange } from '@gridline/processors'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { Envelope } from '../../pipeline/envelope.ts'
import { TELEMETRY_COPY_COLUMNS, encodeTelemetryBinary } from './copy-encoding.ts'

export interface WriteResult {
  /** Telemetry rows that are new in the database. */
  inserted: number
  /** Telemetry rows already stored (same device, metric and time): redeliveries and resends. */
  duplicates: number
  /** Rows written to `rejected`, by reason. */
  rejected: Map<string, number>
  /** Envelopes the database refused; dead-lettered whole as storage_rejected. */
  refused: Envelope[]
}

const UNIQUE_VIOLATION = '23505'

/**
 * Writes batches of envelopes to `telemetry` and `rejected` in one
 * transaction per batch. The common path is a bare binary COPY into
 * telemetry, the fastest load PostgreSQL offers; only when that meets a row already stored
 * does the batch go through a staging table and INSERT ... ON CONFLICT DO
 * NOTHING (and later batches too, for a second, since redeliveries come in
 * bursts after a reconnect).
 *
 * Connection and server errors are thrown for the caller to retry; a batch the
 * database refuses for its data is split in halves until the refused envelopes
 * are isolated and dead-lettered, so one bad message never blocks the rest.
 */
export class TelemetryWriter {
  private dedupeUntil = 0

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly options: { rejectedPayloadMaxBytes: number; dedupeHoldMs?: number },
  ) {}

  async write(envelopes: readonly Envelope[]): Promise<WriteResult> {
    const result: WriteResult = { inserted: 0, duplicates: 0, rejected: new Map(), refused: [] }
    await this.writeIsolating(envelopes, result)
    return result
  }

  private async writeIsolating(envelopes: readonly Envelope[], result: WriteResult): Promise<void> {
    try {
      await this.writeOnce(envelopes, result)
    } catch (err) {
      if (!isDataError(err)) throw err
      if (envelopes.length === 1) {
        const envelope = envelopes[0]!
        await this.deadLetterRefused(envelope, err as Error, result)
        return
      }
      const half = envelopes.length >> 1
      await this.writeIsolating(envelopes.slice(0, half), result)
      await this.writeIsolating(envelopes.slice(half), result)
    }
  }

  private async writeOnce(envelopes: readonly Envelope[], result: WriteResult): Promise<void> {
    const rows = encodeTelemetryBinary(envelopes)
    const rowCount = countRows(envelopes)
    const rejects = collectRejections(envelopes)
    const statuses = collectStatuses(envelopes)
    const client = await this.pool.connect()
    let broken = false
    try {
      if (Date.now() >= this.dedupeUntil) {
        try {
          await this.commit(client, rejects, async () => {
            if (rowCount > 0) await copyInto(client, 'telemetry', rows)
            if (statuses.length > 0) await recordStatuses(client, statuses)
          }, statuses.length > 0)
          result.inserted += rowCount
          countRejects(rejects, result)
          return
        } catch (err) {
          if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err
          this.dedupeUntil = Date.now() + (this.options.dedupeHoldMs ?? 1_000)
        }
      }
      let inserted = 0
      await this.commit(client, rejects, async () => {
        if (rowCount === 0) {
          if (statuses.length > 0) await recordStatuses(client, statuses)
          return
        }
        await client.query(`CREATE TEMP TABLE IF NOT EXISTS telemetry_stage
          (LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`)
        await copyInto(client, 'telemetry_stage', rows)
        const res = await client.query(`INSERT INTO telemetry (${TELEMETRY_COPY_COLUMNS})
          SELECT ${TELEMETRY_COPY_COLUMNS} FROM telemetry_stage ON CONFLICT DO NOTHING`)
        inserted = res.rowCount ?? 0
        if (statuses.length > 0) await recordStatuses(client, statuses)
      }, true)
      result.inserted += inserted
      result.duplicates += rowCount - inserted
      countRejects(rejects, result)
    } catch (err) {
      broken = !isDataError(err) && (err as { code?: string }).code !== UNIQUE_VIOLATION
      throw err
    } finally {
      client.release(broken)
    }
  }

  /**
   * Runs `body` and the rejected inserts as one transaction. A lone COPY is
   * a transaction by itself, so the common case saves the BEGIN/COMMIT round trips.
   */
  private async commit(client: pg.PoolClient, rejects: RejectRow[], body: () => Promise<void>, alwaysTransaction = false): Promise<void> {
    if (rejects.length === 0 && !alwaysTransaction) {
      await body()
      return
    }
    await client.query('BEGIN')
    try {
      await body()
      if (rejects.length > 0) await insertRejected(client, rejects)
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    }
  }

  private async deadLetterRefused(envelope: Envelope, err: Error, result: WriteResult): Promise<void> {
    const detail = `database refused the message: ${err.message}`.slice(0, 1000)
    this.logger.warn({ topic: envelope.topic, clientId: envelope.clientId, code: (err as { code?: string }).code }, 'The database refused a message; it is kept in rejected as storage_rejected.')
    const client = await this.pool.connect()
    try {
      await insertRejected(client, [{
        receivedAt: envelope.receivedAt,
        clientId: envelope.clientId,
        deviceId: null,
        topic: envelope.topic,
        reason: 'storage_rejected',
        detail,
        payload: envelope.payload.subarray(0, this.options.rejectedPayloadMaxBytes),
        payloadBytes: envelope.payload.length,
      }])
    } finally {
      client.release()
    }
    result.rejected.set('storage_rejected', (result.rejected.get('storage_rejected') ?? 0) + 1)
    result.refused.push(envelope)
  }
}

interface RejectRow {
  receivedAt: number
  clientId: string | null
  deviceId: string | null
  topic: string
  reason: string
  detail: string
  payload: Buffer
  payloadBytes: number
}

function countRows(envelopes: readonly Envelope[]): number {
  let n = 0
  for (const e of envelopes) n += e.decoded.rows.length
  return n
}

function collectRejections(envelopes: readonly Envelope[]): RejectRow[] {
  const out: RejectRow[] = []
  for (const e of envelopes) {
    for (const r of e.decoded.rejections) {
      out.push({ receivedAt: e.receivedAt, clientId: e.clientId, deviceId: r.deviceId, topic: e.topic, reason: r.reason, detail: r.detail, payload: r.payload, payloadBytes: r.payloadBytes })
    }
  }
  return out
}

function collectStatuses(envelopes: readonly Envelope[]): StatusChange[] {
  const out: StatusChange[] = []
  for (const e of envelopes) if (e.status) out.push(e.status)
  return out
}

/**
 * Appends every report to the history and moves each device's current state
 * forward, never back: reports can arrive out of order (a will published late,
 * a buffered "online" resent), so the newest `since` wins.
 */
async function recordStatuses(client: pg.PoolClient, statuses: StatusChange[]): Promise<void> {
  const params = [
    statuses.map((s) => s.deviceId),
    statuses.map((s) => s.state),
    statuses.map((s) => new Date(s.time).toISOString()),
    statuses.map((s) => new Date(s.receivedAt).toISOString()),
  ]
  await client.query(
    `INSERT INTO device_status_history (device_id, state, time, received_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])`,
    params,
  )
  await client.query(
    `INSERT INTO device_status (device_id, state, since, received_at)
     SELECT DISTINCT ON (device_id) * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS s (device_id, state, since, received_at)
     ORDER BY device_id, since DESC, received_at DESC
     ON CONFLICT (device_id) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, received_at = EXCLUDED.received_at
     WHERE device_status.since <= EXCLUDED.since`,
    params,
  )
}

function countRejects(rejects: RejectRow[], result: WriteResult): void {
  for (const r of rejects) result.rejected.set(r.reason, (result.rejected.get(r.reason) ?? 0) + 1)
}

async function copyInto(client: pg.PoolClient, table: string, rows: Buffer): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${TELEMETRY_COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)`))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    stream.end(rows)
  })
}

/**
 * PostgreSQL text cannot hold U+0000 (SQLSTATE 22021), and an MQTT client id,
 * topic or a detail quoting the payload can contain it. Replace it so the
 * dead letter itself can never be refused.
 */
function pgText(s: string | null): string | null {
  return s === null || !s.includes('\u0000') ? s : s.replaceAll('\u0000', '\uFFFD')
}

async function insertRejected(client: pg.PoolClient, rows: RejectRow[]): Promise<void> {
  await client.query(
    `INSERT INTO rejected (received_at, client_id, device_id, topic, reason, detail, payload, payload_bytes)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::int[])`,
    [
      rows.map((r) => new Date(r.receivedAt).toISOString()),
      rows.map((r) => pgText(r.clientId)),
      rows.map((r) => pgText(r.deviceId)),
      rows.map((r) => pgText(r.topic)),
      rows.map((r) => r.reason),
      rows.map((r) => pgText(r.detail)),
      rows.map((r) => r.payload),
      rows.map((r) => r.payloadBytes),
    ],
  )
}

/**
 * SQLSTATE classes the data itself causes [PostgreSQL Appendix A]: 22 data
 * exception, 23 integrity constraint violation (except a duplicate key, which
 * the dedupe path absorbs), 54 program limit exceeded.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  if (typeof code !== 'string' || code.length !== 5) return false
  if (code === UNIQUE_VIOLATION) return false
  return code.startsWith('22') || code.startsWith('23') || code.startsWith('54')
}

import { type Envelope, type Logger, type Sink, type SinkWriteResult, emptyWriteResult } from '@gridline/core'
import { ROW_STRIDE, type StatusChange, countReadings, rejectionCount } from '@gridline/processors'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { TELEMETRY_COPY_COLUMNS, encodeTelemetryBinary } from './copy-encoding.ts'

const UNIQUE_VIOLATION = '23505'

/**
 * The `timescale` sink, the primary one: writes batches of envelopes to
 * `telemetry`, their refusals to `rejected` and device status changes to
 * `device_status`, in one transaction per batch, so a dead letter is never
 * lost between the two. The same SQL serves TimescaleDB and plain
 * PostgreSQL (ingest/src/storage/schema.ts chose the engine). The common path is a bare binary COPY into
 * telemetry, the fastest load PostgreSQL offers; only when that meets a row already stored
 * does the batch go through a staging table and INSERT ... ON CONFLICT DO
 * NOTHING (and later batches too, for a second, since redeliveries come in
 * bursts after a reconnect).
 *
 * Connection and server errors are thrown for the caller to retry; a batch the
 * database refuses for its data is split in halves until the refused envelopes
 * are isolated and dead-lettered, so one bad message never blocks the rest.
 */
export class TimescaleSink implements Sink {
  readonly type = 'timescale'
  private dedupeUntil = 0

  /** `pool` is the service's (shared with the queries): close() leaves it open. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly options: { rejectedPayloadMaxBytes: number; dedupeHoldMs?: number },
    readonly id = 'timescale',
  ) {}

  async write(envelopes: readonly Envelope[]): Promise<SinkWriteResult> {
    const result = emptyWriteResult()
    await this.writeIsolating(envelopes, result)
    return result
  }

  async healthcheck(): Promise<boolean> {
    return await Promise.race([
      this.pool.query('SELECT 1').then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000).unref()),
    ])
  }

  async close(): Promise<void> {}

  private async writeIsolating(envelopes: readonly Envelope[], result: SinkWriteResult): Promise<void> {
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

  private async writeOnce(envelopes: readonly Envelope[], result: SinkWriteResult): Promise<void> {
    const rows = encodeTelemetryBinary(envelopes)
    const rowCount = countRows(envelopes)
    const rejects = collectRejections(envelopes, this.options.rejectedPayloadMaxBytes)
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
      let conflicts: Map<Envelope, Conflict[]> = new Map()
      let conflicting = 0
      const keptRejects = rejects.length
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
        if (inserted < rowCount) {
          const found = await findConflicts(client)
          conflicting = found.length
          conflicts = conflictOwners(envelopes, found)
          // Committed with the batch, so a conflict is never lost between the two.
          if (conflicting > 0) rejects.push(...conflictRows(conflicts, this.options.rejectedPayloadMaxBytes))
        }
        if (statuses.length > 0) await recordStatuses(client, statuses)
      }, true)
      if (conflicting > 0) dropConflictingRows(conflicts)
      result.inserted += inserted
      result.duplicates += rowCount - inserted - conflicting
      countRejects(rejects.slice(0, keptRejects), result)
      if (conflicting > 0) result.rejected.set('ts_conflict', (result.rejected.get('ts_conflict') ?? 0) + conflicting)
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

  private async deadLetterRefused(envelope: Envelope, err: Error, result: SinkWriteResult): Promise<void> {
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
        counts: null,
      }])
    } finally {
      client.release()
    }
    result.rejected.set('storage_rejected', (result.rejected.get('storage_rejected') ?? 0) + 1)
    result.deadLettered.push(envelope)
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
  /** Refusals by reason that this row stands for (one message's readings and values). */
  counts: Map<string, number> | null
}

/** A staged row whose key (device, metric, time) is stored with another value and another seq. */
interface Conflict {
  deviceId: string
  metric: string
  time: number
  value: number
  seq: number | null
  storedValue: number
  storedSeq: number | null
}

/**
 * The staged rows that were not inserted because a row with their key is
 * stored, and are not the same reading: a duplicate is one with the same
 * value, or the same seq (a resend). Anything else is a second, different
 * reading at the same instant, and skipping it silently after its
 * acknowledgement would lose it: it is dead-lettered as ts_conflict instead.
 * Only the dedupe path runs this, after a key was found taken.
 */
async function findConflicts(client: pg.PoolClient): Promise<Conflict[]> {
  const { rows } = await client.query<{ device_id: string; metric: string; time_ms: number; value: number; seq: string | null; stored_value: number; stored_seq: string | null }>(
    `SELECT s.device_id, s.metric, (extract(epoch FROM s.time) * 1000)::float8 AS time_ms, s.value, s.seq,
            t.value AS stored_value, t.seq AS stored_seq
       FROM telemetry_stage s JOIN telemetry t ON t.device_id = s.device_id AND t.metric = s.metric AND t.time = s.time
      WHERE t.value IS DISTINCT FROM s.value AND (s.seq IS NULL OR t.seq IS DISTINCT FROM s.seq)`)
  return rows.map((r) => ({
    deviceId: r.device_id,
    metric: r.metric,
    time: Math.round(r.time_ms),
    value: r.value,
    seq: r.seq === null ? null : Number(r.seq),
    storedValue: r.stored_value,
    storedSeq: r.stored_seq === null ? null : Number(r.stored_seq),
  }))
}

const conflictKey = (deviceId: string, metric: string, time: number, value: number): string => `${deviceId}\u0000${metric}\u0000${time}\u0000${value}`

/** Finds each conflict's envelope: the first (in batch order) whose rows hold that key and value. */
function conflictOwners(envelopes: readonly Envelope[], conflicts: readonly Conflict[]): Map<Envelope, Conflict[]> {
  const wanted = new Map<string, Conflict[]>()
  for (const c of conflicts) {
    const k = conflictKey(c.deviceId, c.metric, c.time, c.value)
    const list = wanted.get(k)
    if (list) list.push(c)
    else wanted.set(k, [c])
  }
  const owners = new Map<Envelope, Conflict[]>()
  // Backwards: when a batch holds the key twice, the first was stored and a later one is the conflict.
  for (let e = envelopes.length - 1; e >= 0 && wanted.size > 0; e--) {
    const envelope = envelopes[e]!
    const data = envelope.decoded.rows.data
    for (let i = data.length - ROW_STRIDE; i >= 0; i -= ROW_STRIDE) {
      const k = conflictKey(data[i + 1] as string, data[i + 2] as string, data[i] as number, data[i + 3] as number)
      const list = wanted.get(k)
      if (!list) continue
      const c = list.pop()!
      if (list.length === 0) wanted.delete(k)
      const mine = owners.get(envelope)
      if (mine) mine.push(c)
      else owners.set(envelope, [c])
    }
  }
  return owners
}

/** One rejected row per message that had conflicting readings. */
function conflictRows(owners: Map<Envelope, Conflict[]>, maxBytes: number): RejectRow[] {
  const out: RejectRow[] = []
  for (const [e, list] of owners) {
    const shown = list.slice(0, 5).map((c) =>
      `${c.metric} at ${new Date(c.time).toISOString()}: ${c.value}${c.seq === null ? '' : ` (seq ${c.seq})`} refused, ${c.storedValue}${c.storedSeq === null ? '' : ` (seq ${c.storedSeq})`} is stored`)
    const more = list.length > shown.length ? `; and ${list.length - shown.length} more` : ''
    out.push({
      receivedAt: e.receivedAt,
      clientId: e.clientId,
      deviceId: list[0]!.deviceId,
      topic: e.topic,
      reason: 'ts_conflict',
      detail: `${list.length} value${list.length === 1 ? '' : 's'} with the same device, metric and ts as a stored reading but another value: ${shown.join('; ')}${more}. The first stored is kept; give each reading its own ts.`,
      payload: e.payload.subarray(0, maxBytes),
      payloadBytes: e.payload.length,
      counts: null,
    })
  }
  return out
}

/** Takes the refused rows out of their envelopes once committed, so the processors never see them. */
function dropConflictingRows(owners: Map<Envelope, Conflict[]>): void {
  for (const [e, list] of owners) {
    const drop = new Map<string, number>()
    for (const c of list) {
      const k = conflictKey(c.deviceId, c.metric, c.time, c.value)
      drop.set(k, (drop.get(k) ?? 0) + 1)
    }
    const rows = e.decoded.rows
    const kept: (number | string)[] = []
    const data = rows.data
    for (let i = 0; i < data.length; i += ROW_STRIDE) {
      const k = conflictKey(data[i + 1] as string, data[i + 2] as string, data[i] as number, data[i + 3] as number)
      const n = drop.get(k)
      if (n) {
        drop.set(k, n - 1)
        continue
      }
      for (let j = 0; j < ROW_STRIDE; j++) kept.push(data[i + j]!)
    }
    data.length = 0
    for (const v of kept) data.push(v)
    e.decoded.readings = countReadings(rows)
  }
}

function countRows(envelopes: readonly Envelope[]): number {
  let n = 0
  for (const e of envelopes) n += e.decoded.rows.length
  return n
}

/**
 * One rejected row per message, however many of its readings and values
 * were refused: a message of 500,000 bad values once became 537,600 rows
 * (25 times its size). A message with one refusal keeps that refusal's own
 * detail and excerpt; with several, the row says how many of each reason,
 * quotes the first few and keeps the message's own payload (cut).
 */
function collectRejections(envelopes: readonly Envelope[], maxBytes: number): RejectRow[] {
  const out: RejectRow[] = []
  for (const e of envelopes) {
    const list = e.decoded.rejections
    if (list.length === 0) continue
    const first = list[0]!
    const unkept = e.unkeptBefore ? ` (${e.unkeptBefore} earlier rejected message${e.unkeptBefore === 1 ? '' : 's'} from this sender were counted but not kept: over ingest.rejectedPerDevicePerSecond)` : ''
    if (list.length === 1 && !e.decoded.omitted) {
      out.push({ receivedAt: e.receivedAt, clientId: e.clientId, deviceId: first.deviceId, topic: e.topic, reason: first.reason, detail: first.detail + unkept, payload: first.payload, payloadBytes: first.payloadBytes, counts: null })
      continue
    }
    const counts = new Map<string, number>()
    for (const r of list) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1)
    if (e.decoded.omitted) for (const [reason, n] of e.decoded.omitted) counts.set(reason, (counts.get(reason) ?? 0) + n)
    const total = rejectionCount(e.decoded)
    const summary = [...counts].map(([reason, n]) => `${reason} x${n}`).join(', ')
    let detail = `${total} refusals in this message (${summary}): ${list.slice(0, 5).map((r) => r.detail).join('; ')}`
    if (total > 5) detail += `; ...`
    if (detail.length > 1500) detail = `${detail.slice(0, 1500)}...`
    const device = list.every((r) => r.deviceId === first.deviceId) ? first.deviceId : null
    out.push({ receivedAt: e.receivedAt, clientId: e.clientId, deviceId: device, topic: e.topic, reason: first.reason, detail: detail + unkept, payload: e.payload.subarray(0, maxBytes), payloadBytes: e.payload.length, counts })
  }
  return out
}

function collectStatuses(envelopes: readonly Envelope[]): StatusChange[] {
  const out: StatusChange[] = []
  for (const e of envelopes) if (e.statuses) out.push(...e.statuses)
  return out
}

/**
 * Appends every report to the history and moves each device's current state
 * forward, never back: reports can arrive out of order (a will published late,
 * a buffered "online" resent), so the newest `since` wins. A change with
 * `power` (a device-status answer) also sets the device's battery and margin.
 */
async function recordStatuses(client: pg.PoolClient, statuses: StatusChange[]): Promise<void> {
  const params = [
    statuses.map((s) => s.deviceId),
    statuses.map((s) => s.state),
    statuses.map((s) => new Date(s.time).toISOString()),
    statuses.map((s) => new Date(s.receivedAt).toISOString()),
  ]
  const power = [
    statuses.map((s) => s.power?.batteryPercent ?? null),
    statuses.map((s) => s.power?.externalPower ?? null),
    statuses.map((s) => s.power?.marginDb ?? null),
  ]
  await client.query(
    `INSERT INTO device_status_history (device_id, state, time, received_at, battery_percent, external_power, margin_db)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::float8[], $6::boolean[], $7::smallint[])`,
    [...params, ...power],
  )
  await client.query(
    `INSERT INTO device_status (device_id, state, since, received_at)
     SELECT DISTINCT ON (device_id) * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS s (device_id, state, since, received_at)
     ORDER BY device_id, since DESC, received_at DESC
     ON CONFLICT (device_id) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, received_at = EXCLUDED.received_at
     WHERE device_status.since <= EXCLUDED.since`,
    params,
  )
  // The newest power report per device, on its own: a plain online/offline change keeps the last one,
  // and a report older than the one stored (out of order) does not replace it.
  const reports = statuses.filter((s) => s.power !== undefined)
  if (reports.length === 0) return
  await client.query(
    `UPDATE device_status d SET battery_percent = p.battery_percent, external_power = p.external_power, margin_db = p.margin_db, power_reported_at = p.time
       FROM (SELECT DISTINCT ON (device_id) * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::boolean[], $5::smallint[])
               AS r (device_id, time, battery_percent, external_power, margin_db) ORDER BY device_id, time DESC) p
      WHERE d.device_id = p.device_id AND (d.power_reported_at IS NULL OR d.power_reported_at <= p.time)`,
    [
      reports.map((s) => s.deviceId),
      reports.map((s) => new Date(s.time).toISOString()),
      reports.map((s) => s.power!.batteryPercent),
      reports.map((s) => s.power!.externalPower),
      reports.map((s) => s.power!.marginDb),
    ],
  )
}

/** Counts every refusal by reason (a row may stand for many). */
function countRejects(rejects: RejectRow[], result: SinkWriteResult): void {
  for (const r of rejects) {
    if (!r.counts) result.rejected.set(r.reason, (result.rejected.get(r.reason) ?? 0) + 1)
    else for (const [reason, n] of r.counts) result.rejected.set(reason, (result.rejected.get(reason) ?? 0) + n)
  }
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

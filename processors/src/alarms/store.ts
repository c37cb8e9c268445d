import type { ComponentLogger, Queryable } from '@gridline/core'
import type { AlarmChange, AlarmSeverity, AlarmState } from '../stream/events.ts'
import type { AlarmHistoryEntry, AlarmRecord } from './alarm-event.ts'


/** The little of a node-postgres Pool or Client the alarm store needs. */
export type QueryClient = Queryable

export type AlarmLogger = Pick<ComponentLogger, 'warn' | 'error'>

export interface AlarmStoreOptions {
  maxQueuedWrites: number
  retryMinMs?: number
  retryMaxMs?: number
  logger?: AlarmLogger
}

export interface HistoryFilter {
  alarmId?: string
  ruleId?: string
  subject?: string
  /** Epoch ms, inclusive. */
  from?: number
  /** Epoch ms, exclusive. */
  to?: number
  /** At most this many entries, in the order the changes were decided; default 1,000. */
  limit?: number
}

export interface AlarmStoreStats {
  queued: number
  written: number
  /** Changes the database refused (a data error, retrying cannot help); logged. */
  rejected: number
  /** Failed attempts that were retried (the database was unreachable, say). */
  retries: number
  /** Changes not persisted because the write queue was full. */
  dropped: number
}

interface Write {
  sql: string
  params: unknown[]
}

interface TransitionRow {
  eventId: string
  alarm: AlarmRecord
  transition: AlarmChange | 'flapping'
  time: number
  value: number | undefined
  message: string
  actor?: string | undefined
  comment?: string | undefined
}

const MS = (param: string) => `to_timestamp(${param}::float8 / 1000)`
const EPOCH_MS = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`

/** Appends the history row; params $1-$11 are the same in every transition statement. */
const INSERT_EVENT = `
INSERT INTO alarm_events (event_id, alarm_id, rule_id, subject, severity, transition, time, value, actor, comment, message)
VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, ${MS('$7')}, $8::float8, $9, $10, $11)
ON CONFLICT (event_id) DO NOTHING`

const RAISE = `
WITH alarm AS (
  INSERT INTO alarms (id, rule_id, subject, severity, state, flapping, message, raised_at, raised_value, last_value, device_id, domain, metric)
  VALUES ($2::uuid, $3, $4, $5, 'raised', false, $11, ${MS('$7')}, $8::float8, $8::float8, $12, $13, $14)
  ON CONFLICT (id) DO NOTHING
)${INSERT_EVENT}`

const CLEAR = `
WITH alarm AS (
  UPDATE alarms SET state = 'cleared', cleared_at = ${MS('$7')}, last_value = COALESCE($8::float8, last_value), flapping = false,
    shelved_at = NULL, shelved_until = NULL, shelved_by = NULL, shelve_reason = NULL, updated_at = now()
  WHERE id = $2::uuid
)${INSERT_EVENT}`

const ACKNOWLEDGE = `
WITH alarm AS (
  UPDATE alarms SET acknowledged_at = ${MS('$7')}, acknowledged_by = $9, ack_comment = $10,
    state = CASE WHEN cleared_at IS NULL THEN 'acknowledged' ELSE state END, updated_at = now()
  WHERE id = $2::uuid
)${INSERT_EVENT}`

const FLAPPING = `
WITH alarm AS (
  UPDATE alarms SET flapping = true, last_value = COALESCE($8::float8, last_value), updated_at = now() WHERE id = $2::uuid
)${INSERT_EVENT}`

/** $12 is when the shelve ends; the actor ($9) shelved it, the comment ($10) is the reason. */
const SHELVE = `
WITH alarm AS (
  UPDATE alarms SET shelved_at = ${MS('$7')}, shelved_until = ${MS('$12')}, shelved_by = $9, shelve_reason = $10, updated_at = now() WHERE id = $2::uuid
)${INSERT_EVENT}`

const UNSHELVE = `
WITH alarm AS (
  UPDATE alarms SET shelved_at = NULL, shelved_until = NULL, shelved_by = NULL, shelve_reason = NULL, updated_at = now() WHERE id = $2::uuid
)${INSERT_EVENT}`

const ESCALATE = `
WITH alarm AS (
  UPDATE alarms SET escalated_at = ${MS('$7')}, updated_at = now() WHERE id = $2::uuid
)${INSERT_EVENT}`

const ALARM_COLUMNS = `id::text AS id, rule_id, subject, severity, state, flapping, message,
  ${EPOCH_MS('raised_at')} AS raised_at, raised_value, last_value, ${EPOCH_MS('cleared_at')} AS cleared_at,
  ${EPOCH_MS('acknowledged_at')} AS acknowledged_at, acknowledged_by, ack_comment, device_id, domain, metric,
  ${EPOCH_MS('shelved_at')} AS shelved_at, ${EPOCH_MS('shelved_until')} AS shelved_until, shelved_by, shelve_reason, ${EPOCH_MS('escalated_at')} AS escalated_at`

/**
 * Alarm state and history in PostgreSQL (`alarms`, `alarm_events`; see
 * migrations.ts). Changes are written in the order they were decided, one
 * statement each, by a single background loop, so evaluation never waits on
 * the database. A statement that fails because the database is unreachable
 * is retried (capped exponential backoff with jitter) and holds back the ones
 * after it; one the database refuses is logged and skipped.
 */
export class AlarmStore {
  private queue: Write[] = []
  private head = 0
  private draining: Promise<void> | undefined
  private closed = false
  private wakeRetry: (() => void) | undefined
  readonly counters = { written: 0, rejected: 0, retries: 0, dropped: 0 }

  constructor(private readonly db: QueryClient, private readonly options: AlarmStoreOptions) {}

  async loadActive(): Promise<AlarmRecord[]> {
    const { rows } = await this.db.query(`SELECT ${ALARM_COLUMNS} FROM alarms WHERE cleared_at IS NULL ORDER BY raised_at`)
    return rows.map((r) => toRecord(r as Record<string, unknown>))
  }

  async find(alarmId: string): Promise<AlarmRecord | undefined> {
    const { rows } = await this.db.query(`SELECT ${ALARM_COLUMNS} FROM alarms WHERE id::text = $1`, [alarmId])
    return rows[0] === undefined ? undefined : toRecord(rows[0] as Record<string, unknown>)
  }

  async history(filter: HistoryFilter = {}): Promise<AlarmHistoryEntry[]> {
    const where: string[] = []
    const params: unknown[] = []
    const add = (clause: string, value: unknown) => {
      params.push(value)
      where.push(clause.replace('?', `$${params.length}`))
    }
    if (filter.alarmId !== undefined) add('alarm_id::text = ?', filter.alarmId)
    if (filter.ruleId !== undefined) add('rule_id = ?', filter.ruleId)
    if (filter.subject !== undefined) add('subject = ?', filter.subject)
    if (filter.from !== undefined) add(`time >= ${MS('?')}`, filter.from)
    if (filter.to !== undefined) add(`time < ${MS('?')}`, filter.to)
    params.push(Math.min(Math.max(1, filter.limit ?? 1_000), 100_000))
    const { rows } = await this.db.query(
      `SELECT event_id::text AS event_id, alarm_id::text AS alarm_id, rule_id, subject, severity, transition,
         ${EPOCH_MS('time')} AS time, value, actor, comment, message
       FROM alarm_events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id LIMIT $${params.length}`,
      params,
    )
    return rows.map((raw) => {
      const r = raw as Record<string, unknown>
      const entry: AlarmHistoryEntry = {
        eventId: String(r.event_id),
        alarmId: String(r.alarm_id),
        ruleId: String(r.rule_id),
        subject: String(r.subject),
        severity: r.severity as AlarmSeverity,
        transition: r.transition as AlarmHistoryEntry['transition'],
        time: Number(r.time),
        message: String(r.message),
      }
      if (r.value !== null) entry.value = Number(r.value)
      if (r.actor !== null) entry.actor = String(r.actor)
      if (r.comment !== null) entry.comment = String(r.comment)
      return entry
    })
  }

  /** Queues one lifecycle change for writing; never waits. */
  record(change: TransitionRow): void {
    const a = change.alarm
    const params: unknown[] = [
      change.eventId, a.id, a.ruleId, a.subject, a.severity, change.transition, change.time,
      change.value ?? null, change.actor ?? null, change.comment ?? null, change.message,
    ]
    let sql: string
    switch (change.transition) {
      case 'raised':
        sql = RAISE
        params.push(a.deviceId ?? null, a.domain ?? null, a.metric ?? null)
        break
      case 'cleared':
        sql = CLEAR
        break
      case 'acknowledged':
        sql = ACKNOWLEDGE
        break
      case 'flapping':
        sql = FLAPPING
        break
      case 'shelved':
        sql = SHELVE
        params.push(a.shelvedUntil ?? change.time)
        break
      case 'unshelved':
        sql = UNSHELVE
        break
      case 'escalated':
        sql = ESCALATE
        break
    }
    this.enqueue({ sql, params })
  }

  stats(): AlarmStoreStats {
    return { queued: this.queue.length - this.head, ...this.counters }
  }

  /** Resolves once everything queued so far is written (or refused). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining
  }

  /** Writes what is queued, then stops retrying; later changes are not persisted. */
  async close(): Promise<void> {
    await this.flush()
    this.closed = true
    this.wakeRetry?.()
  }

  private enqueue(write: Write): void {
    if (this.closed) {
      this.counters.dropped++
      return
    }
    if (this.queue.length - this.head >= this.options.maxQueuedWrites) {
      if (this.counters.dropped++ === 0) {
        this.options.logger?.error({ maxQueuedWrites: this.options.maxQueuedWrites }, 'The alarm write queue is full: alarm changes are no longer persisted until the database catches up.')
      }
      return
    }
    this.queue.push(write)
    this.kick()
  }

  private kick(): void {
    if (this.draining) return
    this.draining = this.drain().finally(() => {
      this.draining = undefined
      // A change queued between the loop's end and this callback.
      if (this.head < this.queue.length) this.kick()
    })
  }

  private async drain(): Promise<void> {
    let attempt = 0
    while (this.head < this.queue.length) {
      const write = this.queue[this.head]!
      try {
        await this.db.query(write.sql, write.params)
        this.counters.written++
      } catch (err) {
        if (isPermanent(err)) {
          this.counters.rejected++
          this.options.logger?.error({ err, params: write.params.slice(1, 6) }, 'The database refused an alarm change; it is skipped.')
        } else if (!this.closed) {
          this.counters.retries++
          if (attempt === 0) this.options.logger?.warn({ err }, 'Writing an alarm change failed; retrying with backoff.')
          await this.backoff(attempt++)
          continue
        } else {
          this.counters.dropped++
        }
      }
      attempt = 0
      this.queue[this.head++] = undefined as unknown as Write
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
    }
    this.queue = []
    this.head = 0
  }

  private backoff(attempt: number): Promise<void> {
    const min = this.options.retryMinMs ?? 100
    const max = this.options.retryMaxMs ?? 5_000
    const bound = Math.min(max, min * 2 ** attempt)
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.random() * bound)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wakeRetry = done
    })
  }
}

/** Data errors (22), constraint violations (23) and undefined objects or syntax (42) fail the same way every time. */
function isPermanent(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && /^(22|23|42)[0-9A-Z]{3}$/.test(code)
}

function toRecord(r: Record<string, unknown>): AlarmRecord {
  const record: AlarmRecord = {
    id: String(r.id),
    ruleId: String(r.rule_id),
    subject: String(r.subject),
    severity: r.severity as AlarmSeverity,
    state: r.state as AlarmState,
    flapping: Boolean(r.flapping),
    message: String(r.message),
    raisedAt: Number(r.raised_at),
  }
  const optionalNumber = (key: keyof AlarmRecord, value: unknown) => {
    if (value !== null && value !== undefined) (record as unknown as Record<string, unknown>)[key] = Number(value)
  }
  const optionalString = (key: keyof AlarmRecord, value: unknown) => {
    if (value !== null && value !== undefined) (record as unknown as Record<string, unknown>)[key] = String(value)
  }
  optionalNumber('raisedValue', r.raised_value)
  optionalNumber('lastValue', r.last_value)
  optionalNumber('clearedAt', r.cleared_at)
  optionalNumber('acknowledgedAt', r.acknowledged_at)
  optionalString('acknowledgedBy', r.acknowledged_by)
  optionalString('comment', r.ack_comment)
  optionalString('deviceId', r.device_id)
  optionalString('domain', r.domain)
  optionalString('metric', r.metric)
  optionalNumber('shelvedAt', r.shelved_at)
  optionalNumber('shelvedUntil', r.shelved_until)
  optionalString('shelvedBy', r.shelved_by)
  optionalString('shelveReason', r.shelve_reason)
  optionalNumber('escalatedAt', r.escalated_at)
  return record
}

import { randomUUID } from 'node:crypto'
import { GridlineError, type Logger } from '@gridline/core'
import type { AlarmEventDetail } from '@gridline/processors'
import type pg from 'pg'
import { Counter, Gauge, type Registry } from 'prom-client'
import { type NotificationBody, notificationBody } from './body.ts'
import type { NotificationEndpoint, NotificationMatch, NotificationsConfig } from './config.ts'
import { EmailSender } from './email.ts'
import { type AttemptResult, postWebhook } from './webhook.ts'

export interface NotificationDeps {
  pool: pg.Pool
  logger: Logger
  registry?: Registry
  /** The district of an alarm's device (its metadata `district`), for routing. */
  deviceDistrict?: (deviceId: string) => string | undefined
  env?: NodeJS.ProcessEnv
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead'

export interface DeliveryRow {
  id: string
  endpoint: string
  channel: 'webhook' | 'email'
  idempotencyKey: string
  alarmId: string
  ruleId: string
  subject: string
  severity: string
  state: string
  status: DeliveryStatus
  attempts: number
  createdAt: number
  nextAttemptAt: number | null
  lastAttemptAt: number | null
  lastStatus: number | null
  lastError: string | null
  deliveredAt: number | null
  deadAt: number | null
  deadReason: string | null
  replays: number
}

interface QueuedRow { endpoint: string; channel: 'webhook' | 'email'; key: string; body: NotificationBody }
interface DueRow { id: string; endpoint: string; body: string; idempotency_key: string; attempts: number; window_start: Date }

const MAX_UNWRITTEN_EVENTS = 10_000
const CLEANUP_INTERVAL_MS = 600_000

/**
 * Alarm events to webhooks and email (docs/notifications.md). `offer` routes
 * each event to the endpoints whose `match` it passes and queues one row per
 * endpoint in `notification_deliveries`, in the order the events came; the
 * worker sends what is due, only the oldest pending row of each alarm and
 * endpoint at a time, so an alarm's later event waits for its earlier one.
 * A failed attempt is retried with capped exponential backoff and jitter
 * until `retryForMs` after it was queued, then dead-lettered with the reason.
 *
 * Lifecycle: `offer` once the migrations have run (it writes at once; the
 * alarm engine emits nothing before its own start, which follows them);
 * `start` once, which begins sending; `stop` once, which waits for the
 * attempts in flight and the queue writes. Never concurrent with another
 * instance on the same database (one ingest process per database).
 */
export class NotificationService {
  private readonly endpoints: ReadonlyMap<string, NotificationEndpoint>
  private readonly secrets = new Map<string, string>()
  private readonly email: EmailSender | undefined
  private readonly inFlight = new Map<string, Promise<void>>()
  private writes: Promise<void> = Promise.resolve()
  private unwritten = 0
  private started = false
  private stopping = false
  private timer: NodeJS.Timeout | undefined
  private ticking = false
  private tickAgain = false
  private lastCleanup = 0
  private droppedLogged = false
  private readonly metrics: {
    delivered: Counter<'endpoint'>
    failed: Counter<'endpoint'>
    dead: Counter<'endpoint'>
    dropped: Counter
  }

  constructor(private readonly config: NotificationsConfig, private readonly deps: NotificationDeps) {
    const env = deps.env ?? process.env
    this.endpoints = new Map(config.enabled ? Object.entries(config.endpoints).filter(([, e]) => e.enabled) : [])
    const problems: string[] = []
    for (const [id, e] of this.endpoints) {
      if (e.type !== 'webhook') continue
      const secret = env[e.secretEnv]
      if (!secret || secret.length < 16) problems.push(`notifications.endpoints.${id}.secretEnv: ${e.secretEnv} must hold the signing secret, at least 16 characters`)
      else this.secrets.set(id, secret)
    }
    const smtp = config.smtp
    if (smtp.passwordEnv && !env[smtp.passwordEnv]) problems.push(`notifications.smtp.passwordEnv: ${smtp.passwordEnv} is not set`)
    if (problems.length > 0) throw new GridlineError('GRIDLINE_CONFIG_INVALID', `The notifications config has ${problems.length} problem(s):\n${problems.join('\n')}`)
    this.email = [...this.endpoints.values()].some((e) => e.type === 'email') ? new EmailSender(smtp, smtp.passwordEnv ? env[smtp.passwordEnv] : undefined) : undefined
    const registers = deps.registry && this.endpoints.size > 0 ? [deps.registry] : []
    this.metrics = {
      delivered: new Counter({ name: 'gridline_notifications_delivered_total', help: 'Alarm notifications delivered, by endpoint.', labelNames: ['endpoint'], registers }),
      failed: new Counter({ name: 'gridline_notifications_failed_attempts_total', help: 'Delivery attempts that failed (each is retried until the retry window ends), by endpoint.', labelNames: ['endpoint'], registers }),
      dead: new Counter({ name: 'gridline_notifications_dead_lettered_total', help: 'Deliveries dead-lettered after the retry window, by endpoint.', labelNames: ['endpoint'], registers }),
      dropped: new Counter({ name: 'gridline_notifications_unqueued_total', help: 'Alarm events not queued for notification because too many were waiting for the database.', registers }),
    }
    for (const id of this.endpoints.keys()) for (const m of [this.metrics.delivered, this.metrics.failed, this.metrics.dead]) m.inc({ endpoint: id }, 0)
    const pool = deps.pool
    const ids = [...this.endpoints.keys()]
    new Gauge({
      name: 'gridline_notifications_queue_depth',
      help: 'Deliveries waiting (pending), by endpoint.',
      labelNames: ['endpoint'],
      registers,
      async collect() {
        let rows: Array<{ endpoint: string; n: string }>
        try {
          rows = (await pool.query<{ endpoint: string; n: string }>("SELECT endpoint, count(*) AS n FROM notification_deliveries WHERE status = 'pending' GROUP BY endpoint")).rows
        } catch {
          return // the database is unreachable: the gauge keeps its last values, /metrics still answers
        }
        const depth = new Map(rows.map((r) => [r.endpoint, Number(r.n)]))
        for (const id of new Set([...ids, ...depth.keys()])) this.set({ endpoint: id }, depth.get(id) ?? 0)
      },
    })
  }

  /** True when at least one endpoint is configured and enabled. */
  get active(): boolean {
    return this.endpoints.size > 0
  }

  /** Endpoint ids with their type, for the admin page. */
  describeEndpoints(): Array<{ id: string; type: string }> {
    return [...this.endpoints].map(([id, e]) => ({ id, type: e.type }))
  }

  /**
   * Routes one alarm event and queues it for every endpoint that matches.
   * Synchronous and never throws: the write is chained behind the earlier
   * ones, so the queue's order is the order of the events.
   */
  offer(event: AlarmEventDetail): void {
    if (this.endpoints.size === 0 || this.stopping) return
    if (!notifiable(event)) return
    const district = this.districtOf(event)
    const rows: QueuedRow[] = []
    const key = randomUUID()
    const body = notificationBody(event, key, Date.now(), district)
    for (const [id, endpoint] of this.endpoints) {
      if (matches(endpoint.match, event, district)) rows.push({ endpoint: id, channel: endpoint.type, key, body })
    }
    if (rows.length === 0) return
    if (this.unwritten >= MAX_UNWRITTEN_EVENTS) {
      this.metrics.dropped.inc()
      if (!this.droppedLogged) this.deps.logger.error({ alarmId: event.alarmId }, `${MAX_UNWRITTEN_EVENTS} alarm events wait to be queued for notification (the database is unreachable); further ones are counted (gridline_notifications_unqueued_total), not sent.`)
      this.droppedLogged = true
      return
    }
    this.unwritten++
    this.writes = this.writes.then(() => this.insert(rows)).finally(() => { this.unwritten-- })
  }

  /** Starts the worker; events offered before are written now. */
  start(): void {
    if (this.started || this.endpoints.size === 0) return
    this.started = true
    this.schedule(0)
  }

  /** Stops sending: waits for the attempts in flight and the queue writes; what is left is sent after the next start. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearTimeout(this.timer)
    await Promise.allSettled([...this.inFlight.values()])
    await this.writes
    this.email?.close()
  }

  /** Waits until the events offered so far are in the queue table (tests). */
  async flush(): Promise<void> {
    await this.writes
  }

  async list(filter: { status?: DeliveryStatus | undefined; endpoint?: string | undefined; alarmId?: string | undefined; limit?: number }): Promise<DeliveryRow[]> {
    const { rows } = await this.deps.pool.query(
      `SELECT * FROM notification_deliveries
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR endpoint = $2) AND ($3::text IS NULL OR alarm_id = $3)
        ORDER BY id DESC LIMIT $4`,
      [filter.status ?? null, filter.endpoint ?? null, filter.alarmId ?? null, Math.min(Math.max(filter.limit ?? 100, 1), 1_000)],
    )
    return rows.map(deliveryView)
  }

  /** Counts by endpoint and status. */
  async summary(): Promise<Array<{ endpoint: string; type: string; pending: number; delivered: number; dead: number }>> {
    const { rows } = await this.deps.pool.query<{ endpoint: string; status: DeliveryStatus; n: string }>('SELECT endpoint, status, count(*) AS n FROM notification_deliveries GROUP BY endpoint, status')
    const out = new Map<string, { endpoint: string; type: string; pending: number; delivered: number; dead: number }>()
    for (const [id, e] of this.endpoints) out.set(id, { endpoint: id, type: e.type, pending: 0, delivered: 0, dead: 0 })
    for (const r of rows) {
      const s = out.get(r.endpoint) ?? { endpoint: r.endpoint, type: 'removed', pending: 0, delivered: 0, dead: 0 }
      s[r.status] = Number(r.n)
      out.set(r.endpoint, s)
    }
    return [...out.values()]
  }

  /**
   * Queues a dead-lettered delivery again, with a fresh retry window. Its
   * idempotency key is the same, so a receiver that did get it once can tell.
   * Throws GRIDLINE_NOT_FOUND when no dead delivery has that id.
   */
  async replay(id: string): Promise<DeliveryRow> {
    if (!/^\d{1,18}$/.test(id)) throw new GridlineError('GRIDLINE_NOT_FOUND', 'No delivery has that id.')
    const { rows } = await this.deps.pool.query(
      `UPDATE notification_deliveries SET status = 'pending', attempts = 0, window_start = now(), next_attempt_at = now(),
              dead_at = NULL, dead_reason = NULL, replays = replays + 1
        WHERE id = $1 AND status = 'dead' RETURNING *`,
      [id],
    )
    if (rows.length === 0) throw new GridlineError('GRIDLINE_NOT_FOUND', `No dead-lettered delivery has id ${id}: only a dead-lettered one can be replayed.`)
    this.wake()
    return deliveryView(rows[0])
  }

  private districtOf(event: AlarmEventDetail): string | undefined {
    if (event.deviceId) {
      const d = this.deps.deviceDistrict?.(event.deviceId)
      if (d) return d
    }
    return event.subject.startsWith('district:') ? event.subject.slice('district:'.length) : undefined
  }

  private async insert(rows: QueuedRow[]): Promise<void> {
    const values: unknown[] = []
    const tuples = rows.map((r, i) => {
      const a = r.body.alarm
      values.push(r.endpoint, r.channel, r.key, a.id, a.ruleId, a.subject, a.severity, a.state, JSON.stringify(r.body))
      const b = i * 9
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9})`
    })
    const sql = `INSERT INTO notification_deliveries (endpoint, channel, idempotency_key, alarm_id, rule_id, subject, severity, event_state, body)
                 VALUES ${tuples.join(', ')} ON CONFLICT (endpoint, idempotency_key) DO NOTHING`
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.pool.query(sql, values)
        this.wake()
        return
      } catch (err) {
        if (this.stopping && attempt >= 3) {
          this.metrics.dropped.inc()
          this.deps.logger.error({ err, alarmId: rows[0]!.body.alarm.id }, 'An alarm event could not be queued for notification before the service stopped; it is not sent.')
          return
        }
        if (attempt === 1) this.deps.logger.warn({ err }, 'Queueing an alarm notification failed; retrying (later events wait, in order).')
        await sleep(backoff(attempt, this.config.retryMinMs, Math.min(this.config.retryMaxMs, 30_000)))
      }
    }
  }

  private wake(): void {
    if (!this.started || this.stopping) return
    this.schedule(0)
  }

  private schedule(ms: number): void {
    if (this.stopping) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.tick(), ms)
    this.timer.unref()
  }

  private async tick(): Promise<void> {
    if (this.stopping) return
    if (this.ticking) {
      this.tickAgain = true
      return
    }
    this.ticking = true
    try {
      const free = this.config.concurrency - this.inFlight.size
      if (free > 0) {
        // Only the oldest pending row of each alarm and endpoint is due: order per alarm [docs/notifications.md#order].
        const { rows } = await this.deps.pool.query<DueRow>(
          `SELECT d.id, d.endpoint, d.body, d.idempotency_key, d.attempts, d.window_start FROM notification_deliveries d
            WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT (d.id = ANY ($1::bigint[]))
              AND NOT EXISTS (SELECT 1 FROM notification_deliveries e
                               WHERE e.status = 'pending' AND e.endpoint = d.endpoint AND e.alarm_id = d.alarm_id AND e.id < d.id)
            ORDER BY d.next_attempt_at, d.id LIMIT $2`,
          [[...this.inFlight.keys()], free],
        )
        for (const row of rows) {
          const id = String(row.id)
          const p = this.attempt(row).finally(() => {
            this.inFlight.delete(id)
            this.wake()
          })
          this.inFlight.set(id, p)
        }
      }
      if (this.config.keepDeliveredDays > 0 && Date.now() - this.lastCleanup > CLEANUP_INTERVAL_MS) {
        this.lastCleanup = Date.now()
        await this.deps.pool.query("DELETE FROM notification_deliveries WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => $1)", [this.config.keepDeliveredDays])
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'Reading the notification queue failed; trying again at the next poll.')
    } finally {
      this.ticking = false
    }
    if (this.tickAgain) {
      this.tickAgain = false
      this.schedule(0)
    } else {
      this.schedule(this.config.pollIntervalMs)
    }
  }

  private async attempt(row: DueRow): Promise<void> {
    const id = String(row.id)
    const endpoint = this.endpoints.get(row.endpoint)
    let result: AttemptResult
    if (!endpoint) {
      result = { ok: false, reason: `endpoint ${row.endpoint} is not configured (or disabled)` }
    } else if (endpoint.type === 'webhook') {
      result = await postWebhook(endpoint, this.secrets.get(row.endpoint)!, row.body, row.idempotency_key, id)
    } else {
      result = await this.email!.send(endpoint, JSON.parse(row.body) as NotificationBody)
    }
    try {
      if (result.ok) {
        await this.deps.pool.query(
          "UPDATE notification_deliveries SET status = 'delivered', attempts = attempts + 1, last_attempt_at = now(), last_status = $2, last_error = NULL, delivered_at = now() WHERE id = $1",
          [id, result.status],
        )
        this.metrics.delivered.inc({ endpoint: row.endpoint })
        return
      }
      this.metrics.failed.inc({ endpoint: row.endpoint })
      const attempts = row.attempts + 1
      const now = Date.now()
      const windowEnd = row.window_start.getTime() + this.config.retryForMs
      if (!endpoint || now >= windowEnd) {
        const reason = endpoint
          ? `retry window of ${formatDuration(this.config.retryForMs)} passed after ${attempts} attempt(s); last: ${result.reason}`
          : result.reason
        await this.deps.pool.query(
          "UPDATE notification_deliveries SET status = 'dead', attempts = $2, last_attempt_at = now(), last_status = $3, last_error = $4, dead_at = now(), dead_reason = $5 WHERE id = $1",
          [id, attempts, result.status ?? null, result.reason, reason],
        )
        this.metrics.dead.inc({ endpoint: row.endpoint })
        this.deps.logger.warn({ endpoint: row.endpoint, deliveryId: id, reason }, 'An alarm notification was dead-lettered.')
        return
      }
      let delay = backoff(attempts, this.config.retryMinMs, this.config.retryMaxMs)
      if (result.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(result.retryAfterMs, this.config.retryMaxMs))
      // The last attempt is made at the window's end, not skipped past it.
      const next = Math.min(now + delay, windowEnd)
      await this.deps.pool.query(
        'UPDATE notification_deliveries SET attempts = $2, last_attempt_at = now(), last_status = $3, last_error = $4, next_attempt_at = $5 WHERE id = $1',
        [id, attempts, result.status ?? null, result.reason, new Date(next)],
      )
    } catch (err) {
      // The row stays pending and due: it is attempted again (at least once).
      this.deps.logger.warn({ err, deliveryId: id }, 'Recording a notification attempt failed; it is attempted again.')
    }
  }
}

/** Capped exponential backoff with equal jitter: between half and all of min·2^(n-1), at most max. */
export function backoff(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30))
  return Math.round(cap / 2 + random() * (cap / 2))
}

/**
 * A shelved alarm is not notified [ISA-18.2 shelving]: of its changes only the `shelved` event itself
 * goes out (its `unshelved` and `cleared` events carry no shelve any more, so they go too);
 * docs/notifications.md#shelved-alarms.
 */
export function notifiable(event: Pick<AlarmEventDetail, 'state' | 'shelvedUntil'>): boolean {
  return event.shelvedUntil === undefined || event.state === 'shelved'
}

/** True when the event passes every list the endpoint's match sets. */
export function matches(match: NotificationMatch, event: AlarmEventDetail, district: string | undefined): boolean {
  if (match.events && !match.events.includes(event.state)) return false
  if (match.severities && !match.severities.includes(event.severity)) return false
  if (match.domains && (event.domain === undefined || !match.domains.includes(event.domain))) return false
  if (match.districts && (district === undefined || !match.districts.includes(district))) return false
  if (match.rules && !match.rules.some((r) => glob(r).test(event.ruleId))) return false
  return true
}

const globs = new Map<string, RegExp>()
function glob(pattern: string): RegExp {
  let re = globs.get(pattern)
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
    globs.set(pattern, re)
  }
  return re
}

function deliveryView(r: Record<string, unknown>): DeliveryRow {
  const ms = (v: unknown) => (v instanceof Date ? v.getTime() : null)
  return {
    id: String(r.id), endpoint: r.endpoint as string, channel: r.channel as 'webhook' | 'email', idempotencyKey: r.idempotency_key as string,
    alarmId: r.alarm_id as string, ruleId: r.rule_id as string, subject: r.subject as string, severity: r.severity as string, state: r.event_state as string,
    status: r.status as DeliveryStatus, attempts: Number(r.attempts), createdAt: ms(r.created_at)!, nextAttemptAt: r.status === 'pending' ? ms(r.next_attempt_at) : null,
    lastAttemptAt: ms(r.last_attempt_at), lastStatus: r.last_status === null ? null : Number(r.last_status), lastError: (r.last_error as string | null) ?? null,
    deliveredAt: ms(r.delivered_at), deadAt: ms(r.dead_at), deadReason: (r.dead_reason as string | null) ?? null, replays: Number(r.replays),
  }
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${ms / 1000} s`
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

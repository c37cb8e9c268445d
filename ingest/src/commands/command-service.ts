import { isUtf8 } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import { GridlineError, type Logger } from '@gridline/core'
import { CommandReplySchema, type DeviceCommand, MAX_REPLY_BYTES, commandTopic, validateCommand } from '@gridline/schemas'
import type pg from 'pg'
import type { Registry } from 'prom-client'
import { type CommandMetrics, createCommandMetrics } from './metrics.ts'

export type CommandStatus = 'pending' | 'ok' | 'rejected' | 'failed' | 'timeout'

/** One command and its result, as stored in `device_commands` and shown by the console. */
export interface CommandRecord {
  id: string
  deviceId: string
  domain: string
  action: string
  params: Record<string, unknown>
  status: CommandStatus
  detail: string | null
  user: string
  /** Epoch ms. */
  sentAt: number
  /** Epoch ms the reply was received; null while pending and for a timeout. */
  repliedAt: number | null
}

export interface CommandServiceDeps {
  pool: pg.Pool
  /** Publishes on the broker at QoS 1, not retained. */
  publish(topic: string, payload: string): void
  /** The live device registry: synchronous, it holds every registered device in memory. */
  lookup(deviceId: string): { domain: string; kind: string } | undefined
  logger: Logger
  /** A command not answered within this becomes `timeout` (config `commands.timeoutMs`). */
  timeoutMs: number
  registry?: Registry
}

/** A command as a transport gets it: the wire command and whom it is for. */
export interface OutgoingCommand extends DeviceCommand {
  deviceId: string
  domain: string
}

/**
 * A way to a device other than gridline's own `commands/{domain}/{deviceId}`
 * topic: a Sparkplug B DCMD, a LoRaWAN network server's downlink queue
 * (docs/protocol.md#commands-over-other-protocols). The first transport that
 * `reaches` a device takes its commands; a device none reaches gets them on
 * gridline's topic. A transport reports each command's result through
 * `CommandService.settle` (or lets it time out).
 */
export interface CommandTransport {
  /** Names the transport in logs and in a failure's detail: `sparkplug`, `chirpstack:<source>`. */
  readonly name: string
  /** Whether this device's commands go this way now (its Sparkplug edge node is live here, it has a DevEUI on this network server). */
  reaches(deviceId: string): boolean
  /**
   * Whether the device is of this transport's kind even when no transport
   * reaches it now (a Sparkplug device whose edge node is offline): its
   * commands then go to the first transport that claims it, whose `send`
   * fails them with its reason, rather than to gridline's topic.
   */
  claims?(deviceId: string): boolean
  /**
   * Sends the command; throws, with a sentence for the operator, when it
   * cannot (no mapping for the action, the device not born, the broker down):
   * the command is then `failed` with that sentence.
   */
  send(command: OutgoingCommand): void
}

export type ReplyResult = { ok: true } | { ok: false; reason: 'reply_invalid'; detail: string }

export interface CommandStats {
  sent: number
  ok: number
  rejected: number
  failed: number
  timeout: number
  lateReplies: number
  unknownReplies: number
  pending: number
}

interface PendingCommand {
  record: CommandRecord
  timer: NodeJS.Timeout
  /** The result is known and being stored: a further reply is late. */
  settling: boolean
  waiters: ((record: CommandRecord) => void)[]
}

/** Finished command ids remembered to tell a late reply from an unknown one. */
const REMEMBERED_FINISHED = 10_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const COLUMNS = `id, device_id, domain, action, params, status, detail, username, sent_at, replied_at`

/**
 * Sends operator commands to devices over MQTT and records their results
 * (docs/protocol.md#device-commands, docs/console-api.md#commands).
 *
 * Lifecycle: `start` once before `send`; `stop` once at shutdown, after which
 * `send` refuses. `onReply` is called by the MQTT source on its hot path and
 * never waits for the database. Results reach listeners and waiters after
 * they are stored, so a `get` made then sees them.
 */
export class CommandService {
  private readonly pending = new Map<string, PendingCommand>()
  /** id -> device id of commands no longer pending, oldest first (a Map keeps insertion order). */
  private readonly finished = new Map<string, string>()
  private readonly listeners = new Set<(record: CommandRecord) => void>()
  private readonly metrics: CommandMetrics
  private readonly counts = { sent: 0, ok: 0, rejected: 0, failed: 0, timeout: 0, lateReplies: 0, unknownReplies: 0 }
  /** Results being stored: stop() waits for them, so the pool is not ended under them. */
  private readonly finishing = new Set<Promise<void>>()
  private readonly transports: CommandTransport[] = []
  private running = false
  private sweepTimer: NodeJS.Timeout | undefined

  constructor(private readonly deps: CommandServiceDeps) {
    this.metrics = createCommandMetrics(deps.registry, () => this.pending.size)
  }

  /**
   * Starts taking commands. Commands left pending by a process that died
   * can never be answered here (their replies would be unknown): they are
   * marked `timeout` now, or once they are older than the timeout.
   */
  async start(): Promise<void> {
    this.running = true
    await this.sweepOrphans()
    this.sweepTimer = setTimeout(() => {
      this.sweepOrphans().catch((err) => this.deps.logger.error({ err }, 'Marking commands left pending by an earlier run as timed out failed; they stay pending.'))
    }, this.deps.timeoutMs)
    this.sweepTimer.unref()
  }

  /** Adds a way to devices (sources add theirs as they are built); returns the function that removes it. */
  addTransport(transport: CommandTransport): () => void {
    this.transports.push(transport)
    return () => {
      const at = this.transports.indexOf(transport)
      if (at >= 0) this.transports.splice(at, 1)
    }
  }

  /** Refuses new commands; every pending one becomes `timeout` with detail "service stopped". */
  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.sweepTimer)
    for (const entry of this.pending.values()) void this.finish(entry, 'timeout', 'service stopped', null)
    await Promise.all(this.finishing)
  }

  /**
   * Validates the command against its device's domain, stores it pending,
   * publishes it (QoS 1) on `commands/{domain}/{deviceId}` and starts its
   * timeout. Resolves with the pending record; the result comes through
   * `onChange` and `waitForResult`.
   */
  async send(input: { deviceId: string; action: string; params: Record<string, unknown> }, user: string): Promise<CommandRecord> {
    if (!this.running) throw new GridlineError('GRIDLINE_SHUTTING_DOWN', 'The command service is stopped and sends no commands; try again once the service has restarted.')
    const { deviceId, action } = input
    const device = this.deps.lookup(deviceId)
    if (!device) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `No device "${deviceId}" is registered; check the id, or register it first.`)
    if (device.kind !== 'device') {
      throw new GridlineError('GRIDLINE_COMMAND_INVALID', `"${deviceId}" is a ${device.kind}, not a device; commands go to devices (lighting: switch, dim, schedule; water: pump, schedule).`)
    }
    const checked = validateCommand(device.domain, action, input.params)
    if (!checked.ok) throw new GridlineError('GRIDLINE_COMMAND_INVALID', `Command "${action}" for "${deviceId}" (${device.domain}): ${checked.error}`)

    const record: CommandRecord = {
      id: randomUUID(), deviceId, domain: device.domain, action, params: checked.params,
      status: 'pending', detail: null, user, sentAt: Date.now(), repliedAt: null,
    }
    await this.deps.pool.query(
      `INSERT INTO device_commands (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, to_timestamp($7 / 1000.0), NULL)`,
      [record.id, deviceId, record.domain, action, JSON.stringify(record.params), user, record.sentAt],
    )
    const entry: PendingCommand = {
      record,
      // Registered before publishing: the reply may come back before publish returns.
      timer: setTimeout(() => void this.finish(entry, 'timeout', `The device sent no reply within ${this.deps.timeoutMs} ms.`, null), this.deps.timeoutMs),
      settling: false,
      waiters: [],
    }
    this.pending.set(record.id, entry)
    this.counts.sent++
    this.metrics.commands.inc({ outcome: 'sent' })
    if (!this.running) {
      // Stopped while the row was being stored: stop() did not see this one.
      await this.finish(entry, 'timeout', 'service stopped', null)
      return { ...entry.record }
    }
    const command: DeviceCommand = {
      id: record.id, action, params: record.params,
      ts: new Date(record.sentAt).toISOString(),
      expiresAt: new Date(record.sentAt + this.deps.timeoutMs).toISOString(),
    }
    const asks = (t: CommandTransport, question: 'reaches' | 'claims'): boolean => {
      try {
        return t[question]?.(deviceId) === true
      } catch (err) {
        this.deps.logger.error({ err, transport: t.name, deviceId }, 'A command transport failed to say whether it reaches a device; it is passed over.')
        return false
      }
    }
    const transport = this.transports.find((t) => asks(t, 'reaches')) ?? this.transports.find((t) => asks(t, 'claims'))
    try {
      if (transport) transport.send({ ...command, deviceId, domain: record.domain })
      else this.deps.publish(commandTopic(record.domain, deviceId), JSON.stringify(command))
    } catch (err) {
      this.deps.logger.error({ err, commandId: record.id, deviceId, transport: transport?.name ?? 'mqtt' }, 'Sending a command failed.')
      await this.finish(entry, 'failed', transport
        ? `${transport.name}: ${(err as Error).message}`
        : `The service could not publish the command: ${(err as Error).message}`, null)
      return { ...entry.record }
    }
    this.deps.logger.info({ commandId: record.id, deviceId, action, params: record.params, user, transport: transport?.name ?? 'mqtt' }, 'Sent a device command.')
    this.emit({ ...record })
    return { ...record }
  }

  /**
   * A PUBLISH on `replies/{domain}/{deviceId}` that the MQTT source has
   * already authorized as coming from that device (or auth is off). Never
   * waits: storing the result happens after it returns. A well-formed reply
   * that changes nothing (unknown id, another device's command, after the
   * timeout, a repeat) is counted and logged at debug, and is `ok: true`.
   */
  onReply(deviceId: string, domain: string, payload: Buffer): ReplyResult {
    if (payload.length > MAX_REPLY_BYTES) return invalid(`a reply may be at most ${MAX_REPLY_BYTES} bytes, got ${payload.length}`)
    if (!isUtf8(payload)) return invalid('the reply is not valid UTF-8')
    let body: unknown
    try {
      body = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      return invalid(`the reply is not JSON: ${(err as Error).message}`)
    }
    const parsed = CommandReplySchema.safeParse(body)
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')
      return invalid(`${problems}; a reply is {"id", "status": "ok"|"rejected"|"failed", "detail"?, "ts"?}`)
    }
    const reply = parsed.data
    const entry = this.pending.get(reply.id)
    const forThisDevice = (entry ? entry.record.deviceId : this.finished.get(reply.id)) === deviceId
      && (!entry || entry.record.domain === domain)
    if (entry && forThisDevice && !entry.settling) {
      void this.finish(entry, reply.status, reply.detail ?? null, Date.now())
      return { ok: true }
    }
    const reason = forThisDevice ? 'late' : 'unknown'
    if (reason === 'late') this.counts.lateReplies++
    else this.counts.unknownReplies++
    this.metrics.ignoredReplies.inc({ reason })
    this.deps.logger.debug({ deviceId, domain, commandId: reply.id, status: reply.status, reason }, 'Ignored a command reply.')
    return { ok: true }
  }

  /**
   * A transport's word on a command it sent (the network server's ack, the
   * device's reported value): the command takes that status unless it has
   * one already. False when it changed nothing (unknown id, another
   * device's command, already finished).
   */
  settle(id: string, deviceId: string, status: Exclude<CommandStatus, 'pending' | 'timeout'>, detail: string | null): boolean {
    const entry = this.pending.get(id)
    if (!entry || entry.settling || entry.record.deviceId !== deviceId) return false
    void this.finish(entry, status, detail, Date.now())
    return true
  }

  /** The commands of a device still waiting for their result, oldest first. */
  pendingFor(deviceId: string): CommandRecord[] {
    const out: CommandRecord[] = []
    for (const entry of this.pending.values()) if (entry.record.deviceId === deviceId && !entry.settling) out.push({ ...entry.record })
    return out
  }

  /**
   * Resolves with the command once it is no longer pending, or with it as it
   * is after `timeoutMs` (default: the command timeout plus 5 s, by which a
   * command of this process has always finished). A command another process
   * left pending resolves at once as it is stored.
   */
  async waitForResult(id: string, timeoutMs = this.deps.timeoutMs + 5_000): Promise<CommandRecord> {
    const entry = this.pending.get(id)
    if (!entry) {
      const stored = await this.get(id)
      if (!stored) throw new GridlineError('GRIDLINE_NOT_FOUND', `No command with id "${id}"; use the id that sending the command returned.`)
      // It may have been sent while the database was read.
      const late = this.pending.get(id)
      return late ? this.waitForResult(id, timeoutMs) : stored
    }
    return new Promise<CommandRecord>((resolve) => {
      const timer = setTimeout(() => resolve({ ...entry.record }), timeoutMs)
      entry.waiters.push((record) => {
        clearTimeout(timer)
        resolve(record)
      })
    })
  }

  /** Calls `listener` with each change: a command sent, a command's result. Returns the unsubscribe function. */
  onChange(listener: (record: CommandRecord) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async get(id: string): Promise<CommandRecord | undefined> {
    if (!UUID.test(id)) return undefined
    const { rows } = await this.deps.pool.query<CommandRow>(`SELECT ${COLUMNS} FROM device_commands WHERE id = $1`, [id])
    return rows[0] ? fromRow(rows[0]) : undefined
  }

  /** Newest first; `limit` defaults to 50 and is capped at 1,000. */
  async list(filter: { deviceId?: string; limit?: number } = {}): Promise<CommandRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 1_000)
    const { rows } = filter.deviceId === undefined
      ? await this.deps.pool.query<CommandRow>(`SELECT ${COLUMNS} FROM device_commands ORDER BY sent_at DESC LIMIT $1`, [limit])
      : await this.deps.pool.query<CommandRow>(`SELECT ${COLUMNS} FROM device_commands WHERE device_id = $1 ORDER BY sent_at DESC LIMIT $2`, [filter.deviceId, limit])
    return rows.map(fromRow)
  }

  stats(): CommandStats {
    return { ...this.counts, pending: this.pending.size }
  }

  /** Stores a result, then tells listeners and waiters. Never rejects: a failed update is logged, the result still delivered. */
  private finish(entry: PendingCommand, status: Exclude<CommandStatus, 'pending'>, detail: string | null, repliedAt: number | null): Promise<void> {
    if (entry.settling) return Promise.resolve()
    entry.settling = true
    const done = this.store(entry, status, detail, repliedAt).finally(() => this.finishing.delete(done))
    this.finishing.add(done)
    return done
  }

  private async store(entry: PendingCommand, status: Exclude<CommandStatus, 'pending'>, detail: string | null, repliedAt: number | null): Promise<void> {
    clearTimeout(entry.timer)
    const record: CommandRecord = { ...entry.record, status, detail, repliedAt }
    this.counts[status]++
    this.metrics.commands.inc({ outcome: status })
    try {
      await this.deps.pool.query(
        `UPDATE device_commands SET status = $2, detail = $3, replied_at = CASE WHEN $4::float8 IS NULL THEN NULL ELSE to_timestamp($4::float8 / 1000.0) END
          WHERE id = $1 AND status = 'pending'`,
        [record.id, status, detail, repliedAt],
      )
    } catch (err) {
      this.deps.logger.error({ err, commandId: record.id, status }, 'Storing a command result failed; the command stays pending in device_commands.')
    }
    this.pending.delete(record.id)
    this.finished.set(record.id, record.deviceId)
    if (this.finished.size > REMEMBERED_FINISHED) this.finished.delete(this.finished.keys().next().value!)
    entry.record = record
    this.deps.logger.info({ commandId: record.id, deviceId: record.deviceId, action: record.action, status, detail }, 'A device command finished.')
    this.emit({ ...record })
    for (const waiter of entry.waiters) waiter({ ...record })
  }

  private emit(record: CommandRecord): void {
    for (const listener of this.listeners) {
      try {
        listener(record)
      } catch (err) {
        this.deps.logger.error({ err, commandId: record.id }, 'A command listener failed.')
      }
    }
  }

  /** Pending rows older than the timeout that no command of this process owns: left by a process that died. */
  private async sweepOrphans(): Promise<void> {
    const { rowCount } = await this.deps.pool.query(
      `UPDATE device_commands SET status = 'timeout', detail = 'The service restarted before the device replied.'
        WHERE status = 'pending' AND sent_at < to_timestamp($1 / 1000.0) AND NOT (id = ANY($2::uuid[]))`,
      [Date.now() - this.deps.timeoutMs, [...this.pending.keys()]],
    )
    if (rowCount) this.deps.logger.info({ commands: rowCount }, 'Marked commands left pending by an earlier run as timed out.')
  }
}

const invalid = (detail: string): ReplyResult => ({ ok: false, reason: 'reply_invalid', detail })

interface CommandRow {
  id: string
  device_id: string
  domain: string
  action: string
  params: Record<string, unknown>
  status: CommandStatus
  detail: string | null
  username: string
  sent_at: Date
  replied_at: Date | null
}

function fromRow(row: CommandRow): CommandRecord {
  return {
    id: row.id,
    deviceId: row.device_id,
    domain: row.domain,
    action: row.action,
    params: row.params,
    status: row.status,
    detail: row.detail,
    user: row.username,
    sentAt: row.sent_at.getTime(),
    repliedAt: row.replied_at ? row.replied_at.getTime() : null,
  }
}

import { hostname } from 'node:os'
import pg from 'pg'
import { GridlineError, type Logger, redactUrl } from '@gridline/core'

/**
 * The advisory lock key one ingest process holds on its database for its
 * whole life (migrations serialise on 727274, the key before it).
 *
 * Why: the processors keep per-device state in memory (seq tracking, quality
 * history, rollup windows written with overwrite semantics, alarm state,
 * pending commands, the console's city state). Two processes on one database
 * would each see half of a device's readings and overwrite each other's
 * rollup buckets. Until the scale-out work moves that state onto NATS
 * JetStream (docs/adr/0001-multiple-ingest-processes.md), one ingest process
 * per database is the supported deployment, and a second one is refused.
 */
export const INSTANCE_LOCK_KEY = 727275

/** What a process does when another already holds the lock. */
export type SecondInstancePolicy = 'refuse' | 'warn'

/** Who holds the lock, as PostgreSQL sees the holder's session. */
export interface LockHolder {
  applicationName: string
  clientAddress: string | null
  since: string | null
}

/**
 * The one-ingest-process-per-database lock: a session-level advisory lock
 * held on a connection of its own for the life of the service.
 *
 * Lifecycle: `acquire` once at start (after the migrations); `release` at
 * stop. If the lock's session is lost (the database restarted, the
 * connection was cut), the lock is gone with it: the process logs an error
 * and takes it again every `retryMs` until it has it, and logs loudly if
 * meanwhile another process took it. With policy `warn` a process that
 * found the lock taken runs anyway, logs an error naming the holder, and
 * keeps trying to take the lock so it holds it once the other stops.
 */
export class InstanceLock {
  private client: pg.Client | undefined
  private retry: NodeJS.Timeout | undefined
  private closed = false
  private held = false

  private constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly retryMs: number,
  ) {}

  /** True while this process holds the lock. */
  get isHeld(): boolean {
    return this.held
  }

  /**
   * Takes the lock, or throws `GRIDLINE_SECOND_INSTANCE` naming the holder
   * (policy `refuse`), or logs that error and runs on (policy `warn`).
   */
  static async acquire(url: string, policy: SecondInstancePolicy, logger: Logger, retryMs = 5_000): Promise<InstanceLock> {
    const lock = new InstanceLock(url, logger, retryMs)
    const holder = await lock.tryTake()
    if (holder === undefined) return lock
    const message = `Another gridline ingest process already runs on the database ${redactUrl(url)} (${describe(holder)}). ` +
      'One ingest process per database is the supported deployment: stop the other one, or point this one at another database. ' +
      'See docs/operations.md#one-ingest-process-per-database.'
    if (policy === 'refuse') {
      await lock.release()
      throw new GridlineError('GRIDLINE_SECOND_INSTANCE', message)
    }
    logger.error({ code: 'GRIDLINE_SECOND_INSTANCE', holder }, `${message} Running anyway (processors.onSecondInstance: warn): per-device state, rollups and alarms will be wrong while both run.`)
    lock.scheduleRetry()
    return lock
  }

  /** Lets go of the lock and its connection. Idempotent. */
  async release(): Promise<void> {
    this.closed = true
    clearTimeout(this.retry)
    const client = this.client
    this.client = undefined
    this.held = false
    // Ending the session releases a session-level advisory lock.
    if (client) await client.end().catch(() => undefined)
  }

  /** Connects if needed and tries the lock: undefined when taken, else who holds it. */
  private async tryTake(): Promise<LockHolder | undefined> {
    const client = await this.connect()
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [INSTANCE_LOCK_KEY])
    if (rows[0]?.ok) {
      this.held = true
      return undefined
    }
    return (await this.holder(client)) ?? { applicationName: 'unknown', clientAddress: null, since: null }
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client
    const client = new pg.Client({
      connectionString: this.url,
      application_name: `gridline-ingest ${hostname()} pid ${process.pid}`,
      connectionTimeoutMillis: 10_000,
    })
    // A lost session must not crash the process: it is noticed here and the lock taken again.
    client.on('error', (err) => this.lost(client, err))
    client.on('end', () => this.lost(client))
    try {
      await client.connect()
    } catch (err) {
      client.removeAllListeners('end')
      throw err
    }
    this.client = client
    return client
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client || this.closed) return
    this.client = undefined
    const wasHeld = this.held
    this.held = false
    client.end().catch(() => undefined)
    if (wasHeld) this.logger.error({ err }, 'Lost the database session that held the one-ingest-process lock; taking it again.')
    this.scheduleRetry()
  }

  private scheduleRetry(): void {
    if (this.closed) return
    clearTimeout(this.retry)
    this.retry = setTimeout(() => {
      this.tryTake().then((holder) => {
        if (holder === undefined) {
          this.logger.info('Holding the one-ingest-process lock on the database.')
          return
        }
        this.logger.error({ code: 'GRIDLINE_SECOND_INSTANCE', holder }, `Another gridline ingest process holds the one-ingest-process lock (${describe(holder)}); this one keeps running and tries again.`)
        this.scheduleRetry()
      }).catch((err) => {
        this.logger.warn({ err }, 'Could not take the one-ingest-process lock yet; trying again.')
        const client = this.client
        this.client = undefined
        client?.end().catch(() => undefined)
        this.scheduleRetry()
      })
    }, this.retryMs)
    this.retry.unref()
  }

  private async holder(client: pg.Client): Promise<LockHolder | undefined> {
    // A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    const { rows } = await client.query<{ application_name: string; client_addr: string | null; backend_start: Date | null }>(
      `SELECT a.application_name, host(a.client_addr) AS client_addr, a.backend_start
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1 AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [INSTANCE_LOCK_KEY],
    )
    const row = rows[0]
    if (!row) return undefined
    return { applicationName: row.application_name || 'unnamed', clientAddress: row.client_addr, since: row.backend_start?.toISOString() ?? null }
  }
}

function describe(holder: LockHolder): string {
  const from = holder.clientAddress ? ` from ${holder.clientAddress}` : ''
  const since = holder.since ? `, connected since ${holder.since}` : ''
  return `held by "${holder.applicationName}"${from}${since}`
}

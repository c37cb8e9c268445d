import type { Logger } from '@gridline/core'
import type { SqlClient } from '../storage/sql-client.ts'

export interface AuditEntry {
  at: number
  actor: string
  action: string
  target: string | null
  detail: Record<string, unknown>
  outcome: string
}

/**
 * Who did what, when: logins, acknowledgements, commands, user and device
 * changes, Node-RED deploys. Written in the background so no request waits on
 * it; a write that fails is logged and counted, never silently lost.
 */
export class AuditLog {
  failures = 0
  /** Entries are written one after another, so the log's order is the order things happened. */
  private tail: Promise<void> = Promise.resolve()

  constructor(private readonly db: SqlClient, private readonly logger: Logger) {}

  record(actor: string, action: string, target: string | null, detail: Record<string, unknown>, outcome = 'ok'): void {
    const at = new Date()
    this.tail = this.tail.then(() => this.db.query(
      'INSERT INTO audit_log (at, actor, action, target, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6)',
      [at, actor, action, target, JSON.stringify(detail), outcome],
    )).then(() => undefined, (err: unknown) => {
      this.failures++
      this.logger.error({ err, actor, action, target }, 'Writing an audit entry failed.')
    })
  }

  /** Waits for the entries recorded so far (tests, shutdown). */
  async flush(): Promise<void> {
    await this.tail
  }

  async recent(limit = 100): Promise<AuditEntry[]> {
    await this.flush()
    const { rows } = await this.db.query<{ at: Date; actor: string; action: string; target: string | null; detail: Record<string, unknown>; outcome: string }>(
      'SELECT at, actor, action, target, detail, outcome FROM audit_log ORDER BY id DESC LIMIT $1',
      [Math.min(Math.max(1, limit), 1_000)],
    )
    return rows.map((r) => ({ at: r.at.getTime(), actor: r.actor, action: r.action, target: r.target, detail: r.detail, outcome: r.outcome }))
  }
}

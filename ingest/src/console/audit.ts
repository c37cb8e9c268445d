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
    // Rendered now, while the caller's objects are as they were; bounded, so any detail (deep, cyclic, huge) makes an entry.
    const rendered = renderDetail(detail)
    this.tail = this.tail.then(() => this.db.query(
      'INSERT INTO audit_log (at, actor, action, target, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6)',
      [at, String(actor).slice(0, 200), action, target === null ? null : String(target).slice(0, 500), rendered, outcome],
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

export const AUDIT_DETAIL_LIMITS = { depth: 6, keys: 50, items: 50, stringChars: 2_000, totalChars: 16_000 } as const

/**
 * An audit detail as bounded, safe JSON: nesting below `depth` becomes
 * "[nested]", long strings and lists are cut (saying so), cycles, functions,
 * bigints and symbols are shown by name, and the whole stays under
 * `totalChars` (else a summary of its keys). Never throws: whatever a caller
 * hands in, the entry is written.
 */
export function renderDetail(detail: unknown): string {
  const L = AUDIT_DETAIL_LIMITS
  const seen = new Set<object>()
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v === 'boolean') return v
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v)
    if (typeof v === 'string') return v.length > L.stringChars ? `${v.slice(0, L.stringChars)}... [${v.length} chars]` : v
    if (typeof v === 'bigint') return `${v}n`
    if (typeof v === 'undefined') return null
    if (typeof v !== 'object') return `[${typeof v}]`
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
    if (v instanceof Error) return { error: v.message.slice(0, L.stringChars) }
    if (seen.has(v)) return '[cycle]'
    if (depth >= L.depth) return Array.isArray(v) ? `[nested list, ${v.length} items]` : '[nested object]'
    seen.add(v)
    try {
      if (Array.isArray(v)) {
        const items = v.slice(0, L.items).map((x) => walk(x, depth + 1))
        if (v.length > L.items) items.push(`... ${v.length - L.items} more`)
        return items
      }
      const out: Record<string, unknown> = {}
      const keys = Object.keys(v)
      for (const key of keys.slice(0, L.keys)) out[key.slice(0, 200)] = walk((v as Record<string, unknown>)[key], depth + 1)
      if (keys.length > L.keys) out['...'] = `${keys.length - L.keys} more keys`
      return out
    } catch (err) {
      return `[unreadable: ${(err as Error)?.message ?? 'error'}]`
    } finally {
      seen.delete(v)
    }
  }
  try {
    const text = JSON.stringify(walk(detail, 0)) ?? 'null'
    if (text.length <= L.totalChars) return text
    const keys = detail && typeof detail === 'object' ? Object.keys(detail).slice(0, L.keys) : []
    return JSON.stringify({ truncated: true, chars: text.length, keys, start: text.slice(0, 1_000) })
  } catch (err) {
    return JSON.stringify({ unrenderable: String((err as Error)?.message ?? err).slice(0, 500) })
  }
}

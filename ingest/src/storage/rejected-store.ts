import { GridlineError } from '@gridline/core'
import type { SqlClient } from './sql-client.ts'

/** A filter on the `rejected` table (the console's /api/rejected and `gridline rejected`). */
export interface RejectedFilter {
  deviceId?: string | undefined
  reason?: string | undefined
  /** Epoch ms: only refusals received at or after it. */
  since?: number | undefined
  /** Only refusals with a smaller id (paging back: the last page's smallest id). */
  beforeId?: number | undefined
  limit: number
}

/** One dead-lettered refusal, its payload as text. */
export interface RejectedEntry {
  id: number
  receivedAt: number
  clientId: string | null
  deviceId: string | null
  topic: string
  reason: string
  detail: string
  /**
   * The stored payload (up to `ingest.rejectedPayloadMaxBytes`) decoded as
   * UTF-8, invalid bytes as U+FFFD; shown as text, never as markup.
   */
  payloadText: string
  /** Size of the payload as received; larger than payloadText's bytes when it was cut. */
  payloadBytes: number
  /** True when only the start of the payload was kept. */
  payloadTruncated: boolean
}

export const REJECTED_MAX_LIMIT = 1_000

/** Refusals, newest (last committed) first; page back with `beforeId`. */
export async function queryRejected(sql: SqlClient, filter: RejectedFilter): Promise<RejectedEntry[]> {
  const { rows } = await sql.query<{ id: string; received_at: Date; client_id: string | null; device_id: string | null; topic: string; reason: string; detail: string; payload: Buffer | null; payload_bytes: number }>(
    `SELECT id, received_at, client_id, device_id, topic, reason, detail, payload, payload_bytes
       FROM rejected
      WHERE ($1::text IS NULL OR device_id = $1)
        AND ($2::text IS NULL OR reason = $2)
        AND ($3::timestamptz IS NULL OR received_at >= $3)
        AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC
      LIMIT $5`,
    [
      filter.deviceId ?? null,
      filter.reason ?? null,
      filter.since === undefined ? null : new Date(filter.since).toISOString(),
      filter.beforeId ?? null,
      Math.min(Math.max(1, filter.limit), REJECTED_MAX_LIMIT),
    ],
  )
  return rows.map((r) => {
    const payload = r.payload ?? Buffer.alloc(0)
    return {
      id: Number(r.id),
      receivedAt: r.received_at.getTime(),
      clientId: r.client_id,
      deviceId: r.device_id,
      topic: r.topic,
      reason: r.reason,
      detail: r.detail,
      payloadText: payload.toString('utf8'),
      payloadBytes: r.payload_bytes,
      payloadTruncated: payload.length < r.payload_bytes,
    }
  })
}

/** A device's refusals: how many in the window, by reason, and the latest few. */
export interface RejectionSummary {
  since: number
  total: number
  byReason: { reason: string; count: number }[]
  latest: RejectedEntry[]
}

/** Counts a device's refusals since `since` (epoch ms) and returns its `latest` newest. */
export async function rejectionSummary(sql: SqlClient, deviceId: string, since: number, latest = 5): Promise<RejectionSummary> {
  const { rows } = await sql.query<{ reason: string; n: string }>(
    `SELECT reason, count(*) AS n FROM rejected
      WHERE device_id = $1 AND received_at >= $2
      GROUP BY reason ORDER BY count(*) DESC, reason`,
    [deviceId, new Date(since).toISOString()],
  )
  const byReason = rows.map((r) => ({ reason: r.reason, count: Number(r.n) }))
  return {
    since,
    total: byReason.reduce((n, r) => n + r.count, 0),
    byReason,
    latest: await queryRejected(sql, { deviceId, limit: latest }),
  }
}

const DURATION = /^(\d+)\s*(ms|s|m|h|d)$/
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/**
 * Reads a `since` given as a duration back from now (`15m`, `2h`, `7d`) or as
 * an ISO 8601 time; returns epoch ms.
 */
export function parseSince(text: string, now = Date.now()): number {
  const trimmed = text.trim()
  const d = DURATION.exec(trimmed)
  if (d) return now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]
  const t = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  if (Number.isNaN(t)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `since: a duration back from now (30s, 15m, 2h, 7d) or an ISO 8601 time, got "${text.slice(0, 40)}".`)
  return t
}

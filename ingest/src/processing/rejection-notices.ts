import type { Logger } from '@gridline/core'
import type { Principal } from '@gridline/processors'
import { Counter, type Registry } from 'prom-client'
import type { Envelope } from '../pipeline/envelope.ts'

/**
 * Tells whoever sent a refused message why, once the refusal is committed
 * (docs/protocol.md#rejections):
 *
 * - a warn log line per sender, at most one per `logIntervalMs`: the first
 *   refusal at once, then one summary per interval while refusals go on
 *   ("Refused 37 messages from aq-1 in the last minute; ...");
 * - a notice on the sender's own rejections topic (`rejections/{domain}/{id}`
 *   for a device, `gateways/{id}/rejections` for a gateway), QoS 1, not
 *   retained, rate-limited per sender by a token bucket so a flood of bad
 *   messages does not become a flood back.
 *
 * Runs on the commit path (IngestPipeline.onCommitted): per envelope it only
 * checks for rejections; the work is per refused message, bounded by the rate limits.
 */
export interface RejectionNoticeOptions {
  /** Publishes a notice (QoS 1, not retained). Absent: no notices, only log lines. */
  publish?: ((topic: string, payload: string) => void) | undefined
  logger: Logger
  /** Registers its counters here (docs/operations.md#metrics). */
  registry?: Registry | undefined
  /** At most one log line per sender per this many ms. */
  logIntervalMs?: number
  /** Notices a sender may get in a burst... */
  noticeBurst?: number
  /** ... and then one per this many ms. */
  noticeRefillMs?: number
  now?: () => number
}

/** Longest detail (characters) in a notice or a log line; the stored detail is the full one. */
export const NOTICE_DETAIL_MAX_CHARS = 300
/** Longest topic (characters) echoed in a notice. */
export const NOTICE_TOPIC_MAX_CHARS = 200
/** Senders tracked at once; past it the oldest are forgotten (their next refusal logs at once). */
const MAX_TRACKED = 10_000

interface LogWindow {
  start: number
  /** Refusals since the last line, not yet logged. */
  pending: number
  reason: string
  detail: string
  topic: string
}

interface Bucket {
  tokens: number
  at: number
  /** Notices not sent since the last one that was. */
  suppressed: number
}

export class RejectionNotices {
  private readonly windows = new Map<string, LogWindow>()
  private readonly buckets = new Map<string, Bucket>()
  private readonly logIntervalMs: number
  private readonly burst: number
  private readonly refillMs: number
  private readonly now: () => number
  private sweeper: NodeJS.Timeout | undefined
  private readonly published: Counter | undefined
  private readonly suppressedNotices: Counter | undefined
  private readonly suppressedLines: Counter | undefined

  constructor(private readonly options: RejectionNoticeOptions) {
    this.logIntervalMs = options.logIntervalMs ?? 60_000
    this.burst = options.noticeBurst ?? 10
    this.refillMs = options.noticeRefillMs ?? 6_000
    this.now = options.now ?? Date.now
    const registers = options.registry ? [options.registry] : []
    if (options.registry) {
      this.published = new Counter({ name: 'gridline_ingest_rejection_notices_total', help: 'Notices published on senders\' rejections topics.', registers })
      this.suppressedNotices = new Counter({ name: 'gridline_ingest_rejection_notices_suppressed_total', help: 'Rejection notices not published because the sender passed its notice rate limit.', registers })
      this.suppressedLines = new Counter({ name: 'gridline_ingest_rejection_log_suppressed_total', help: 'Refused messages folded into a per-sender summary log line instead of a line of their own.', registers })
    }
  }

  /** Starts the timer that writes the per-interval summaries. */
  start(): void {
    if (this.sweeper) return
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(this.logIntervalMs / 6)))
    this.sweeper.unref()
  }

  /** Writes what is still pending and stops the timer. */
  stop(): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
    this.sweep(Number.POSITIVE_INFINITY)
  }

  /** Called with each committed batch, in submission order. */
  onCommitted(batch: readonly Envelope[]): void {
    for (const e of batch) {
      if (e.decoded.rejections.length === 0) continue
      this.refused(e)
    }
  }

  /**
   * Logs the summary of every sender whose interval has passed, and forgets
   * the quiet ones. `now` past every window (stop) flushes all.
   */
  sweep(now = this.now()): void {
    for (const [sender, w] of this.windows) {
      if (now - w.start < this.logIntervalMs) continue
      if (w.pending === 0) {
        this.windows.delete(sender)
        continue
      }
      this.options.logger.warn(
        { sender, refused: w.pending, suppressedLines: w.pending - 1, reason: w.reason, topic: w.topic },
        `Refused ${w.pending} message${w.pending === 1 ? '' : 's'} from ${sender} in the last ${describeInterval(this.logIntervalMs)}; latest reason ${w.reason}: ${w.detail}`,
      )
      this.suppressedLines?.inc(w.pending - 1)
      w.pending = 0
      w.start = Number.isFinite(now) ? now : this.now()
    }
  }

  private refused(e: Envelope): void {
    const first = e.decoded.rejections[0]!
    const sender = senderOf(e.principal ?? null, first.deviceId, e.clientId)
    const detail = clip(first.detail, NOTICE_DETAIL_MAX_CHARS)
    const topic = clip(e.topic, NOTICE_TOPIC_MAX_CHARS)
    const now = this.now()
    this.log(sender, first.reason, detail, topic, now)
    const target = e.principal ? rejectionsTopic(e.principal) : null
    if (target && this.options.publish) this.notify(sender, target, { reason: first.reason, detail, topic, receivedAt: new Date(e.receivedAt).toISOString(), rejections: e.decoded.rejections.length }, now)
  }

  private log(sender: string, reason: string, detail: string, topic: string, now: number): void {
    const w = this.windows.get(sender)
    if (w) {
      w.pending++
      w.reason = reason
      w.detail = detail
      w.topic = topic
      return
    }
    forgetOldest(this.windows)
    this.windows.set(sender, { start: now, pending: 0, reason, detail, topic })
    this.options.logger.warn({ sender, refused: 1, reason, topic }, `Refused a message from ${sender}; reason ${reason}: ${detail}`)
  }

  private notify(sender: string, target: string, notice: Notice, now: number): void {
    let b = this.buckets.get(sender)
    if (!b) {
      forgetOldest(this.buckets)
      this.buckets.set(sender, (b = { tokens: this.burst, at: now, suppressed: 0 }))
    } else {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.at) / this.refillMs)
      b.at = now
    }
    if (b.tokens < 1) {
      b.suppressed++
      this.suppressedNotices?.inc()
      return
    }
    b.tokens -= 1
    const payload: Notice = b.suppressed > 0 ? { ...notice, suppressed: b.suppressed } : notice
    b.suppressed = 0
    this.published?.inc()
    this.options.publish!(target, JSON.stringify(payload))
  }
}

/** What a notice carries (docs/protocol.md#rejections). */
export interface Notice {
  reason: string
  detail: string
  topic: string
  receivedAt: string
  /** Rejections the message had (readings or values); reason and detail are the first's. */
  rejections: number
  /** Notices left out before this one by the rate limit. */
  suppressed?: number
}

/** The topic a sender hears its refusals on; null for logins that get none (integrations). */
export function rejectionsTopic(principal: Principal): string | null {
  if (principal.kind === 'device') return `rejections/${principal.domain}/${principal.id}`
  if (principal.kind === 'gateway') return `gateways/${principal.id}/rejections`
  return null
}

function senderOf(principal: Principal | null, deviceId: string | null, clientId: string | null): string {
  if (principal) return principal.id
  if (deviceId) return deviceId
  return clientId ? `client ${clip(clientId, 64)}` : 'an unknown client'
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

function forgetOldest(map: Map<string, unknown>): void {
  if (map.size < MAX_TRACKED) return
  const oldest = map.keys().next()
  if (!oldest.done) map.delete(oldest.value)
}

function describeInterval(ms: number): string {
  if (ms === 60_000) return 'minute'
  if (ms % 60_000 === 0) return `${ms / 60_000} minutes`
  return `${Math.round(ms / 1000)} s`
}

import { performance } from 'node:perf_hooks'
import type { StreamEvent } from './events.ts'
import { type EventPredicate, conflationKey } from './filter.ts'

/** Why a subscriber's events were thinned: it fell behind, or it asked for a rate. */
export type DecimationReason = 'backlog' | 'rate'
/** Why a subscription ended. */
export type CloseReason = 'overflow' | 'unsubscribed' | 'hub_closed'

export type StreamHandler = (event: StreamEvent) => void | PromiseLike<void>

export interface SubscriberLimits {
  /** Queued events at which the subscriber starts keeping only the latest event per key. */
  decimateAt: number
  /** Queued events at which the subscriber is dropped. */
  dropAt: number
  /** Events per second at most, latest per key in between; 0 for no limit. */
  maxEventsPerSecond: number
}

export interface SubscriberStats {
  id: number
  name: string
  queued: number
  delivered: number
  decimated: Record<DecimationReason, number>
  /** Events discarded when the subscriber was dropped. */
  dropped: number
  handlerErrors: number
  /** True while it keeps only the latest event per key because it fell behind. */
  decimating: boolean
  closed?: CloseReason
}

const EMPTY: StreamEvent[] = []

/**
 * One subscriber's queue. Normally a FIFO; once the backlog reaches
 * `decimateAt` (or always, with a rate limit) readings, rollups and indicators
 * go to a map that keeps the latest event per key (grouped by device), and
 * the FIFO keeps only what must not be thinned (alarm events). The FIFO is
 * delivered first, so events of one key stay in order.
 */
export class HubSubscriber {
  private fifo: (StreamEvent | undefined)[] = []
  private head = 0
  /** Latest event per key, by primary then secondary key part (see conflationKey). */
  private latest = new Map<string, Map<string, StreamEvent>>()
  private latestSize = 0
  private decimating = false
  private tokens: number
  private refilledAt = performance.now()
  busy = false
  ready = false
  waitingForToken = false
  closed: CloseReason | undefined
  delivered = 0
  handlerErrors = 0
  dropped = 0
  readonly decimated: Record<DecimationReason, number> = { backlog: 0, rate: 0 }

  constructor(
    readonly id: number,
    readonly name: string,
    readonly matches: EventPredicate,
    readonly handler: StreamHandler,
    readonly limits: SubscriberLimits,
    readonly onClose: ((reason: CloseReason) => void) | undefined,
  ) {
    this.tokens = Math.max(1, limits.maxEventsPerSecond)
  }

  get queued(): number {
    return this.fifo.length - this.head + this.latestSize
  }

  /** Queues an event; false when the queue passed its hard bound (the hub then drops the subscriber). */
  offer(event: StreamEvent): boolean {
    const rateLimited = this.limits.maxEventsPerSecond > 0
    let primary: string | undefined
    let secondary = ''
    if (rateLimited || this.decimating) {
      // Readings are most of the traffic: their key without a tuple per event.
      if (event.kind === 'reading') {
        primary = event.deviceId
        secondary = event.metric
      } else {
        const key = conflationKey(event)
        if (key !== undefined) [primary, secondary] = key
      }
    }
    if (primary === undefined) {
      this.fifo.push(event)
    } else {
      let inner = this.latest.get(primary)
      if (inner === undefined) {
        inner = new Map()
        this.latest.set(primary, inner)
      }
      const size = inner.size
      inner.set(secondary, event)
      if (inner.size === size) this.decimated[rateLimited && !this.decimating ? 'rate' : 'backlog']++
      else this.latestSize++
    }
    const queued = this.queued
    if (!this.decimating && queued >= this.limits.decimateAt) this.decimating = true
    return queued < this.limits.dropAt
  }

  /**
   * The next event to deliver, or undefined when there is none or the rate
   * budget is spent (see `msUntilToken`).
   */
  next(): StreamEvent | undefined {
    if (this.head < this.fifo.length) {
      const event = this.fifo[this.head]
      this.fifo[this.head++] = undefined
      if (this.head === this.fifo.length) {
        this.fifo = []
        this.head = 0
        if (this.latestSize === 0) this.decimating = false
      }
      return event
    }
    if (this.latestSize === 0) return undefined
    let take = this.latestSize
    if (this.limits.maxEventsPerSecond > 0) {
      this.refill()
      take = Math.min(take, Math.floor(this.tokens))
      if (take === 0) return undefined
      this.tokens -= take
    }
    // Moved in one pass: deleting a Map's first entry over and over leaves holes that every new iterator walks.
    take = Math.min(take, 1024)
    const moved: StreamEvent[] = []
    outer: for (const [primary, inner] of this.latest) {
      for (const [secondary, event] of inner) {
        if (moved.length === take) break outer
        moved.push(event)
        inner.delete(secondary)
      }
      this.latest.delete(primary)
    }
    this.latestSize -= moved.length
    this.fifo = moved
    this.head = 0
    return this.next()
  }

  /** Milliseconds until the rate budget allows one more event; 0 without a limit. */
  msUntilToken(): number {
    const rate = this.limits.maxEventsPerSecond
    if (rate <= 0) return 0
    this.refill()
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / rate)
  }

  /** Empties the queue, counting what it held as dropped. */
  discard(): void {
    this.dropped += this.queued
    this.fifo = EMPTY.slice()
    this.head = 0
    this.latest.clear()
    this.latestSize = 0
  }

  stats(): SubscriberStats {
    const out: SubscriberStats = {
      id: this.id,
      name: this.name,
      queued: this.queued,
      delivered: this.delivered,
      decimated: { ...this.decimated },
      dropped: this.dropped,
      handlerErrors: this.handlerErrors,
      decimating: this.decimating,
    }
    if (this.closed) out.closed = this.closed
    return out
  }

  private refill(): void {
    const now = performance.now()
    const rate = this.limits.maxEventsPerSecond
    this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.refilledAt) * rate) / 1000)
    this.refilledAt = now
  }
}

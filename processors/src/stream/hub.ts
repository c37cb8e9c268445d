import { Observable } from 'rxjs'
import type { DeviceLookup, Reading, ReadingEvent, StreamEvent } from './events.ts'
import type { ReadingBatch } from './batch.ts'
import { type StreamFilter, compileFilter } from './filter.ts'
import { type CloseReason, type DecimationReason, HubSubscriber, type StreamHandler, type SubscriberStats } from './subscriber.ts'

const STREAM_EVENT_KINDS: readonly StreamEvent['kind'][] = ['reading', 'rollup', 'indicator', 'alarm']

export interface SubscribeOptions extends StreamFilter {
  /** Shown in stats and logs, e.g. `dashboard:chart-42`. */
  name?: string
  /**
   * Server-side decimation: at most this many readings, rollups and indicators
   * per second, the latest per key in between. Alarm events are never thinned.
   */
  maxEventsPerSecond?: number
  /** Queued events at which a lagging subscriber starts keeping only the latest per key. */
  decimateAt?: number
  /** Queued events at which a subscriber is dropped. */
  dropAt?: number
  /** Called once when the subscription ends, with why. */
  onClose?: (reason: CloseReason) => void
}

export interface HubSubscription {
  readonly id: number
  /** Why it ended, once it has. */
  readonly closed: CloseReason | undefined
  unsubscribe(): void
  stats(): SubscriberStats
}

export interface StreamHubOptions {
  /** Resolves a device's domain for `domains` filters on events that carry only a device id. */
  lookup?: DeviceLookup
  /** Default `decimateAt` per subscriber. */
  decimateAt?: number
  /** Default `dropAt` per subscriber. */
  dropAt?: number
  /** Events handed to one subscriber per turn of the event loop before others get theirs. */
  batchPerTurn?: number
  logger?: { warn(obj: object, msg: string): void }
}

export interface StreamHubStats {
  subscribers: number
  published: Record<StreamEvent['kind'], number>
  delivered: number
  decimated: Record<DecimationReason, number>
  /** Events discarded with dropped subscribers. */
  droppedEvents: number
  /** Subscriptions ended, by reason. */
  closedSubscribers: Record<CloseReason, number>
  handlerErrors: number
  perSubscriber: SubscriberStats[]
}

/**
 * A committed batch is published in one call, so `decimateAt` must sit above
 * the largest batch (ingest.maxBatchRows) or every subscriber would thin it.
 */
export const HUB_DEFAULTS = { decimateAt: 20_000, dropAt: 200_000, batchPerTurn: 1_000 } as const

/** Raised on an Observable subscription the hub dropped. */
export class StreamSubscriberDroppedError extends Error {
  constructor(readonly reason: CloseReason, name: string) {
    super(`Live stream subscriber ${name} was dropped: ${reason === 'overflow' ? 'it fell too far behind' : reason}.`)
    this.name = 'StreamSubscriberDroppedError'
  }
}

/**
 * In-process fan-out of readings, rollups, indicators and alarm events
 * (docs/live-stream.md). Publishing only filters and queues: it never calls a
 * subscriber, never awaits, and its cost does not depend on how slow any
 * subscriber is. Delivery runs later on the event loop, a bounded batch per
 * subscriber per turn; a handler that returns a promise gets its next event
 * when the promise settles.
 */
export class StreamHub {
  private subscribers: HubSubscriber[] = []
  private readonly ready: HubSubscriber[] = []
  private drainScheduled = false
  private readonly timers = new Set<NodeJS.Timeout>()
  private nextId = 1
  private isClosed = false
  private readonly totals = {
    published: { reading: 0, rollup: 0, indicator: 0, alarm: 0 },
    delivered: 0,
    decimated: { backlog: 0, rate: 0 } as Record<DecimationReason, number>,
    droppedEvents: 0,
    closedSubscribers: { overflow: 0, unsubscribed: 0, hub_closed: 0 } as Record<CloseReason, number>,
    handlerErrors: 0,
  }

  /**
   * Where a committed reading may go, built on the first publish after a
   * subscription changes. Subscribers that look at every reading are `broad`;
   * those that follow an exact list of devices are found by device, so a
   * reading costs one map lookup however many device pages are open.
   * Rate-limited subscribers (`rated`) keep only the latest value per device
   * and metric anyway, so they are offered only the last reading of each key
   * in a committed batch: a fast device followed by many pages costs its keys,
   * not its readings, per batch.
   */
  private readingRoutes: ReadingRoutes | undefined
  /** The kinds some subscriber takes, built on first ask after a change of subscribers. */
  private kindsTaken: Set<StreamEvent['kind']> | undefined
  private readonly routing = new Map<HubSubscriber, { readings: boolean; kinds: readonly StreamEvent['kind'][] | undefined; devices: readonly string[] | undefined; rated: boolean }>()

  constructor(private readonly options: StreamHubOptions = {}) {}

  /**
   * Whether some subscriber takes events of this kind (one with no `kinds`
   * takes all): a producer may skip making events nobody takes, as the
   * rollups do for minutes they do not store.
   */
  takes(kind: StreamEvent['kind']): boolean {
    if (this.kindsTaken === undefined) {
      const taken = new Set<StreamEvent['kind']>()
      for (const subscriber of this.subscribers) {
        for (const k of this.routing.get(subscriber)?.kinds ?? STREAM_EVENT_KINDS) taken.add(k)
      }
      this.kindsTaken = taken
    }
    return this.kindsTaken.has(kind)
  }

  publish(event: StreamEvent): void {
    this.totals.published[event.kind]++
    const subscribers = this.subscribers
    for (let i = 0; i < subscribers.length; i++) this.offer(subscribers[i]!, event)
  }

  /**
   * Publishes committed readings. Costs one counter update when nobody
   * subscribes; a `kind` is added (one object per reading, shared by all
   * subscribers) only when someone does.
   */
  publishReadings(readings: readonly Reading[]): void {
    this.totals.published.reading += readings.length
    if (this.subscribers.length === 0) return
    this.deliverReadings({
      length: readings.length,
      deviceId: (i) => readings[i]!.deviceId,
      metric: (i) => readings[i]!.metric,
      event: (i) => {
        const reading = readings[i]!
        return (reading as Partial<ReadingEvent>).kind === 'reading' ? (reading as ReadingEvent) : toReadingEvent(reading)
      },
    })
  }

  /**
   * Publishes a committed batch in columns. An event object is made only for
   * a reading some subscriber takes: every reading for an unthrottled
   * subscriber of all devices, a followed device's readings, and each key's
   * last reading for the rate-limited ones.
   */
  publishBatch(batch: ReadingBatch): void {
    this.totals.published.reading += batch.length
    if (this.subscribers.length === 0) return
    this.deliverReadings({
      length: batch.length,
      deviceId: (i) => batch.deviceId[i]!,
      metric: (i) => batch.metric[i]!,
      event: (i) => batch.reading(i),
    })
  }

  private deliverReadings(source: ReadingSource): void {
    const routes = (this.readingRoutes ??= this.routeReadings())
    offerAll(this, source, routes.every, routes.everyByDevice)
    if (routes.rated.length === 0 && routes.ratedByDevice.size === 0) return
    // Each key's last reading, with how many of that key the batch held: the
    // others count as thinned (decimated.rate) for every subscriber the key matches.
    for (const { last, count } of lastPerKey(source)) {
      const followers = routes.ratedByDevice.get(source.deviceId(last))
      if (routes.rated.length === 0 && followers === undefined) continue
      const event = source.event(last)
      for (const subscriber of routes.rated) this.offerLatest(subscriber, event, count)
      if (followers !== undefined) for (const subscriber of followers) this.offerLatest(subscriber, event, count)
    }
  }

  /** Offers a key's last reading of a batch; the `count - 1` before it count as thinned for a subscriber the key matches. */
  private offerLatest(subscriber: HubSubscriber, event: ReadingEvent, count: number): void {
    if (count > 1 && subscriber.matches(event)) subscriber.decimated.rate += count - 1
    this.offer(subscriber, event)
  }

  /** Offers one event to one subscriber (used by offerAll). */
  offerTo(subscriber: HubSubscriber, event: StreamEvent): void {
    this.offer(subscriber, event)
  }

  private routeReadings(): ReadingRoutes {
    const routes: ReadingRoutes = { every: [], everyByDevice: new Map(), rated: [], ratedByDevice: new Map() }
    for (const subscriber of this.subscribers) {
      const route = this.routing.get(subscriber)
      if (!route?.readings) continue
      if (!route.devices) {
        ;(route.rated ? routes.rated : routes.every).push(subscriber)
        continue
      }
      const byDevice = route.rated ? routes.ratedByDevice : routes.everyByDevice
      for (const id of new Set(route.devices)) {
        const list = byDevice.get(id)
        if (list) list.push(subscriber)
        else byDevice.set(id, [subscriber])
      }
    }
    return routes
  }

  /** Calls `handler` for each matching event. It may return a promise: the next event waits for it. */
  subscribe(options: SubscribeOptions, handler: StreamHandler): HubSubscription {
    if (this.isClosed) throw new Error('The live stream hub is closed.')
    const id = this.nextId++
    const decimateAt = positive(options.decimateAt ?? this.options.decimateAt ?? HUB_DEFAULTS.decimateAt, 'decimateAt')
    const dropAt = positive(options.dropAt ?? this.options.dropAt ?? HUB_DEFAULTS.dropAt, 'dropAt')
    if (dropAt <= decimateAt) throw new RangeError(`dropAt (${dropAt}) must be above decimateAt (${decimateAt}).`)
    const rate = options.maxEventsPerSecond ?? 0
    if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`maxEventsPerSecond must be a number >= 0, got ${rate}.`)
    const subscriber = new HubSubscriber(
      id,
      options.name ?? `subscriber-${id}`,
      compileFilter(options, this.options.lookup),
      handler,
      { decimateAt, dropAt, maxEventsPerSecond: rate },
      options.onClose,
    )
    this.subscribers = [...this.subscribers, subscriber]
    const exact = options.devices?.every((d) => !d.includes('*') && !d.includes('?')) ? options.devices : undefined
    this.routing.set(subscriber, { readings: !options.kinds || options.kinds.includes('reading'), kinds: options.kinds, devices: exact, rated: rate > 0 })
    this.readingRoutes = undefined
    this.kindsTaken = undefined
    return {
      id,
      get closed() {
        return subscriber.closed
      },
      unsubscribe: () => this.close(subscriber, 'unsubscribed'),
      stats: () => subscriber.stats(),
    }
  }

  /**
   * The same as `subscribe`, as an Observable. Delivery is synchronous into
   * `next`, so an operator that buffers (concatMap, say) hides lag from the
   * hub: bound it yourself, or use `subscribe` with an async handler. A
   * dropped subscription errors with StreamSubscriberDroppedError.
   */
  events(options: Omit<SubscribeOptions, 'onClose'> = {}): Observable<StreamEvent> {
    return new Observable<StreamEvent>((observer) => {
      const name = options.name ?? 'observable'
      const subscription = this.subscribe({
        ...options,
        name,
        onClose: (reason) => {
          if (reason === 'overflow') observer.error(new StreamSubscriberDroppedError(reason, name))
          else if (reason === 'hub_closed') observer.complete()
        },
      }, (event) => observer.next(event))
      return () => subscription.unsubscribe()
    })
  }

  stats(): StreamHubStats {
    const perSubscriber = this.subscribers.map((s) => s.stats())
    const decimated = { ...this.totals.decimated }
    let delivered = this.totals.delivered
    let handlerErrors = this.totals.handlerErrors
    for (const s of this.subscribers) {
      decimated.backlog += s.decimated.backlog
      decimated.rate += s.decimated.rate
      delivered += s.delivered
      handlerErrors += s.handlerErrors
    }
    return {
      subscribers: this.subscribers.length,
      published: { ...this.totals.published },
      delivered,
      decimated,
      droppedEvents: this.totals.droppedEvents,
      closedSubscribers: { ...this.totals.closedSubscribers },
      handlerErrors,
      perSubscriber,
    }
  }

  /** Ends every subscription (reason `hub_closed`); publishing afterwards is a no-op. */
  close(): void
  close(subscriber: HubSubscriber, reason: CloseReason): void
  close(subscriber?: HubSubscriber, reason?: CloseReason): void {
    if (subscriber === undefined) {
      this.isClosed = true
      for (const s of this.subscribers) this.close(s, 'hub_closed')
      for (const t of this.timers) clearTimeout(t)
      this.timers.clear()
      return
    }
    if (subscriber.closed) return
    subscriber.closed = reason!
    subscriber.discard()
    this.subscribers = this.subscribers.filter((s) => s !== subscriber)
    this.routing.delete(subscriber)
    this.readingRoutes = undefined
    this.kindsTaken = undefined
    // Counters of a closed subscriber move into the hub's totals so stats stay monotonic.
    this.totals.delivered += subscriber.delivered
    this.totals.decimated.backlog += subscriber.decimated.backlog
    this.totals.decimated.rate += subscriber.decimated.rate
    this.totals.handlerErrors += subscriber.handlerErrors
    this.totals.droppedEvents += subscriber.dropped
    this.totals.closedSubscribers[reason!]++
    if (reason === 'overflow') {
      this.options.logger?.warn({ subscriber: subscriber.name, dropped: subscriber.dropped }, 'A live stream subscriber fell too far behind and was dropped.')
    }
    const onClose = subscriber.onClose
    // Never run subscriber code inside publish().
    if (onClose) queueMicrotask(() => onClose(reason!))
  }

  private offer(subscriber: HubSubscriber, event: StreamEvent): void {
    if (!subscriber.matches(event)) return
    if (!subscriber.offer(event)) {
      this.close(subscriber, 'overflow')
      return
    }
    this.markReady(subscriber)
  }

  private markReady(subscriber: HubSubscriber): void {
    if (subscriber.ready || subscriber.busy || subscriber.closed) return
    subscriber.ready = true
    this.ready.push(subscriber)
    if (!this.drainScheduled) {
      this.drainScheduled = true
      setImmediate(this.drain)
    }
  }

  private readonly drain = (): void => {
    this.drainScheduled = false
    const batch = this.ready.splice(0)
    const limit = this.options.batchPerTurn ?? HUB_DEFAULTS.batchPerTurn
    for (const subscriber of batch) {
      subscriber.ready = false
      this.deliver(subscriber, limit)
    }
  }

  private deliver(subscriber: HubSubscriber, limit: number): void {
    for (let n = 0; n < limit; n++) {
      if (subscriber.closed || subscriber.busy) return
      const event = subscriber.next()
      if (event === undefined) {
        if (subscriber.queued > 0) this.waitForToken(subscriber)
        return
      }
      let result: void | PromiseLike<void>
      try {
        result = subscriber.handler(event)
      } catch (err) {
        this.handlerFailed(subscriber, err)
        continue
      }
      subscriber.delivered++
      if (result !== undefined && typeof (result as PromiseLike<void>).then === 'function') {
        subscriber.busy = true
        ;(result as PromiseLike<void>).then(
          () => this.settled(subscriber),
          (err: unknown) => {
            this.handlerFailed(subscriber, err)
            this.settled(subscriber)
          },
        )
        return
      }
    }
    if (subscriber.queued > 0) this.markReady(subscriber)
  }

  private settled(subscriber: HubSubscriber): void {
    subscriber.busy = false
    if (subscriber.queued > 0) this.markReady(subscriber)
  }

  private waitForToken(subscriber: HubSubscriber): void {
    if (subscriber.waitingForToken) return
    subscriber.waitingForToken = true
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      subscriber.waitingForToken = false
      this.markReady(subscriber)
    }, Math.max(1, subscriber.msUntilToken()))
    timer.unref()
    this.timers.add(timer)
  }

  private handlerFailed(subscriber: HubSubscriber, err: unknown): void {
    if (subscriber.handlerErrors++ === 0) {
      this.options.logger?.warn({ subscriber: subscriber.name, err }, 'A live stream subscriber threw; its errors are counted from now on.')
    }
  }
}

/** A literal rather than a spread: one hidden class for every reading event, and several times faster. */
interface ReadingRoutes {
  every: HubSubscriber[]
  everyByDevice: Map<string, HubSubscriber[]>
  rated: HubSubscriber[]
  ratedByDevice: Map<string, HubSubscriber[]>
}

/** Committed readings as the hub reads them, from an array of objects or a ReadingBatch's columns. */
interface ReadingSource {
  length: number
  deviceId(i: number): string
  metric(i: number): string
  /** The event for reading i, made only when a subscriber takes it. */
  event(i: number): ReadingEvent
}

function offerAll(hub: StreamHub, source: ReadingSource, broad: readonly HubSubscriber[], byDevice: ReadonlyMap<string, HubSubscriber[]>): void {
  if (broad.length === 0 && byDevice.size === 0) return
  for (let r = 0; r < source.length; r++) {
    const followers = byDevice.size === 0 ? undefined : byDevice.get(source.deviceId(r))
    if (broad.length === 0 && followers === undefined) continue
    const event = source.event(r)
    for (let i = 0; i < broad.length; i++) hub.offerTo(broad[i]!, event)
    if (followers !== undefined) for (let i = 0; i < followers.length; i++) hub.offerTo(followers[i]!, event)
  }
}

/**
 * The index of the last reading of each (device, metric) in a batch, with how
 * many readings of that key the batch held. Grouped by device rather than in
 * batch order: a rate-limited subscriber delivers its latest values grouped
 * by device anyway.
 */
function lastPerKey(source: ReadingSource): { last: number; count: number }[] {
  const index = new Map<string, Map<string, { last: number; count: number }>>()
  for (let i = 0; i < source.length; i++) {
    const deviceId = source.deviceId(i)
    const metric = source.metric(i)
    let metrics = index.get(deviceId)
    if (metrics === undefined) index.set(deviceId, (metrics = new Map()))
    const key = metrics.get(metric)
    if (key === undefined) metrics.set(metric, { last: i, count: 1 })
    else {
      key.last = i
      key.count++
    }
  }
  const out: { last: number; count: number }[] = []
  for (const metrics of index.values()) for (const key of metrics.values()) out.push(key)
  return out
}

function toReadingEvent(r: Reading): ReadingEvent {
  return { kind: 'reading', time: r.time, receivedAt: r.receivedAt, deviceId: r.deviceId, domain: r.domain, metric: r.metric, value: r.value, quality: r.quality, seq: r.seq, flags: r.flags }
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}.`)
  return value
}

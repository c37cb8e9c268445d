import type { ServerResponse } from 'node:http'
import type { Logger } from '@gridline/core'
import { type HubSubscription, type StreamEvent, type StreamEventKind, type StreamHub, compileDeviceMatcher } from '@gridline/processors'
import type { CommandRecord } from './commands-port.ts'
import type { Overview } from './city-state.ts'
import type { MapState } from './map-state.ts'

export type LiveKind = StreamEventKind | 'command' | 'overview' | 'map'
const HUB_KINDS: readonly StreamEventKind[] = ['reading', 'rollup', 'indicator', 'alarm']
const ALL_KINDS: readonly LiveKind[] = [...HUB_KINDS, 'command', 'overview', 'map']

export interface LiveRequest {
  kinds: LiveKind[]
  devices?: string[]
  metrics?: string[]
  domains?: string[]
  /** Readings, rollups and indicators per second at most. */
  rate: number
  user: string
}

export interface LiveStats {
  clients: number
  opened: number
  /** Streams ended because the browser fell too far behind. */
  dropped: number
  events: number
}

export interface LiveOptions {
  /** Queued events at which a client is dropped. */
  queueEvents: number
  maxRate: number
  heartbeatMs: number
}

/**
 * The browsers' live stream, as server-sent events. Each client is a hub
 * subscriber with its own rate limit (server-side decimation: the latest value
 * per device and metric between releases) and a bounded queue: a browser that
 * stops reading fills its socket, its handler waits for `drain`, its queue
 * grows, and at `queueEvents` it is dropped. The browser's EventSource then
 * reconnects by itself. Publishing never waits for a browser.
 */
export class LiveStreams {
  private readonly clients = new Set<LiveClient>()
  private overviewTimer: NodeJS.Timeout | undefined
  private mapTimer: NodeJS.Timeout | undefined
  readonly stats: LiveStats = { clients: 0, opened: 0, dropped: 0, events: 0 }
  private nextId = 1

  constructor(
    private readonly deps: { hub: StreamHub; overview: () => Overview; map?: MapState; onCommand: (listener: (c: CommandRecord) => void) => () => void; logger: Logger },
    private readonly options: LiveOptions,
  ) {
    // Map changes, however they were found (the timer below, or a page fetching /api/map), serialised once for every map page.
    this.unsubscribeMap = deps.map?.onDelta((delta) => {
      const message = `data: ${JSON.stringify(delta)}\n\n`
      for (const client of this.clients) if (client.wantsMap) client.write(message)
    }) ?? (() => undefined)
    this.unsubscribeCommands = deps.onCommand((command) => {
      for (const client of this.clients) client.command(command)
    })
    // A comment line now and then keeps proxies from closing a quiet stream.
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) client.comment('ping')
    }, options.heartbeatMs)
    this.heartbeat.unref()
  }

  private readonly unsubscribeCommands: () => void
  private readonly unsubscribeMap: () => void
  private readonly heartbeat: NodeJS.Timeout

  /** Parses `/api/live` query parameters; throws with a message naming the bad one. */
  parse(query: Record<string, string | undefined>, user: string): LiveRequest {
    const list = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean).slice(0, 200))
    const kinds = (list(query.kinds) ?? ['reading', 'rollup', 'indicator', 'alarm', 'command']) as LiveKind[]
    const unknown = kinds.filter((k) => !ALL_KINDS.includes(k))
    if (unknown.length > 0) throw new Error(`kinds: unknown ${unknown.join(', ')}; use ${ALL_KINDS.join(', ')}`)
    const rate = query.rate === undefined ? 20 : Number(query.rate)
    if (!Number.isFinite(rate) || rate <= 0) throw new Error('rate: events per second, a positive number')
    const request: LiveRequest = { kinds, rate: Math.min(rate, this.options.maxRate), user }
    const devices = list(query.devices)
    const metrics = list(query.metrics)
    const domains = list(query.domains)
    if (devices) request.devices = devices
    if (metrics) request.metrics = metrics
    if (domains) request.domains = domains
    return request
  }

  /** Takes over the response and streams until the browser goes or falls behind. */
  open(res: ServerResponse, request: LiveRequest): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    // EventSource reconnects after this many milliseconds when the stream ends.
    res.write('retry: 2000\n\n')
    const client = new LiveClient(this.nextId++, res, request, this)
    this.clients.add(client)
    this.stats.clients = this.clients.size
    this.stats.opened++
    const hubKinds = request.kinds.filter((k): k is StreamEventKind => (HUB_KINDS as readonly string[]).includes(k))
    if (hubKinds.length > 0) {
      client.subscription = this.deps.hub.subscribe({
        kinds: hubKinds,
        ...(request.devices ? { devices: request.devices } : {}),
        ...(request.metrics ? { metrics: request.metrics } : {}),
        ...(request.domains ? { domains: request.domains } : {}),
        maxEventsPerSecond: request.rate,
        decimateAt: Math.max(1, Math.floor(this.options.queueEvents / 2)),
        dropAt: this.options.queueEvents,
        name: `console:${request.user}:${client.id}`,
        onClose: (reason) => {
          if (reason !== 'overflow') return
          this.stats.dropped++
          this.deps.logger.info({ user: request.user, client: client.id }, 'A browser fell behind its live stream and was dropped; it reconnects by itself.')
          client.end()
        },
      }, (event) => client.send(event))
    }
    if (request.kinds.includes('overview')) {
      client.send(this.deps.overview())
      this.startOverviewTimer()
    }
    if (request.kinds.includes('map')) this.startMapTimer()
    res.on('close', () => this.closed(client))
  }

  closed(client: LiveClient): void {
    if (!this.clients.delete(client)) return
    client.subscription?.unsubscribe()
    this.stats.clients = this.clients.size
    if (![...this.clients].some((c) => c.wantsOverview)) {
      clearInterval(this.overviewTimer)
      this.overviewTimer = undefined
    }
    if (![...this.clients].some((c) => c.wantsMap)) {
      clearInterval(this.mapTimer)
      this.mapTimer = undefined
    }
  }

  /** Ends every stream (service stopping); browsers reconnect to the next instance. */
  close(): void {
    this.unsubscribeCommands()
    this.unsubscribeMap()
    clearInterval(this.overviewTimer)
    clearInterval(this.mapTimer)
    clearInterval(this.heartbeat)
    for (const client of [...this.clients]) client.end()
  }

  private startOverviewTimer(): void {
    if (this.overviewTimer) return
    // One overview a second for every page that shows it, computed and serialised once.
    this.overviewTimer = setInterval(() => {
      const message = `data: ${JSON.stringify(this.deps.overview())}\n\n`
      for (const client of this.clients) if (client.wantsOverview) client.write(message)
    }, 1_000)
    this.overviewTimer.unref()
  }

  private startMapTimer(): void {
    const map = this.deps.map
    if (this.mapTimer || !map) return
    // Once a second, the devices whose state, alarm or place changed (MapState.refresh tells onDelta above).
    // Twice a second was tried at 50,000 devices: no better draw p95, and the page's map source fell
    // seconds behind re-clustering every half second (docs/benchmarks.md#console-map-issue-18).
    this.mapTimer = setInterval(() => map.refresh(), 1_000)
    this.mapTimer.unref()
  }
}

class LiveClient {
  subscription: HubSubscription | undefined
  readonly wantsOverview: boolean
  readonly wantsMap: boolean
  private readonly wantsCommands: boolean
  private readonly commandDevices: ((id: string) => boolean) | undefined
  private ended = false

  constructor(readonly id: number, private readonly res: ServerResponse, request: LiveRequest, private readonly streams: LiveStreams) {
    this.wantsOverview = request.kinds.includes('overview')
    this.wantsMap = request.kinds.includes('map')
    this.wantsCommands = request.kinds.includes('command')
    this.commandDevices = request.devices ? compileDeviceMatcher(request.devices) : undefined
  }

  /** Writes one event; resolves when the socket can take more, so the hub queues (and thins, and drops) meanwhile. */
  send(event: StreamEvent | Overview | CommandRecordEvent): void | Promise<void> {
    return this.write(`data: ${JSON.stringify(event)}\n\n`)
  }

  /** Writes one serialised message. */
  write(message: string): void | Promise<void> {
    if (this.ended) return
    this.streams.stats.events++
    const ok = this.res.write(message)
    if (ok) return
    return new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done)
        this.res.off('close', done)
        resolve()
      }
      this.res.on('drain', done)
      this.res.on('close', done)
    })
  }

  command(command: CommandRecord): void {
    if (!this.wantsCommands || (this.commandDevices && !this.commandDevices(command.deviceId))) return
    // Commands are few and never thinned; a browser whose socket is full still gets them queued by Node.
    void this.send({ kind: 'command', ...command })
  }

  comment(text: string): void {
    if (!this.ended) this.res.write(`: ${text}\n\n`)
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    this.res.end()
    this.streams.closed(this)
  }
}

type CommandRecordEvent = CommandRecord & { kind: 'command' }

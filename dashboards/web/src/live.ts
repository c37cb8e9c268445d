/**
 * The live stream (GET /api/live, server-sent events). One EventSource at a time, opened
 * with the current page's query. EventSource reconnects by itself after a network error;
 * when it opens again after one, the page refetches what it shows (the server may have
 * restarted and events were missed). A stream that the browser gave up on (HTTP error)
 * is reopened here with backoff, after checking the session (401 → login).
 */
import { api } from './api.ts'

export type LiveState = 'open' | 'connecting'
export type LiveEvent = { kind: string; [key: string]: unknown }

export interface LiveHandlers {
  onEvent(event: LiveEvent): void
  /** The stream opened again after a break: reload the page's data. */
  onReopen?(): void
}

type StateListener = (state: LiveState) => void

export class Live {
  private source: EventSource | undefined
  private query = ''
  private handlers: LiveHandlers | undefined
  private state: LiveState = 'connecting'
  private hadError = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private retryDelayMs = 1000
  private readonly listeners = new Set<StateListener>()
  private readonly taps = new Set<(event: LiveEvent) => void>()
  private hiddenClosed = false

  constructor() {
    // A hidden tab lets its stream go: no events pile up for a page nobody looks at.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) {
        if (this.source) {
          this.closeSource()
          this.hiddenClosed = true
          this.setState('connecting')
        }
      } else if (this.hiddenClosed) {
        this.hiddenClosed = false
        this.hadError = true
        this.openSource()
      }
    })
  }

  /** Sees every event of whichever page's stream is open, before the page does (the alarm sound). */
  onEvent(tap: (event: LiveEvent) => void): () => void {
    this.taps.add(tap)
    return () => this.taps.delete(tap)
  }

  onState(listener: StateListener): () => void {
    this.listeners.add(listener)
    listener(this.state)
    return () => this.listeners.delete(listener)
  }

  /** Follows `query` (e.g. `kinds=overview,alarm`) with `handlers`, replacing any previous stream. */
  connect(query: string, handlers: LiveHandlers): void {
    this.handlers = handlers
    if (this.source && query === this.query) return
    this.query = query
    this.hadError = false
    this.retryDelayMs = 1000
    this.closeSource()
    if (document.hidden) {
      this.hiddenClosed = true
      return
    }
    this.openSource()
  }

  disconnect(): void {
    this.handlers = undefined
    this.query = ''
    this.hiddenClosed = false
    this.closeSource()
    this.setState('connecting')
  }

  private openSource(): void {
    this.closeSource()
    if (!this.query) return
    this.setState('connecting')
    const source = new EventSource(`/api/live?${this.query}`, { withCredentials: true })
    this.source = source
    source.onopen = () => {
      if (this.source !== source) return
      this.retryDelayMs = 1000
      this.setState('open')
      if (this.hadError) {
        this.hadError = false
        this.handlers?.onReopen?.()
      }
    }
    source.onmessage = (message: MessageEvent<string>) => {
      if (this.source !== source) return
      let event: LiveEvent
      try {
        event = JSON.parse(message.data) as LiveEvent
      } catch {
        return // Not JSON: nothing the page could show; the server sends only JSON data lines.
      }
      if (!event || typeof event.kind !== 'string') return
      for (const tap of this.taps) tap(event)
      this.handlers?.onEvent(event)
    }
    source.onerror = () => {
      if (this.source !== source) return
      this.hadError = true
      this.setState('connecting')
      if (source.readyState === EventSource.CLOSED) this.scheduleRetry()
    }
  }

  private scheduleRetry(): void {
    this.closeSource()
    const delay = this.retryDelayMs
    this.retryDelayMs = Math.min(30_000, this.retryDelayMs * 2)
    // Jitter so a room of consoles does not reconnect in lockstep after a restart.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      // api() sends the user to the login page on 401; anything else: try the stream again.
      api('/api/me').then(
        () => this.openSource(),
        () => {
          if (this.query) this.scheduleRetry()
        },
      )
    }, delay * (0.75 + Math.random() * 0.5))
  }

  private closeSource(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.source) {
      this.source.onopen = null
      this.source.onmessage = null
      this.source.onerror = null
      this.source.close()
      this.source = undefined
    }
  }

  private setState(state: LiveState): void {
    if (state === this.state) return
    this.state = state
    for (const listener of this.listeners) listener(state)
  }
}

import type { StreamEvent, StreamEventKind, StreamHub } from '@gridline/processors'
import type { GridlineNodeRuntime } from '@gridline/dashboards'

/**
 * The `subscribe` half of GridlineNodeRuntime on the service's StreamHub: the
 * gridline nodes follow the same live stream as the console, decimated by the
 * hub (docs/live-stream.md). The lead combines it with the alarm engine and
 * the command service for the other three calls.
 */
export function hubSubscribe(hub: StreamHub): GridlineNodeRuntime['subscribe'] {
  return (filter, handler, onClose) => {
    const subscription = hub.subscribe(
      // Kinds the hub does not know simply match nothing.
      { ...filter, kinds: filter.kinds as StreamEventKind[] | undefined, onClose },
      (event: StreamEvent) => handler(event as unknown as { kind: string } & Record<string, unknown>),
    )
    return { unsubscribe: () => subscription.unsubscribe() }
  }
}

import type { InboundMessage, Logger, MessageRoute, RouteResult } from '@gridline/core'
import { type DecodeOptions, SPARKPLUG_NAMESPACE, type SparkplugMapping, type SparkplugOutcome, SparkplugHost, hostState } from '@gridline/processors'
import { Counter } from 'prom-client'
import type { LiveDeviceDirectory } from '../devices/directory.ts'
import { type IngestMetrics, sharedMetric } from '../metrics.ts'
import type { SparkplugConfig } from './config.ts'
import { sparkplugMapping } from './mapping.ts'

/** Where a Sparkplug host's messages go out: the broker its edge nodes are on. */
export type SparkplugPublish = (topic: string, payload: Buffer, options: { retain: boolean }) => void

/**
 * gridline as a Sparkplug B host application on one broker (docs/sparkplug.md):
 * the host logic (births, aliases, seq, bdSeq) with the registry mapping,
 * its metrics, and what it publishes back (rebirth requests, its STATE).
 * The embedded broker takes it as a route of the intake; an MQTT client
 * source calls `handle` for its `sparkplug` subscriptions.
 */
export class SparkplugService {
  readonly host: SparkplugHost
  private readonly mapping: SparkplugMapping
  private readonly messages: Counter<'component_id' | 'type'>
  private readonly rebirths: Counter<'component_id' | 'reason'>
  private readonly skipped: Counter<'component_id' | 'reason'>

  constructor(
    readonly componentId: string,
    readonly config: SparkplugConfig,
    deps: { registry: LiveDeviceDirectory; metrics: IngestMetrics; logger: Logger },
    private readonly decodeOptions: DecodeOptions,
    private publish: SparkplugPublish | null = null,
  ) {
    this.host = new SparkplugHost({ rebirthIntervalMs: config.rebirthIntervalMs })
    this.mapping = sparkplugMapping(deps.registry, config)
    const registry = deps.metrics.registry
    this.messages = sharedMetric(registry, 'gridline_sparkplug_messages_total', () => new Counter({ name: 'gridline_sparkplug_messages_total', help: 'Sparkplug B messages a host application read, by source and message type (NBIRTH, DDATA, ..., STATE; none for a topic outside the namespace\'s types).', labelNames: ['component_id', 'type'] as const, registers: [registry] }))
    this.rebirths = sharedMetric(registry, 'gridline_sparkplug_rebirth_requests_total', () => new Counter({ name: 'gridline_sparkplug_rebirth_requests_total', help: 'Rebirth requests (NCMD Node Control/Rebirth) sent to edge nodes, by source and reason: no_birth (data before a birth), seq_gap, alias_unknown.', labelNames: ['component_id', 'reason'] as const, registers: [registry] }))
    this.skipped = sharedMetric(registry, 'gridline_sparkplug_metrics_skipped_total', () => new Counter({ name: 'gridline_sparkplug_metrics_skipped_total', help: 'Sparkplug metrics read but not stored, by source and reason: datatype (text, bytes, datasets: not measurements), control (bdSeq, Node Control/*, Properties/*), unmapped (mapped to null), node (no device takes the edge node\'s own metrics), stale_death (an NDEATH of an older session).', labelNames: ['component_id', 'reason'] as const, registers: [registry] }))
  }

  /** Sets where rebirth requests and STATE go (a client source knows its connection only once started). */
  publishTo(publish: SparkplugPublish): void {
    this.publish = publish
  }

  handle(message: InboundMessage): SparkplugOutcome {
    const out = this.host.handle(message.topic, message.payload, message.receivedAt, message.principal, this.decodeOptions, this.mapping)
    this.messages.inc({ component_id: this.componentId, type: out.type ?? 'none' })
    for (const [reason, n] of out.skipped) this.skipped.inc({ component_id: this.componentId, reason }, n)
    if (out.rebirth) {
      this.rebirths.inc({ component_id: this.componentId, reason: out.rebirthReason ?? 'unknown' })
      this.publish?.(out.rebirth.topic, out.rebirth.payload, { retain: false })
    }
    return out
  }

  /** The retained STATE: online when the host starts, offline when it stops (Sparkplug 3.0 host application). */
  announce(online: boolean, timestamp = Date.now()): void {
    const state = hostState(this.config.hostId, online, timestamp)
    this.publish?.(state.topic, state.payload, { retain: true })
  }

  /** The embedded broker's route for the namespace. */
  route(): MessageRoute {
    return {
      name: 'sparkplug',
      matches: (topic) => topic.startsWith(`${SPARKPLUG_NAMESPACE}/`),
      handle: (message): RouteResult => {
        const out = this.handle(message)
        return { decoded: out.decoded, statuses: out.statuses }
      },
    }
  }
}

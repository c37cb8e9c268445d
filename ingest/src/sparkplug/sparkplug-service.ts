import type { InboundMessage, Logger, MessageRoute, RouteResult } from '@gridline/core'
import { type DecodeOptions, SPARKPLUG_NAMESPACE, type SparkplugMapping, type SparkplugOutcome, SparkplugHost, hostState } from '@gridline/processors'
import { Counter } from 'prom-client'
import type { CommandService, CommandTransport, OutgoingCommand } from '../commands/command-service.ts'
import type { DeviceRecord } from '../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../devices/directory.ts'
import { type IngestMetrics, sharedMetric } from '../metrics.ts'
import type { SparkplugConfig } from './config.ts'
import { NODE_METRICS, SPARKPLUG_DEVICE_KEY, commandWrite, sparkplugMapping } from './mapping.ts'

/** Where a Sparkplug host's messages go out: the broker its edge nodes are on. False: it could not go (no connection is up). */
export type SparkplugPublish = (topic: string, payload: Buffer, options: { retain: boolean }) => boolean | void

/** A command written to a metric, waiting for the device to report the value. */
interface PendingWrite {
  deviceId: string
  metric: string
  datatype: string
  value: number | boolean
}

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
  private readonly registry: LiveDeviceDirectory
  /** Commands written and not yet confirmed, by command id. */
  private readonly writes = new Map<string, PendingWrite>()
  private commands: Pick<CommandService, 'settle' | 'onChange'> | null = null

  constructor(
    readonly componentId: string,
    readonly config: SparkplugConfig,
    deps: { registry: LiveDeviceDirectory; metrics: IngestMetrics; logger: Logger },
    private readonly decodeOptions: DecodeOptions,
    private publish: SparkplugPublish | null = null,
  ) {
    this.host = new SparkplugHost({ rebirthIntervalMs: config.rebirthIntervalMs })
    this.mapping = sparkplugMapping(deps.registry, config)
    this.registry = deps.registry
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
    if (this.writes.size > 0) this.confirm(out)
    return out
  }

  /**
   * The way device commands reach Sparkplug devices (docs/sparkplug.md#commands):
   * a command configured in `commands` becomes a DCMD (an NCMD for the
   * device mapped to `$node`) writing the metric, and is `ok` once the device
   * reports the written value (in a DDATA or a rebirth); `failed` when it
   * dies first; else it times out. Add it to the command service once.
   */
  commandTransport(commands: Pick<CommandService, 'settle' | 'onChange'>): CommandTransport {
    this.commands = commands
    commands.onChange((record) => {
      if (record.status !== 'pending') this.forget(record.id)
    })
    return {
      name: `sparkplug (${this.componentId})`,
      // A device of an edge node live on this host; else, one registered with a Sparkplug name is still Sparkplug's (and offline).
      reaches: (deviceId) => {
        const d = this.behindGateway(deviceId)
        return d !== undefined && this.host.born(d.gateway, null)
      },
      claims: (deviceId) => typeof this.behindGateway(deviceId)?.metadata[SPARKPLUG_DEVICE_KEY] === 'string',
      send: (command) => this.write(command),
    }
  }

  /** The registered device with this id when it is a device behind a gateway (an edge node). */
  private behindGateway(deviceId: string): (DeviceRecord & { gateway: string }) | undefined {
    const d = this.registry.get(deviceId)
    return d !== undefined && d.kind === 'device' && d.gateway !== null ? d as DeviceRecord & { gateway: string } : undefined
  }

  private write(command: OutgoingCommand): void {
    const d = this.behindGateway(command.deviceId)
    if (!d) throw new Error(`"${command.deviceId}" is no device behind an edge node`)
    const named = d.metadata[SPARKPLUG_DEVICE_KEY]
    const name = typeof named === 'string' && named !== '' ? named : d.id
    const node = name === NODE_METRICS
    const key = `${command.domain}.${command.action}`
    const write = commandWrite(this.config, d.gateway, node ? null : name, key)
    if (!write) throw new Error(`no Sparkplug write is configured for "${key}": set sparkplug.commands["${key}"] (or the edge node's) to { metric: "<its Sparkplug metric>" } (docs/sparkplug.md#commands)`)
    const params = Object.keys(command.params)
    const value = write.value ?? (write.param !== undefined ? command.params[write.param] : params.length === 1 ? command.params[params[0]!] : true)
    const w = this.host.write(d.gateway, node ? null : d.id, write.metric, value, Date.now())
    if ('error' in w) throw new Error(w.error)
    if (!this.publish || this.publish(w.topic, w.payload, { retain: false }) === false) throw new Error('no connection to the edge nodes\' broker is up; the command was not sent')
    this.host.watch(d.id, w.metric)
    this.writes.set(command.id, { deviceId: d.id, metric: w.metric, datatype: w.datatype, value: w.value })
  }

  /** Settles the writes a message confirms (the value reported) or ends (the device offline). */
  private confirm(out: SparkplugOutcome): void {
    for (const r of out.reported) {
      for (const [id, w] of this.writes) {
        if (w.deviceId !== r.deviceId || w.metric !== r.metric || !sameValue(w, r.value)) continue
        this.forget(id)
        this.commands?.settle(id, w.deviceId, 'ok', `The device reported ${w.metric} = ${String(r.value)}.`)
      }
    }
    for (const s of out.statuses) {
      if (s.state !== 'offline') continue
      for (const [id, w] of this.writes) {
        // An NDEATH names the gateway: the edge node's own ($node) device dies with it.
        if (w.deviceId !== s.deviceId && this.registry.get(w.deviceId)?.gateway !== s.deviceId) continue
        this.forget(id)
        this.commands?.settle(id, w.deviceId, 'failed', `The device went offline (Sparkplug death) before it reported ${w.metric} = ${String(w.value)}.`)
      }
    }
  }

  private forget(id: string): void {
    const w = this.writes.get(id)
    if (!w) return
    this.writes.delete(id)
    this.host.unwatch(w.deviceId, w.metric)
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

/** A reported value is the written one: a Float as float32 holds it. */
function sameValue(w: PendingWrite, reported: number | boolean): boolean {
  if (typeof w.value === 'number' && typeof reported === 'number' && w.datatype === 'Float') return Math.fround(w.value) === Math.fround(reported)
  return w.value === reported
}

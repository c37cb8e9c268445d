import { readFileSync } from 'node:fs'
import { type Acknowledgement, type DeliveryStatus, type Envelope, GridlineError, type Intake, type Logger, type Principal, type Source, type SourceHealth } from '@gridline/core'
import { type ChirpStackMapping, type DecodeOptions, type LineMapping, decodeChirpStack, decodeLineProtocol, emptyDecoded, hostState, lineProtocolDeviceNames, refuseMessage, sensorCommunityChipId } from '@gridline/processors'
import { DEVICE_ID_PATTERN, parseStatusTopic, parseTopic, topicMatches } from '@gridline/schemas'
import type { IPublishPacket } from 'mqtt-packet'
import { Counter, Gauge } from 'prom-client'
import type { CommandService } from '../../commands/command-service.ts'
import { AutoRegistrar } from '../../devices/auto-register.ts'
import { principalOf } from '../../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import { type IngestMetrics, sharedMetric } from '../../metrics.ts'
import { SparkplugService } from '../../sparkplug/sparkplug-service.ts'
import { AckSequencer } from '../../transport/ack-sequencer.ts'
import type { MqttClientSourceConfig, MqttClientSubscription } from './config.ts'
import { ChirpStackDownlinks } from './chirpstack-downlinks.ts'
import { type ConnectionOptions, MqttClientConnection, type Session } from './mqtt-connection.ts'

export interface MqttClientSourceDeps {
  decodeOptions: DecodeOptions
  registry: LiveDeviceDirectory
  metrics: IngestMetrics
  logger: Logger
  /** While a connection has this many rows uncommitted, it is not read further (ingest.maxPendingRowsPerConnection). */
  maxPendingRowsPerConnection: number
  /** Where the source adds its ways to devices (ChirpStack downlinks, Sparkplug DCMD) and reports their results; absent: it sends no commands. */
  commands?: Pick<CommandService, 'addTransport' | 'settle' | 'pendingFor' | 'onChange'>
  /** Where GRIDLINE_SOURCE_<ID>_PASSWORD is read; default process.env. */
  env?: NodeJS.ProcessEnv
}

/** One connection's share of the pipeline and its acknowledgement order. */
interface ConnectionState {
  connection: MqttClientConnection
  shareRows: number
  /** The current socket's PUBACK order [MQTT-4.6.0-2]; a new socket starts a new one. */
  acks: AckSequencer | null
  session: Session | null
  /** Paused for its own share (not for the service's congestion). */
  full: boolean
}

/**
 * The `mqtt_client` source: gridline as a client of an external broker
 * (Mosquitto, EMQX, NATS's MQTT listener, a LoRaWAN network server's broker).
 * Each subscription's messages are decoded by its decoder and handed to the
 * intake; the PUBACK to the broker goes out only after the commit, in
 * PUBLISH order per connection, so a crash of gridline makes the broker
 * deliver again what was not stored. A message that was not stored (the
 * database away past the deadline) closes its connection unacknowledged:
 * after the reconnect the broker resends it and every later unacknowledged
 * one, and storage keeps one copy of what was already stored.
 */
export class MqttClientSource implements Source {
  readonly type = 'mqtt_client'
  private intake: Intake | undefined
  private draining = false
  private congested = false
  private readonly states: ConnectionState[] = []
  private readonly lineMapping: Map<MqttClientSubscription, LineMapping> = new Map()
  private readonly chirpMapping: Map<MqttClientSubscription, ChirpStackMapping> = new Map()
  /** A Sparkplug host application per sparkplug subscription; the first one's hostId announces STATE. */
  private readonly sparkplug: Map<MqttClientSubscription, SparkplugService> = new Map()
  /** The ChirpStack downlink transport of each chirpstack subscription with `chirpstack.downlinks`. */
  private readonly downlinks: Map<MqttClientSubscription, ChirpStackDownlinks> = new Map()
  /** `autoRegister`: registers the unknown devices messages name, behind its gateway. */
  private readonly registrar: AutoRegistrar | undefined
  /** Device ids being registered now, so a second message naming one waits for it rather than registering it again. */
  private readonly registering = new Map<string, Promise<unknown>>()
  private readonly autoRegistered: Counter<'component_id' | 'outcome'>
  /** Removes the downlink transports from the command service at close. */
  private readonly removeTransports: (() => void)[] = []
  /** The host id whose STATE this source announces: the first sparkplug subscription's; undefined without one. */
  private readonly hostId: string | undefined
  /** The timestamp of the current STATE (Sparkplug 3.0: the will's and the online message's are the same). */
  private stateTimestamp = 0
  private readonly messages: Counter<'component_id' | 'decoder'>
  private readonly redeliveries: Counter<'component_id'>
  private readonly events: Counter<'component_id' | 'event'>
  private readonly connects: Counter<'component_id'>
  private readonly disconnects: Counter<'component_id'>
  private readonly connected: Gauge<'component_id'>

  constructor(readonly id: string, private readonly config: MqttClientSourceConfig, private readonly deps: MqttClientSourceDeps) {
    const registry = deps.metrics.registry
    const shared = <T>(name: string, make: () => T): T => sharedMetric(registry, name, make)
    this.messages = shared('gridline_mqtt_client_messages_total', () => new Counter({ name: 'gridline_mqtt_client_messages_total', help: 'Messages an mqtt_client source received from its broker, by source and decoder.', labelNames: ['component_id', 'decoder'] as const, registers: [registry] }))
    this.redeliveries = shared('gridline_mqtt_client_redeliveries_total', () => new Counter({ name: 'gridline_mqtt_client_redeliveries_total', help: 'Messages the broker sent again (DUP set: not acknowledged before a reconnect or a restart), by source.', labelNames: ['component_id'] as const, registers: [registry] }))
    this.events = shared('gridline_mqtt_client_events_total', () => new Counter({ name: 'gridline_mqtt_client_events_total', help: 'ChirpStack integration events that carry no readings (join, status, ack, txack, log, ...), acknowledged and not stored, by source and event.', labelNames: ['component_id', 'event'] as const, registers: [registry] }))
    this.connects = shared('gridline_mqtt_client_connects_total', () => new Counter({ name: 'gridline_mqtt_client_connects_total', help: 'Logins accepted by the broker (CONNACK 0), by source.', labelNames: ['component_id'] as const, registers: [registry] }))
    this.disconnects = shared('gridline_mqtt_client_disconnects_total', () => new Counter({ name: 'gridline_mqtt_client_disconnects_total', help: 'Connections to the broker lost or refused (each followed by a reconnect after the backoff), by source; the reason is logged.', labelNames: ['component_id'] as const, registers: [registry] }))
    this.connected = shared('gridline_mqtt_client_connections', () => new Gauge({ name: 'gridline_mqtt_client_connections', help: 'Connections to the broker that are logged in, by source.', labelNames: ['component_id'] as const, registers: [registry] }))
    this.autoRegistered = shared('gridline_mqtt_client_auto_registered_total', () => new Counter({ name: 'gridline_mqtt_client_auto_registered_total', help: 'Unknown devices an mqtt_client source\'s autoRegister met, by source and outcome: registered, or over_limit (maxPerHour; dead-lettered as device_unknown).', labelNames: ['component_id', 'outcome'] as const, registers: [registry] }))
    this.registrar = config.autoRegister ? new AutoRegistrar(id, config.autoRegister, { registry: deps.registry, counter: this.autoRegistered, logger: deps.logger }) : undefined
    for (const [at, sub] of config.subscriptions.entries()) {
      if (sub.decoder === 'line_protocol') {
        this.lineMapping.set(sub, {
          deviceTags: sub.lineProtocol.deviceTags,
          rename: new Map(Object.entries(sub.lineProtocol.rename)),
          lookup: (value) => {
            const chip = sensorCommunityChipId(value)
            const device = deps.registry.get(value) ?? (chip === null ? undefined : deps.registry.byMetadata('sensorCommunityId', chip))
            return device ? { id: device.id, domain: device.kind === 'device' ? device.domain : null } : undefined
          },
        })
      } else if (sub.decoder === 'sparkplug') {
        const service = new SparkplugService(id, sub.sparkplug, { registry: deps.registry, metrics: deps.metrics, logger: deps.logger }, deps.decodeOptions)
        // Rebirth requests go out on any connection that is up (edge nodes subscribe to NCMD at QoS 0).
        service.publishTo((topic, payload) => this.states.some((s) => s.connection.publish(topic, payload, { qos: 0, retain: false })))
        if (deps.commands) deps.commands.addTransport(service.commandTransport(deps.commands))
        this.sparkplug.set(sub, service)
      } else if (sub.decoder === 'chirpstack') {
        this.chirpMapping.set(sub, {
          fields: new Map(Object.entries(sub.chirpstack.fields)),
          byDevEui: (eui) => {
            const device = deps.registry.byMetadata('devEui', eui)
            return device ? { id: device.id, domain: device.kind === 'device' ? device.domain : null } : undefined
          },
        })
        if (deps.commands && Object.keys(sub.chirpstack.downlinks).length > 0) {
          this.downlinks.set(sub, new ChirpStackDownlinks(id, at, sub, {
            registry: deps.registry,
            commands: deps.commands,
            // Downlinks go out on any connection that is up: ChirpStack's integration takes them from any client.
            publish: (topic, payload) => this.states.some((s) => s.connection.publish(topic, payload, { qos: 1, retain: false })),
            logger: deps.logger,
          }))
        }
      }
    }
    this.hostId = [...this.sparkplug.values()][0]?.config.hostId
  }

  /** Connects; resolves once every connection is logged in and subscribed, or after connectTimeoutMs (then it keeps trying and reports not ready). Binds no port. */
  async start(intake: Intake): Promise<Record<string, number | null>> {
    this.registrar?.check(this.deps.decodeOptions.catalogue)
    this.intake = intake
    if (this.deps.commands) for (const transport of this.downlinks.values()) this.removeTransports.push(this.deps.commands.addTransport(transport))
    intake.onCongestion((held) => {
      this.congested = held
      for (const s of this.states) this.applyPause(s)
    })
    const c = this.config
    const url = new URL(c.url)
    const secure = url.protocol === 'mqtts:'
    let tls: ConnectionOptions['tls'] = null
    try {
      if (secure) {
        tls = {
          ...(c.tls.caFile !== undefined ? { ca: readFileSync(c.tls.caFile) } : {}),
          ...(c.tls.certFile !== undefined ? { cert: readFileSync(c.tls.certFile), key: readFileSync(c.tls.keyFile!) } : {}),
          ...(c.tls.servername !== undefined ? { servername: c.tls.servername } : {}),
        }
      }
    } catch (err) {
      throw new GridlineError('GRIDLINE_CONFIG_INVALID', `sources.${this.id}.tls: ${(err as Error).message}`, { cause: err })
    }
    const envKey = `GRIDLINE_SOURCE_${this.id.toUpperCase().replaceAll('-', '_')}_PASSWORD`
    const password = (this.deps.env ?? process.env)[envKey] ?? c.password
    const filters = c.subscriptions.map((s) => (c.connections > 1 ? `$share/${c.shareGroup}/${s.filter}` : s.filter))
    const prefix = c.clientId ?? `gridline-${this.id}`
    // A Sparkplug host's STATE rides on the first connection: its will says offline if gridline dies, its first message after each CONNACK online.
    const hostId = this.hostId
    const will = hostId === undefined ? undefined : () => {
      this.stateTimestamp = Date.now()
      return { ...hostState(hostId, false, this.stateTimestamp), qos: 1 as const, retain: true }
    }
    for (let i = 0; i < c.connections; i++) {
      const state: ConnectionState = { connection: undefined as unknown as MqttClientConnection, shareRows: 0, acks: null, session: null, full: false }
      state.connection = new MqttClientConnection({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? (secure ? 8883 : 1883) : Number(url.port),
        tls,
        protocolVersion: c.protocolVersion,
        clientId: `${prefix}-${i}`,
        ...(c.username !== undefined ? { username: c.username } : {}),
        ...(password !== undefined ? { password } : {}),
        keepaliveSeconds: c.keepaliveSeconds,
        sessionExpirySeconds: c.sessionExpirySeconds,
        connectTimeoutMs: c.connectTimeoutMs,
        reconnect: c.reconnect,
        filters,
        receiveMaximum: Math.min(65_535, Math.max(16, this.deps.maxPendingRowsPerConnection)),
        ...(i === 0 && will !== undefined ? { will } : {}),
      }, {
        publish: (packet, session) => this.onPublish(state, packet, session),
        change: (now) => {
          if (now === 'connected') {
            this.connects.inc({ component_id: this.id })
            if (i === 0 && hostId !== undefined) {
              const online = hostState(hostId, true, this.stateTimestamp)
              state.connection.publish(online.topic, online.payload, { qos: 1, retain: true })
            }
          } else this.disconnects.inc({ component_id: this.id })
          this.connected.set({ component_id: this.id }, this.states.filter((s) => s.connection.state === 'connected').length)
        },
      }, this.deps.logger)
      this.states.push(state)
    }
    for (const s of this.states) s.connection.start()
    const deadline = Date.now() + c.connectTimeoutMs
    while (Date.now() < deadline && !this.states.every((s) => s.connection.ready)) await new Promise((resolve) => setTimeout(resolve, 20))
    if (!this.health().ready) {
      this.deps.logger.warn({ source: this.id, url: c.url, connections: this.states.map((s) => ({ clientId: s.connection.clientId, state: s.connection.state, error: s.connection.lastError })) }, `MQTT client source ${this.id}: not connected to ${c.url} yet; it keeps trying, and /ready reports it.`)
    }
    return {}
  }

  health(): SourceHealth {
    return {
      ready: this.states.length > 0 && this.states.every((s) => s.connection.ready),
      gating: false,
      detail: {
        url: this.config.url,
        connections: this.states.map((s) => ({
          clientId: s.connection.clientId,
          state: s.connection.state,
          connects: s.connection.connects,
          lastError: s.connection.lastError,
          ...(s.connection.refused.length > 0 ? { refusedFilters: s.connection.refused } : {}),
          ...(s.connection.downgraded.length > 0 ? { qos0Filters: s.connection.downgraded } : {}),
          pendingRows: s.shareRows,
        })),
      },
    }
  }

  /** Takes no new message (the sockets are not read further); those taken in are still acknowledged when they commit. */
  stopIntake(): void {
    this.draining = true
    for (const s of this.states) s.connection.pause()
  }

  /** DISCONNECT: the broker keeps each session and what it holds unacknowledged for the next start. */
  async close(): Promise<void> {
    this.stopIntake()
    for (const remove of this.removeTransports.splice(0)) remove()
    // A DISCONNECT discards the will: the STATE offline is published before it.
    if (this.hostId !== undefined) {
      const offline = hostState(this.hostId, false, this.stateTimestamp)
      this.states[0]?.connection.publish(offline.topic, offline.payload, { qos: 1, retain: true })
    }
    await Promise.all(this.states.map((s) => s.connection.close()))
    this.connected.set({ component_id: this.id }, 0)
  }

  private onPublish(state: ConnectionState, packet: IPublishPacket, session: Session): void {
    const intake = this.intake
    // Not read while draining: a packet already parsed stays unacknowledged, and the broker sends it again at the next start.
    if (!intake || this.draining) return
    if (state.session !== session) {
      state.session = session
      state.acks = new AckSequencer()
    }
    const receivedAt = Date.now()
    const topic = packet.topic
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    if (packet.dup) this.redeliveries.inc({ component_id: this.id })
    const sub = this.config.subscriptions.find((s) => topicMatches(s.filter, topic))
    this.messages.inc({ component_id: this.id, decoder: sub?.decoder ?? 'none' })
    let inner: Acknowledgement | null = null
    if (packet.qos > 0 && packet.messageId !== undefined) {
      const messageId = packet.messageId
      // Enqueued now, so its PUBACK keeps its place even when it is decoded later (autoRegister).
      inner = state.acks!.enqueue((error) => (error ? session.fail(`not stored: ${error.message}`) : session.ack(messageId)))
    }
    const wanted = this.registrar !== undefined && sub !== undefined ? this.unknownDevicesGuarded(sub, topic, payload) : undefined
    if (wanted === undefined || wanted.size === 0) {
      this.submit(intake, state, this.envelopeOf(intake, sub, topic, payload, receivedAt), inner)
      return
    }
    // autoRegister: held (one row of the connection's share) until its devices are registered, then decoded as usual.
    // Not registered (the registry cannot be written, a shutdown meanwhile): not acknowledged, so the broker sends it again.
    state.shareRows += 1
    this.checkShare(state)
    this.registerUnknown(wanted).then(
      () => {
        this.released(state, 1)
        if (this.draining) inner?.settle('errored', new Error('gridline stopped before the devices the message names were registered'))
        else this.submit(intake, state, this.envelopeOf(intake, sub, topic, payload, receivedAt), inner)
      },
      (err: Error) => {
        this.released(state, 1)
        this.deps.logger.warn({ err, source: this.id, devices: [...wanted.keys()].slice(0, 20) }, `MQTT client source ${this.id}: registering the unknown devices a message names failed (autoRegister); it is not acknowledged, and the broker sends it again after the reconnect.`)
        inner?.settle('errored', new Error(`the devices it names could not be registered: ${err.message}`))
      },
    ).catch((err: unknown) => this.deps.logger.error({ err, source: this.id, topic: topic.slice(0, 200) }, 'Submitting a message after autoRegister failed.'))
  }

  /** The message decoded by its subscription's decoder (a refusal when it matches none). Synchronous: the registry is in memory. */
  private envelopeOf(intake: Intake, sub: MqttClientSubscription | undefined, topic: string, payload: Buffer, receivedAt: number): Envelope {
    let envelope: Envelope
    if (sub === undefined) {
      const decoded = refuseMessage(emptyDecoded(), this.deps.decodeOptions, payload, 'topic_unmapped', `topic "${topic.slice(0, 200)}" matches none of source ${this.id}'s subscriptions (${this.config.subscriptions.map((s) => s.filter).join(', ')}): a filter an earlier configuration left in the broker's session?`, null)
      envelope = intake.decode({ source: this.id, topic, clientId: null, principal: null, receivedAt, payload }, decoded)
    } else if (sub.decoder === 'gridline') {
      envelope = this.decodeGridline(intake, sub, topic, payload, receivedAt)
    } else if (sub.decoder === 'line_protocol') {
      const { decoded } = decodeLineProtocol(payload, sub.lineProtocol.precision, null, receivedAt, this.deps.decodeOptions, this.lineMapping.get(sub)!)
      envelope = intake.decode({ source: this.id, topic, clientId: null, principal: null, receivedAt, payload }, decoded)
    } else if (sub.decoder === 'sparkplug') {
      const message = { source: this.id, topic, clientId: null, principal: null, receivedAt, payload }
      const out = this.sparkplug.get(sub)!.handle(message)
      envelope = intake.decode(message, out.decoded)
      if (out.statuses.length > 0) envelope.statuses = out.statuses
    } else {
      const out = decodeChirpStack(topic, payload, receivedAt, this.deps.decodeOptions, this.chirpMapping.get(sub)!)
      const event = out.event
      if (event !== 'up') this.events.inc({ component_id: this.id, event: event === null ? 'none' : event.slice(0, 32) })
      this.downlinks.get(sub)?.remember(out.devEui, out.applicationId)
      if (out.downlink && (event === 'ack' || event === 'txack')) this.downlinks.get(sub)?.onResult(event, out.downlink)
      envelope = intake.decode({ source: this.id, topic, clientId: null, principal: null, receivedAt, payload }, out.decoded)
      // Committed with the envelope, and acknowledged to the broker after it, like an uplink.
      if (out.status) envelope.statuses = [out.status]
    }
    return envelope
  }

  /** Hands the envelope to the pipeline with its claim on the connection's share and its PUBACK. */
  private submit(intake: Intake, state: ConnectionState, envelope: Envelope, inner: Acknowledgement | null): void {
    const share = Math.max(1, envelope.decoded.rows.length)
    state.shareRows += share
    envelope.ack = new Share(this, state, share, inner)
    this.checkShare(state)
    intake.submit(envelope)
  }

  private checkShare(state: ConnectionState): void {
    if (state.shareRows >= this.deps.maxPendingRowsPerConnection) {
      state.full = true
      this.applyPause(state)
    }
  }

  /**
   * autoRegister: the devices a message names that no registered device is,
   * as id -> metadata, by the subscription's device mapping (a topic level,
   * a line protocol device tag, a ChirpStack uplink's DevEUI); empty when it
   * names none (most messages: a few map lookups). Never throws.
   */
  private unknownDevices(sub: MqttClientSubscription, topic: string, payload: Buffer): Map<string, Record<string, unknown>> {
    const wanted = new Map<string, Record<string, unknown>>()
    const registry = this.deps.registry
    // An id being registered by an earlier message is still wanted: registerUnknown waits for that registration.
    const free = (id: string) => DEVICE_ID_PATTERN.test(id) && !registry.get(id)
    if (sub.decoder === 'gridline' && sub.device !== undefined) {
      const name = topic.split('/')[sub.device.topicLevel]
      if (name === undefined || name === '') return wanted
      if (sub.device.match === 'id') {
        if (free(name)) wanted.set(name, {})
      } else if (!registry.byMetadata(sub.device.match, name) && free(name)) {
        wanted.set(name, { [sub.device.match]: name })
      }
    } else if (sub.decoder === 'line_protocol') {
      for (const name of lineProtocolDeviceNames(payload, sub.lineProtocol.deviceTags)) {
        const chip = sensorCommunityChipId(name)
        if (chip !== null && registry.byMetadata('sensorCommunityId', chip)) continue
        if (free(name)) wanted.set(name, chip === null ? {} : { sensorCommunityId: chip })
      }
    } else if (sub.decoder === 'chirpstack') {
      const levels = topic.split('/')
      const eui = levels[3]
      // Uplinks only: the DevEUI in the topic, checked against the payload's by the decoder afterwards.
      if (levels[0] !== 'application' || levels[2] !== 'device' || levels[4] !== 'event' || levels[5] !== 'up' || eui === undefined || !/^[0-9A-Fa-f]{16}$/.test(eui)) return wanted
      if (registry.byMetadata('devEui', eui)) return wanted
      let name: unknown
      try {
        const body: unknown = JSON.parse(payload.toString('utf8'))
        name = typeof body === 'object' && body !== null ? (body as { deviceInfo?: { deviceName?: unknown } }).deviceInfo?.deviceName : undefined
      } catch {
        return wanted // Not JSON: the decoder dead-letters it as json_malformed.
      }
      // The device's name in ChirpStack when gridline has no device of that id, else eui-<DevEUI>.
      const id = typeof name === 'string' && free(name) ? name : `eui-${eui.toLowerCase()}`
      if (free(id)) wanted.set(id, { devEui: eui.toLowerCase(), chirpstackApplicationId: levels[1] })
    }
    return wanted
  }

  /** unknownDevices, and nothing (the message then decoded, its device unknown) if it ever throws: no input may throw out of a message's handling. */
  private unknownDevicesGuarded(sub: MqttClientSubscription, topic: string, payload: Buffer): Map<string, Record<string, unknown>> | undefined {
    try {
      return this.unknownDevices(sub, topic, payload)
    } catch (err) {
      this.deps.logger.warn({ err, source: this.id, topic: topic.slice(0, 200) }, 'Finding the unknown devices a message names failed (autoRegister); it is decoded as it is.')
      return undefined
    }
  }

  /** Registers `wanted`; an id already being registered (by an earlier message) is waited for, not registered twice. */
  private async registerUnknown(wanted: Map<string, Record<string, unknown>>): Promise<void> {
    const fresh = new Map<string, Record<string, unknown>>()
    const waits: Promise<unknown>[] = []
    for (const [id, metadata] of wanted) {
      const pending = this.registering.get(id)
      if (pending) waits.push(pending)
      else fresh.set(id, metadata)
    }
    if (fresh.size > 0) {
      const registering = this.registrar!.register(fresh)
      for (const id of fresh.keys()) this.registering.set(id, registering.catch(() => undefined))
      waits.push(registering.finally(() => {
        for (const id of fresh.keys()) this.registering.delete(id)
      }))
    }
    await Promise.all(waits)
  }

  /** A settled message gives its rows back; a connection paused for its own share reads on once it is under it. */
  released(state: ConnectionState, rows: number): void {
    state.shareRows -= rows
    if (state.full && state.shareRows < this.deps.maxPendingRowsPerConnection) {
      state.full = false
      this.applyPause(state)
    }
  }

  private applyPause(state: ConnectionState): void {
    if (this.draining) return
    if (this.congested || state.full) state.connection.pause()
    else state.connection.resume()
  }

  /**
   * gridline JSON: the device is where the subscription's `device` says (a
   * topic level, matched by id or a metadata key), its reading(s) decoded as
   * if published on its own topic; without `device`, the topic must be
   * gridline's own and names the device or the gateway. Either way the login
   * the message acts as is that registered device or gateway, so the usual
   * rules hold (a gateway only for its devices, a device in its domain).
   */
  private decodeGridline(intake: Intake, sub: MqttClientSubscription, topic: string, payload: Buffer, receivedAt: number) {
    const message = { source: this.id, topic, clientId: null, principal: null as Principal | null, receivedAt, payload }
    const refuse = (reason: 'topic_unmapped' | 'device_unknown' | 'topic_invalid', detail: string, deviceId: string | null) =>
      intake.decode(message, refuseMessage(emptyDecoded(), this.deps.decodeOptions, payload, reason, detail, deviceId))
    if (sub.device !== undefined) {
      const name = topic.split('/')[sub.device.topicLevel]
      if (name === undefined || name === '') return refuse('topic_unmapped', `topic "${topic.slice(0, 200)}" has no level ${sub.device.topicLevel}, which subscription ${sub.filter} says names the device`, null)
      const device = sub.device.match === 'id' ? this.deps.registry.get(name) : this.deps.registry.byMetadata(sub.device.match, name)
      if (!device || device.kind !== 'device') {
        return refuse('device_unknown', `no registered device has ${sub.device.match === 'id' ? 'id' : `${sub.device.match}`} "${name.slice(0, 64)}" (topic level ${sub.device.topicLevel} of "${topic.slice(0, 200)}")`, null)
      }
      const principal = principalOf(device)
      const envelope = intake.decode({ ...message, topic: `telemetry/${device.domain}/${device.id}`, principal })
      envelope.topic = topic
      return envelope
    }
    const target = parseTopic(topic)
    const status = parseStatusTopic(topic)
    const id = target.kind === 'device' ? target.deviceId : target.kind === 'gateway' ? target.gatewayId : status !== null && 'deviceId' in status ? status.deviceId : null
    if (id === null) return refuse('topic_invalid', `topic "${topic.slice(0, 200)}" is not gridline's (telemetry/<domain>/<device>, gateways/<gateway>/telemetry, status/<domain>/<device>); give the subscription a device mapping`, null)
    const login = this.deps.registry.get(id)
    if (!login) return refuse('device_unknown', `"${id}" (from topic "${topic.slice(0, 200)}") is not registered`, id)
    return intake.decode({ ...message, principal: principalOf(login) })
  }
}

/** A message's claim on its connection's share and its PUBACK, settled once after the commit. */
class Share implements Acknowledgement {
  private done = false

  constructor(private readonly source: MqttClientSource, private readonly state: ConnectionState, private readonly rows: number, private readonly inner: Acknowledgement | null) {}

  settle(status?: DeliveryStatus, reason?: Error): void {
    if (this.done) return
    this.done = true
    this.source.released(this.state, this.rows)
    this.inner?.settle(status, reason)
  }
}

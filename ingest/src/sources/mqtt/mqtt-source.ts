import { createServer, type Server } from 'node:net'
import { GridlineError, type Logger } from '@gridline/core'
import { type DecodeOptions, type DecodedMessage, type Principal, type Rejection, Rows, decodeMessage, decodeStatus, isStatusTopic, rejection } from '@gridline/processors'
import { LIMITS, deviceTopic, isReplyTopic, parseReplyTopic } from '@gridline/schemas'
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes'
import type { CommandService } from '../../commands/command-service.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { IngestMetrics } from '../../metrics.ts'
import type { Acknowledgement } from '../../pipeline/envelope.ts'
import type { IngestPipeline } from '../../pipeline/ingest-pipeline.ts'
import type { ProcessorHost } from '../../processing/processor-host.ts'
import { AckGate, AckSequencer } from './ack-sequencer.ts'

export interface MqttSourceOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  maxConnections: number
  /** `devices`: username/password per registered device. `none`: anyone, anything (trusted labs only). */
  auth: 'devices' | 'none'
}

interface ClientState {
  principal: Principal | null
  acks: AckSequencer
  /** True while the socket is corked until the next tick (see corkAcks). */
  corked: boolean
}

/**
 * Largest MQTT packet read: a 1 MiB gateway batch plus room for the topic and
 * headers. The announced length is checked before the body is buffered, so an
 * oversized packet costs no memory; its connection is closed.
 */
const MAX_PACKET_BYTES = LIMITS.maxGatewayPayloadBytes + 65_536

const STATE = Symbol('gridline')
/** Set on a PUBLISH packet that aedes must not fan out (the same object reaches broker.publish). */
const NO_FAN_OUT = Symbol('gridline.noFanOut')
type MarkedPacket = { [NO_FAN_OUT]?: true }
type GridlineClient = Client & { [STATE]?: ClientState }

/**
 * The embedded MQTT 3.1.1 broker (aedes) as the ingest source.
 *
 * Ack after commit: aedes runs `authorizePublish` before it writes the PUBACK
 * (QoS 1) or PUBREC (QoS 2) and reads no further packets from that socket
 * until every packet of the current read is done. We decode in that hook and
 * call its callback only once the message is committed, so the PUBACK means
 * "stored", and an uncommitted connection stops being read: that is the
 * backpressure. (Its `published` hook runs after the PUBACK and cannot hold it.)
 */
export class MqttSource {
  private broker: Aedes | undefined
  private server: Server | undefined
  private draining = false
  private readonly clientsByDevice = new Map<string, Set<GridlineClient>>()
  private readonly gate = new AckGate()

  constructor(
    private readonly options: MqttSourceOptions,
    private readonly deps: {
      pipeline: IngestPipeline
      directory: LiveDeviceDirectory | null
      decodeOptions: DecodeOptions
      /** The processors that run before the write (seq duplicates, quality checks). */
      processing: Pick<ProcessorHost, 'prepare'>
      metrics: IngestMetrics
      logger: Logger
      /** Past this many uncommitted rows a new PUBLISH closes its connection unacknowledged. */
      shedAtPendingRows: number
      /** Takes device replies to commands (`replies/{domain}/{deviceId}`); without it they are `topic_invalid`. */
      commands?: Pick<CommandService, 'onReply'>
    },
  ) {
    // Congested: hold every acknowledgement, so no socket is read further.
    deps.pipeline.onCongestion((held) => (held ? this.gate.close() : this.gate.open()))
  }

  /** Starts the broker and its listener; resolves with the bound port. */
  async listen(): Promise<number> {
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => this.authenticate(client as GridlineClient, username, password, done),
      authorizePublish: (client, packet, done) => this.onPublish(client as GridlineClient | null, packet, done),
      authorizeSubscribe: (client, sub, done) => {
        const state = (client as GridlineClient)[STATE]
        if (!state?.principal || mayReceive(state.principal, sub.topic)) return done(null, sub)
        this.deps.metrics.subscribeDenied.inc()
        done(null, null) // SUBACK 0x80 for this topic [MQTT-3.9.3]
      },
    })
    // After a publish is authorized aedes fans it out (offline queues, the
    // emitter, the published hook). Skip all of it for messages that must not
    // reach anyone: it also saves the topic matching on the hot path.
    // (aedes calls it as publish(packet, client, done); its typings know only publish(packet, done).)
    type FanOut = (packet: AedesPublishPacket, client: unknown, done?: (err?: Error) => void) => void
    const fanOut = (broker.publish as unknown as FanOut).bind(broker)
    const guarded: FanOut = (packet, client, done) => {
      if ((packet as MarkedPacket)[NO_FAN_OUT]) return done?.()
      fanOut(packet, client, done)
    }
    broker.publish = guarded as unknown as Aedes['publish']
    broker.on('client', (client: GridlineClient) => {
      this.deps.metrics.connectedClients.inc()
      const principal = client[STATE]?.principal
      if (principal) {
        let set = this.clientsByDevice.get(principal.id)
        if (!set) this.clientsByDevice.set(principal.id, (set = new Set()))
        set.add(client)
      }
    })
    broker.on('clientDisconnect', (client: GridlineClient) => {
      this.deps.metrics.connectedClients.dec()
      const principal = client[STATE]?.principal
      if (principal) {
        const set = this.clientsByDevice.get(principal.id)
        set?.delete(client)
        if (set?.size === 0) this.clientsByDevice.delete(principal.id)
      }
    })
    // A device removed, or given new credentials, a new domain or gateway,
    // loses the connections it opened under the old registration.
    this.deps.directory?.onChange((deviceId) => {
      for (const client of this.clientsByDevice.get(deviceId) ?? []) {
        this.deps.logger.info({ deviceId }, 'Closing a connection: its device registration changed.')
        client.close()
      }
    })
    this.broker = broker
    const server = createServer((socket) => {
      const client = broker.handle(socket) as GridlineClient
      this.guardPacketSize(client)
    })
    server.maxConnections = this.options.maxConnections
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE'
          ? new GridlineError('GRIDLINE_PORT_IN_USE', `MQTT port ${this.options.port} on ${this.options.host} is already in use; set MQTT_PORT or mqtt.port.`, { cause: err })
          : err)
      })
      server.listen(this.options.port, this.options.host, () => resolve())
    })
    const address = server.address()
    return typeof address === 'object' && address ? address.port : this.options.port
  }

  /**
   * Publishes a service event (alarm changes) to subscribers. Unlike client
   * publishes it keeps its retain flag: `alarms/active/...` is retained
   * while an alarm is open (docs/alarms.md).
   */
  publishServiceEvent(topic: string, payload: string, retain: boolean): void {
    const broker = this.broker
    if (!broker || this.draining) return
    broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false } as AedesPublishPacket, (err?: Error) => {
      if (err) this.deps.logger.warn({ err, topic }, 'Publishing an event on the broker failed.')
    })
  }

  get connectedClients(): number {
    return this.broker?.connectedClients ?? 0
  }

  get listening(): boolean {
    return this.server?.listening ?? false
  }

  /** Stops new connections and new messages; messages already taken in are still committed and acknowledged. */
  stopIntake(): void {
    this.draining = true
    this.server?.close()
  }

  /** Disconnects every client and stops the broker. Call after the pipeline drained. */
  async close(): Promise<void> {
    this.stopIntake()
    const broker = this.broker
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()))
  }

  private clientState(client: GridlineClient, principal: Principal | null): ClientState {
    const hot = this.deps.metrics.hot
    const state: ClientState = {
      principal,
      corked: false,
      acks: new AckSequencer(() => {
        hot.messagesAcked++
        corkAcks(client, state)
      }, this.gate),
    }
    return state
  }

  /** Refuses, before buffering it, any packet announcing more than MAX_PACKET_BYTES. */
  private guardPacketSize(client: GridlineClient): void {
    const parser = (client as unknown as { _parser: ParserInternals })._parser
    const parseLength = parser._parseLength.bind(parser)
    parser._parseLength = () => {
      const complete = parseLength()
      if (complete && parser.packet.length > MAX_PACKET_BYTES) {
        const announced = parser.packet.length
        this.deps.metrics.oversizedPackets.inc()
        this.recordRefusal(client, 'payload_too_large', `the MQTT packet announced ${announced} bytes, the limit is ${MAX_PACKET_BYTES}; the connection was closed without reading it`, announced)
        parser._emitError(new Error(`packet of ${announced} bytes exceeds ${MAX_PACKET_BYTES}`))
        return false
      }
      return complete
    }
  }

  /** Records in the rejected table a refusal that has no message to go with it (nothing is acknowledged). */
  private recordRefusal(client: GridlineClient, reason: 'payload_too_large', detail: string, payloadBytes: number): void {
    const principal = client[STATE]?.principal
    this.deps.pipeline.submit({
      topic: '',
      clientId: client.id ?? null,
      principal: principal ?? null,
      receivedAt: Date.now(),
      payload: Buffer.alloc(0),
      decoded: {
        rows: new Rows(),
        readings: 0,
        rejections: [{ reason, detail, deviceId: principal?.id ?? null, payload: Buffer.alloc(0), payloadBytes }],
        unknownMetrics: 0,
        outOfRange: 0,
      },
      ack: null,
    })
  }

  private authenticate(
    client: GridlineClient,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const { directory, metrics, logger } = this.deps
    if (this.options.auth === 'none' || !directory) {
      client[STATE] = this.clientState(client, null)
      return done(null, true)
    }
    const refuse = (reason: string, code: 4 | 5) => {
      metrics.authFailures.inc({ reason })
      logger.debug({ clientId: client.id, username, reason }, 'Refused a connection.')
      const err = new Error(`authentication failed: ${reason}`) as AuthenticateError
      err.returnCode = code
      done(err, null)
    }
    if (!username || !password) return refuse('missing_credentials', 4)
    directory.authenticate(username, password.toString('utf8')).then((device) => {
      if (!device) return refuse('bad_credentials', 4)
      const principal: Principal = device.kind === 'device'
        ? { kind: 'device', id: device.id, domain: device.domain ?? '', topic: deviceTopic(device.domain ?? '', device.id) }
        : { kind: device.kind, id: device.id }
      client[STATE] = this.clientState(client, principal)
      done(null, true)
    }, (err) => {
      logger.error({ err }, 'Checking device credentials failed.')
      refuse('error', 5)
    })
  }

  private onPublish(client: GridlineClient | null, packet: { topic: string; payload: Buffer | string; qos: number; retain: boolean }, done: (error?: Error | null) => void): void {
    // A will published for a client that is gone: nothing to store.
    if (!client) return done(null)
    const state = client[STATE]
    if (!state) return done(new Error('client is not authenticated'))
    if (this.draining) {
      // MQTT 3.1.1 has no way to refuse a PUBLISH but closing the connection;
      // unacknowledged, the client sends it again after reconnecting elsewhere.
      return done(new GridlineError('GRIDLINE_SHUTTING_DOWN', 'the service is shutting down'))
    }
    const { pipeline, decodeOptions, metrics } = this.deps
    if (pipeline.pendingRows >= this.deps.shedAtPendingRows) {
      // While congested no acknowledgement is released, so no socket is read
      // further; only packets already read and new connections (devices
      // reconnecting while the database is away) can add to memory. Past the
      // shedding limit, drop them unacknowledged: their clients resend later.
      // Nothing acknowledged is lost.
      metrics.shedConnections.inc()
      return done(new Error('ingest is overloaded; reconnect later'))
    }
    // Telemetry is never retained: the broker would keep a copy per topic in memory.
    packet.retain = false
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const receivedAt = Date.now()
    if (isStatusTopic(packet.topic)) return this.onStatus(client, state, packet, payload, receivedAt, done)
    if (this.deps.commands && isReplyTopic(packet.topic)) return this.onReply(this.deps.commands, client, state, packet, payload, receivedAt, done)
    const decoded = decodeMessage(packet.topic, payload, receivedAt, state.principal, decodeOptions)
    this.deps.processing.prepare(decoded, { position: pipeline.nextPosition, committedThrough: pipeline.committedThrough })
    const hot = metrics.hot
    if (packet.topic.startsWith('gateways/')) hot.gatewayMessages++
    else hot.deviceMessages++
    hot.readingsReceived += decoded.readings
    if (decoded.unknownMetrics > 0) metrics.unknownMetricRows.inc(decoded.unknownMetrics)
    if (decoded.outOfRange > 0) metrics.outOfRangeRows.inc(decoded.outOfRange)

    // What a client publishes is fanned out only when it is valid telemetry and
    // someone may subscribe to it: with device logins nobody may (a device may
    // subscribe only to its own command topic), so nothing is; with `auth:
    // none` valid telemetry is. A device must never reach another device's
    // topics through the broker.
    if (decoded.rows.length === 0 || state.principal !== null) (packet as MarkedPacket)[NO_FAN_OUT] = true

    let ack: Acknowledgement | null = null
    if (packet.qos === 0 && !pipeline.congested) {
      // No ack to hold for QoS 0: release the socket now unless we are congested.
      done(null)
    } else {
      ack = state.acks.enqueue(done)
    }
    pipeline.submit({ topic: packet.topic, clientId: client.id, principal: state.principal, receivedAt, payload, decoded, ack })
  }

  /**
   * A device's online/offline report, or its will when the connection died.
   * Stored like telemetry (acknowledged after commit, refusals dead-lettered)
   * and never fanned out: with device logins nobody may subscribe to it, and
   * in-process consumers get it from the pipeline.
   */
  private onStatus(client: GridlineClient, state: ClientState, packet: { topic: string; qos: number }, payload: Buffer, receivedAt: number, done: (error?: Error | null) => void): void {
    const { change, rejections } = decodeStatus(packet.topic, payload, receivedAt, state.principal, this.deps.decodeOptions)
    if (change) this.deps.metrics.statusReports.inc({ state: change.state })
    ;(packet as MarkedPacket)[NO_FAN_OUT] = true
    const decoded: DecodedMessage = { rows: new Rows(), readings: 0, rejections, unknownMetrics: 0, outOfRange: 0 }
    const ack = packet.qos === 0 ? (done(null), null) : state.acks.enqueue(done)
    this.deps.pipeline.submit({ topic: packet.topic, clientId: client.id, principal: state.principal, receivedAt, payload, decoded, ack, ...(change ? { status: change } : {}) })
  }

  /**
   * A device's reply to a command (docs/protocol.md#device-commands). The
   * command service takes it without waiting for the database, so it is
   * acknowledged at once; never fanned out. A reply on another device's
   * topic, or one that is not a reply, is dead-lettered and acknowledged
   * after that commits, as onStatus does.
   */
  private onReply(commands: Pick<CommandService, 'onReply'>, client: GridlineClient, state: ClientState, packet: { topic: string; qos: number }, payload: Buffer, receivedAt: number, done: (error?: Error | null) => void): void {
    ;(packet as MarkedPacket)[NO_FAN_OUT] = true
    const maxBytes = this.deps.decodeOptions.rejectedPayloadMaxBytes
    const principal = state.principal
    const target = parseReplyTopic(packet.topic)!
    let refused: Rejection | null = null
    if ('invalid' in target) {
      refused = rejection(target.invalid, `"${packet.topic.slice(0, 200)}" is not replies/{domain}/{deviceId}`, null, payload, maxBytes)
    } else if (principal !== null && (principal.kind !== 'device' || principal.id !== target.deviceId || principal.domain !== target.domain)) {
      refused = rejection('topic_not_authorized', `${principal.kind} "${principal.id}" may not reply for ${target.domain}/${target.deviceId}; a device replies only on its own replies topic`, target.deviceId, payload, maxBytes)
    } else {
      const result = commands.onReply(target.deviceId, target.domain, payload)
      if (!result.ok) refused = rejection(result.reason, result.detail, target.deviceId, payload, maxBytes)
    }
    if (!refused) {
      // Through the sequencer rather than done(null) directly: a PUBACK must
      // not overtake those of this client's earlier, uncommitted messages
      // [MQTT-4.6.0-2]. With none waiting it is released right here.
      if (packet.qos === 0) done(null)
      else state.acks.enqueue(done).settle()
      return
    }
    const decoded: DecodedMessage = { rows: new Rows(), readings: 0, rejections: [refused], unknownMetrics: 0, outOfRange: 0 }
    const ack = packet.qos === 0 ? (done(null), null) : state.acks.enqueue(done)
    this.deps.pipeline.submit({ topic: packet.topic, clientId: client.id, principal: state.principal, receivedAt, payload, decoded, ack })
  }
}

/**
 * A committed batch releases many acknowledgements for one client in the same
 * tick; corking its socket until the next tick sends them in one write
 * instead of one system call per PUBACK.
 */
function corkAcks(client: GridlineClient, state: ClientState): void {
  if (state.corked) return
  const conn = client.conn as { cork?: () => void; uncork?: () => void }
  if (!conn.cork || !conn.uncork) return
  state.corked = true
  conn.cork()
  process.nextTick(uncork, conn, state)
}

function uncork(conn: { uncork?: () => void }, state: ClientState): void {
  state.corked = false
  conn.uncork!()
}

/** The parts of mqtt-packet's Parser (used by aedes, not typed) that the size guard hooks. */
interface ParserInternals {
  packet: { length: number }
  _parseLength(): boolean
  _emitError(err: Error): void
}

/**
 * What a device or gateway may subscribe to: its own command topics and its
 * own rejections topic (exactly, no wildcards); an integration: alarm events.
 */
function mayReceive(principal: Principal, topic: string): boolean {
  if (principal.kind === 'device') return topic === `commands/${principal.domain}/${principal.id}` || topic === `rejections/${principal.domain}/${principal.id}`
  if (principal.kind === 'integration') return topic.startsWith('alarms/')
  return topic === `gateways/${principal.id}/commands` || topic.startsWith(`gateways/${principal.id}/commands/`) || topic === `gateways/${principal.id}/rejections`
}

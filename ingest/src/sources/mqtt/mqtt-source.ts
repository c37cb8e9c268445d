import { type Server, type Socket, createServer } from 'node:net'
import { GridlineError, type Logger } from '@gridline/core'
import { type DecodeOptions, type DecodedMessage, type Principal, type Rejection, Rows, decodeFailure, decodeMessage, decodeStatus, isStatusTopic, rejection } from '@gridline/processors'
import { LIMITS, deviceTopic, isReplyTopic, parseReplyTopic } from '@gridline/schemas'
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes'
import type { CommandService } from '../../commands/command-service.ts'
import type { DeviceRecord } from '../../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { IngestMetrics } from '../../metrics.ts'
import type { Acknowledgement } from '../../pipeline/envelope.ts'
import type { IngestPipeline } from '../../pipeline/ingest-pipeline.ts'
import type { ProcessorHost } from '../../processing/processor-host.ts'
import { AckGate, AckSequencer } from './ack-sequencer.ts'
import { certificateIdentities, certificateLogin } from './certificate-identity.ts'
import { TlsListener, type TlsListenerOptions } from './tls-listener.ts'
import { AuthThrottle, type AuthThrottleOptions, DEFAULT_AUTH_THROTTLE } from './auth-throttle.ts'
import { PendingConnections, type ParserInternals, guardProtocol } from './connect-guard.ts'
import { SessionOwners } from './session-owners.ts'

export interface MqttSourceOptions {
  host: string
  /** 0 picks a free port; false: no plain listener. */
  port: number | false
  maxConnections: number
  /** The MQTT-over-TLS listener; off when absent. */
  tls?: Omit<TlsListenerOptions, 'host' | 'maxConnections'> | undefined
  /** `devices`: username/password per registered device. `none`: anyone, anything (trusted labs only). */
  auth: 'devices' | 'none'
  /** A connection whose CONNECT has not arrived this long after it opened is closed. */
  connectTimeoutMs?: number
  /** Largest packet read before login. */
  maxConnectBytes?: number
  /** Connections from one address (IPv6: one /64) not logged in yet; more are closed at once. */
  maxPendingConnectionsPerAddress?: number
}

interface ClientState {
  principal: Principal | null
  acks: AckSequencer
  /** This connection's QoS 0 rows not yet committed (its share of the pipeline). */
  qos0Rows: number
  /** Payload bytes handled in this event-loop turn (see onPublish). */
  sliceBytes: number
  /** Packets waiting for a later turn, in arrival order; null when none wait. */
  deferred: { packet: PublishPacket; done: (error?: Error | null) => void }[] | null
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
/** Set by preConnect: the CONNECT carried a zero-length client id. */
const EMPTY_ID = Symbol('gridline.emptyClientId')
/** Set on a PUBLISH packet that aedes must not fan out (the same object reaches broker.publish). */
const NO_FAN_OUT = Symbol('gridline.noFanOut')
type MarkedPacket = { [NO_FAN_OUT]?: true }
type GridlineClient = Client & { [STATE]?: ClientState; [EMPTY_ID]?: boolean }

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
  private tlsListener: TlsListener | undefined
  private draining = false
  private readonly clientsByDevice = new Map<string, Set<GridlineClient>>()
  private readonly gate = new AckGate()
  private readonly owners = new SessionOwners()
  private readonly throttle: AuthThrottle
  private readonly pending: PendingConnections

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
      /** While a connection has this many QoS 0 rows uncommitted, its socket is not read further. */
      maxPendingRowsPerConnection?: number
      /** Takes device replies to commands (`replies/{domain}/{deviceId}`); without it they are `topic_invalid`. */
      commands?: Pick<CommandService, 'onReply'>
      /** Password-guessing throttle; DEFAULT_AUTH_THROTTLE unless a test needs other limits. */
      authThrottle?: AuthThrottleOptions
    },
  ) {
    this.throttle = new AuthThrottle(deps.authThrottle ?? DEFAULT_AUTH_THROTTLE)
    this.pending = new PendingConnections(options.maxPendingConnectionsPerAddress ?? 1_000)
    // Congested: hold every acknowledgement, so no socket is read further.
    deps.pipeline.onCongestion((held) => (held ? this.gate.close() : this.gate.open()))
  }

  /** Starts the broker and its listeners; resolves with the bound ports (null for a listener that is off). */
  async listen(): Promise<{ port: number | null; tlsPort: number | null }> {
    const broker = await Aedes.createBroker({
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      preConnect: (client, packet, done) => {
        // aedes gives an empty client id a random one before authenticate runs; remember it was empty.
        ;(client as GridlineClient)[EMPTY_ID] = packet.clientId === ''
        done(null, true)
      },
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
    broker.on('connectionError', (_client: Client, err: Error) => {
      if (err.message === 'connect did not arrive in time') this.deps.metrics.connectionsClosed.inc({ reason: 'connect_timeout' })
    })
    this.broker = broker
    const tlsPort = this.options.tls ? await this.listenTls(broker, this.options.tls) : null
    const port = this.options.port === false ? null : await this.listenPlain(broker, this.options.port)
    return { port, tlsPort }
  }

  private async listenPlain(broker: Aedes, port: number): Promise<number> {
    const server = createServer((socket) => this.accept(broker, socket))
    server.maxConnections = this.options.maxConnections
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE'
          ? new GridlineError('GRIDLINE_PORT_IN_USE', `MQTT port ${port} on ${this.options.host} is already in use; set MQTT_PORT or mqtt.port.`, { cause: err })
          : err)
      })
      server.listen(port, this.options.host, () => resolve())
    })
    const address = server.address()
    return typeof address === 'object' && address ? address.port : port
  }

  /** MQTT over TLS (docs/protocol.md#connecting-over-tls): the same broker behind tls-listener.ts. */
  private async listenTls(broker: Aedes, tls: NonNullable<MqttSourceOptions['tls']>): Promise<number> {
    const { metrics } = this.deps
    const listener = new TlsListener({ ...tls, host: this.options.host, maxConnections: this.options.maxConnections }, {
      onConnection: (socket) => this.accept(broker, socket),
      onRefused: (reason) => metrics.tlsRefused.inc({ reason }),
      onReload: (result) => metrics.tlsReloads.inc({ result }),
    }, this.deps.logger)
    this.tlsListener = listener
    return await listener.listen()
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
    return (this.options.port === false || (this.server?.listening ?? false)) && (!this.options.tls || (this.tlsListener?.listening ?? false))
  }

  /** Stops new connections and new messages; messages already taken in are still committed and acknowledged. */
  stopIntake(): void {
    this.draining = true
    this.server?.close()
    this.tlsListener?.close()
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
      qos0Rows: 0,
      sliceBytes: 0,
      deferred: null,
      acks: new AckSequencer(() => {
        hot.messagesAcked++
        corkAcks(client, state)
      }, this.gate),
    }
    return state
  }

  /**
   * Hands a new socket to the broker, unless its address has too many
   * connections that have not logged in yet, with the size and protocol
   * guards on its parser.
   */
  private accept(broker: Aedes, socket: Socket): void {
    if (!this.pending.admit(socket)) {
      this.deps.metrics.connectionsClosed.inc({ reason: 'too_many_pending' })
      socket.destroy()
      return
    }
    const client = broker.handle(socket) as GridlineClient
    this.guardPacketSize(client)
    guardProtocol((client as unknown as { _parser: ParserInternals })._parser, (reason, detail) => {
      this.deps.metrics.connectionsClosed.inc({ reason })
      this.deps.logger.debug({ clientId: client.id, reason, detail }, 'Closing a connection: it broke the MQTT protocol.')
    })
  }

  /**
   * Refuses, before buffering it, any packet announcing more than
   * MAX_PACKET_BYTES, or before login more than maxConnectBytes: a CONNECT is
   * small, and a connection that has not logged in must not hold memory.
   */
  private guardPacketSize(client: GridlineClient): void {
    const parser = (client as unknown as { _parser: ParserInternals })._parser
    const parseLength = parser._parseLength.bind(parser)
    const maxConnectBytes = this.options.maxConnectBytes ?? 8_192
    parser._parseLength = () => {
      const complete = parseLength()
      if (complete && !client[STATE] && parser.packet.length > maxConnectBytes) {
        // Nothing is recorded in the rejected table: that would let anyone without a login write to the database.
        this.deps.metrics.connectionsClosed.inc({ reason: 'connect_too_large' })
        parser._emitError(new Error(`a packet of ${parser.packet.length} bytes before login exceeds ${maxConnectBytes}`))
        return false
      }
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
    const refuse = (reason: string, code: 2 | 3 | 4 | 5) => {
      if (code === 2) metrics.clientIdRejected.inc({ reason })
      else metrics.authFailures.inc({ reason })
      logger.debug({ clientId: client.id, username, reason }, 'Refused a connection.')
      const err = new Error(`connection refused: ${reason}`) as AuthenticateError
      err.returnCode = code
      done(err, null)
    }
    // A session needs a client id to be found again by [MQTT-3.1.3-8].
    if (client[EMPTY_ID] && !client.clean) return refuse('empty_persistent', 2)
    const accept = (principal: Principal | null) => {
      client[STATE] = this.clientState(client, principal)
      this.pending.settle(client.conn as Socket)
      done(null, true)
    }
    if (this.options.auth === 'none' || !directory) return accept(null)
    // A session belongs to the login that made it (docs/protocol.md#client-ids):
    // never taken over by another login, only by its own [MQTT-3.1.4-2].
    const admit = (device: DeviceRecord) => {
      const clientId = client.id
      if (!this.owners.mayUse(clientId, device.id)) return refuse(this.isConnected(clientId) ? 'in_use' : 'session_held', 2)
      const conn = client.conn as Socket
      if (conn.destroyed) return
      this.owners.claim(clientId, device.id, client.clean)
      conn.once('close', () => this.owners.release(clientId, device.id))
      accept(principalOf(device))
    }
    // A verified client certificate (TLS listener with mqtt.tls.caFile) may log in by itself.
    const identities = certificateIdentities(client.conn)
    if (identities) {
      const login = certificateLogin(identities, username, password !== undefined, (id) => directory.get(id))
      if (login.outcome === 'accept') return admit(login.device)
      if (login.outcome === 'refuse') return refuse(login.reason, login.reason === 'certificate_mismatch' ? 5 : 4)
    }
    if (!username || !password) return refuse('missing_credentials', 4)
    const address = (client.conn as Partial<Socket>).remoteAddress ?? ''
    // Counted as a failure before the check, so concurrent guesses are throttled too.
    const verdict = this.throttle.admit(username, address)
    if (!verdict.allowed) {
      // Refused before any check: a throttled guess costs nothing and learns nothing.
      metrics.authThrottled.inc({ scope: verdict.scope })
      return refuse('throttled', 3)
    }
    directory.authenticate(username, password.toString('utf8')).then((device) => {
      if (!device) {
        this.throttle.failure(username, address, verdict)
        return refuse('bad_credentials', 4)
      }
      this.throttle.success(username, address)
      admit(device)
    }, (err) => {
      logger.error({ err }, 'Checking device credentials failed.')
      refuse('error', 5)
    })
  }

  /** Whether a connection with this client id is registered in the broker now. */
  private isConnected(clientId: string): boolean {
    // aedes keeps them in broker.clients by id; its typings do not list it.
    return (this.broker as unknown as { clients?: Record<string, unknown> } | undefined)?.clients?.[clientId] !== undefined
  }

  /**
   * Fair turns: aedes hands over every packet of a socket read in one
   * synchronous run, and a read can hold megabytes, so one connection's
   * burst of large messages could keep the event loop (and everyone else's
   * PUBACKs) for a second. Past DECODE_SLICE_BYTES of payload in one turn, a
   * connection's further packets wait in its own queue, in order, and are
   * handled a slice per event-loop turn, between other sockets' I/O. Their
   * callbacks are held meanwhile, so aedes reads no more from that socket.
   */
  private onPublish(client: GridlineClient | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const state = client?.[STATE]
    if (!client || !state) return this.handlePublish(client, packet, done)
    if (state.deferred) {
      state.deferred.push({ packet, done })
      return
    }
    if (state.sliceBytes >= DECODE_SLICE_BYTES) {
      state.deferred = [{ packet, done }]
      setImmediate(() => this.nextSlice(client, state))
      return
    }
    this.handlePublish(client, packet, done)
  }

  private nextSlice(client: GridlineClient, state: ClientState): void {
    state.sliceBytes = 0
    const queue = state.deferred!
    while (queue.length > 0 && state.sliceBytes < DECODE_SLICE_BYTES) {
      const next = queue.shift()!
      this.handlePublish(client, next.packet, next.done)
    }
    if (queue.length > 0) {
      setImmediate(() => this.nextSlice(client, state))
    } else {
      state.deferred = null
    }
  }

  private handlePublish(client: GridlineClient | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    // A will published for a client that is gone: nothing to store.
    if (!client) return done(null)
    const state = client[STATE]
    if (!state) return done(new Error('client is not authenticated'))
    if (state.sliceBytes === 0) process.nextTick(endTurn, state)
    state.sliceBytes += packet.payload.length + 1
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
    let decoded = decodeMessage(packet.topic, payload, receivedAt, state.principal, decodeOptions)
    try {
      this.deps.processing.prepare(decoded, { position: pipeline.nextPosition, committedThrough: pipeline.committedThrough })
    } catch (err) {
      // A processor's failure on one message must not end the process (and
      // come back with every resend): that message is dead-lettered instead.
      this.deps.logger.error({ err, topic: packet.topic }, 'A pre-write processor failed on a message; it is kept in rejected as decode_failed.')
      decoded = decodeFailure(payload, err, state.principal?.id ?? null, decodeOptions.rejectedPayloadMaxBytes)
    }
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
    if (packet.qos === 0) {
      // No ack is owed for QoS 0, so its callback is released now, unless we
      // are congested or this connection already has its share of the
      // pipeline uncommitted: then the socket is not read until it commits,
      // and one flooding client cannot stall everyone's acknowledgements.
      const held = pipeline.congested || state.qos0Rows >= (this.deps.maxPendingRowsPerConnection ?? Infinity)
      const inner = held ? state.acks.enqueue(done) : (done(null), null)
      const rows = decoded.rows.length
      if (rows > 0 || inner) {
        state.qos0Rows += rows
        ack = new ConnectionShare(state, rows, inner)
      }
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
      try {
        const result = commands.onReply(target.deviceId, target.domain, payload)
        if (!result.ok) refused = rejection(result.reason, result.detail, target.deviceId, payload, maxBytes)
      } catch (err) {
        refused = decodeFailure(payload, err, target.deviceId, maxBytes).rejections[0]!
      }
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

type PublishPacket = { topic: string; payload: Buffer | string; qos: number; retain: boolean }

/** Payload bytes one connection may have decoded in one event-loop turn before its next packets wait a turn. */
const DECODE_SLICE_BYTES = 65_536

function endTurn(state: ClientState): void {
  // Packets deferred to later turns count their bytes there.
  if (!state.deferred) state.sliceBytes = 0
}

/** A QoS 0 message's claim on its connection's share, given back when it commits. */
class ConnectionShare implements Acknowledgement {
  constructor(private readonly state: ClientState, private readonly rows: number, private readonly inner: Acknowledgement | null) {}

  settle(err?: Error): void {
    this.state.qos0Rows -= this.rows
    this.inner?.settle(err)
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

function principalOf(device: DeviceRecord): Principal {
  return device.kind === 'device'
    ? { kind: 'device', id: device.id, domain: device.domain ?? '', topic: deviceTopic(device.domain ?? '', device.id) }
    : { kind: device.kind, id: device.id }
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

import { type Server, type Socket, createServer } from 'node:net'
import { GridlineError, type Logger, type Principal, type Publisher } from '@gridline/core'
import { LIMITS } from '@gridline/schemas'
import { Aedes, type AedesPublishPacket, type Client } from 'aedes'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { IngestMetrics } from '../../metrics.ts'
import type { AuthThrottleOptions } from '../../devices/auth-throttle.ts'
import { PendingConnections, type ParserInternals, guardProtocol } from './connect-guard.ts'
import { MqttAuth, mayReceive } from './mqtt-auth.ts'
import { TlsListener, type TlsListenerOptions } from '../../transport/tls-listener.ts'

export interface MqttBrokerOptions {
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

export type PublishPacket = { topic: string; payload: Buffer | string; qos: number; retain: boolean; messageId?: number }

/** What the broker hands the source: every authorized client's PUBLISH, and packets too large to read. */
export interface BrokerHandlers {
  /**
   * aedes' authorizePublish: aedes writes the PUBACK (PUBREC) only when
   * `done` is called and reads no further packets from that socket until then.
   */
  publish(client: BrokerClient | null, packet: PublishPacket, done: (error?: Error | null) => void): void
  /** A packet announced more than the largest size; the connection is being closed without reading it. */
  oversized(client: BrokerClient, announced: number, limit: number): void
}

/**
 * Largest MQTT packet read: a 1 MiB gateway batch plus room for the topic and
 * headers. The announced length is checked before the body is buffered, so an
 * oversized packet costs no memory; its connection is closed.
 */
export const MAX_PACKET_BYTES = LIMITS.maxGatewayPayloadBytes + 65_536

const PRINCIPAL = Symbol('gridline.principal')
/** Set by preConnect: the CONNECT carried a zero-length client id. */
const EMPTY_ID = Symbol('gridline.emptyClientId')
/** Set on a PUBLISH packet that aedes must not fan out (the same object reaches broker.publish). */
const NO_FAN_OUT = Symbol('gridline.noFanOut')
type MarkedPacket = { [NO_FAN_OUT]?: true }
/** An aedes client; its principal is set once it logged in (null with `auth: none`). */
export type BrokerClient = Client & { [PRINCIPAL]?: Principal | null; [EMPTY_ID]?: boolean }

/** The login of a client: undefined until it logged in, null with `auth: none`. */
export const principalOfClient = (client: BrokerClient): Principal | null | undefined => client[PRINCIPAL]

/** Tells the broker not to fan this PUBLISH out to subscribers (see MqttBroker). */
export function keepFromSubscribers(packet: PublishPacket): void {
  ;(packet as MarkedPacket)[NO_FAN_OUT] = true
}

/**
 * The embedded MQTT 3.1.1 broker (aedes 1.2.0, pinned exactly: see
 * aedes-internals.test.ts for what gridline relies on), its plain and TLS
 * listeners and the guards in front of it (connection caps, packet sizes,
 * protocol checks), with MqttAuth deciding logins and subscriptions.
 * It is the service's Publisher too (commands, alarm events, rejection
 * notices). The source (mqtt-source.ts) gets the PUBLISH packets.
 */
export class MqttBroker implements Publisher {
  private broker: Aedes | undefined
  private server: Server | undefined
  private tlsListener: TlsListener | undefined
  private draining = false
  private readonly clientsByDevice = new Map<string, Set<BrokerClient>>()
  private readonly auth: MqttAuth
  private readonly pending: PendingConnections

  constructor(
    private readonly options: MqttBrokerOptions,
    private readonly deps: {
      directory: LiveDeviceDirectory | null
      metrics: IngestMetrics
      logger: Logger
      authThrottle?: AuthThrottleOptions | undefined
    },
  ) {
    this.pending = new PendingConnections(options.maxPendingConnectionsPerAddress ?? 1_000)
    this.auth = new MqttAuth(options.auth, {
      directory: deps.directory,
      metrics: deps.metrics,
      logger: deps.logger,
      authThrottle: deps.authThrottle,
      isConnected: (clientId) => this.isConnected(clientId),
    })
  }

  /** Starts the broker and its listeners; resolves with the bound ports (null for a listener that is off). */
  async listen(handlers: BrokerHandlers): Promise<{ port: number | null; tlsPort: number | null }> {
    const { metrics } = this.deps
    const broker = await Aedes.createBroker({
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      preConnect: (client, packet, done) => {
        // aedes gives an empty client id a random one before authenticate runs; remember it was empty.
        ;(client as BrokerClient)[EMPTY_ID] = packet.clientId === ''
        done(null, true)
      },
      authenticate: (client, username, password, done) => {
        const c = client as BrokerClient
        this.auth.authenticate(c, username, password, c[EMPTY_ID] === true, (principal) => {
          c[PRINCIPAL] = principal
          this.pending.settle(c.conn as Socket)
        }, done)
      },
      authorizePublish: (client, packet, done) => handlers.publish(client as BrokerClient | null, packet as PublishPacket, done),
      authorizeSubscribe: (client, sub, done) => {
        const principal = (client as BrokerClient)[PRINCIPAL]
        if (!principal || mayReceive(principal, sub.topic)) return done(null, sub)
        metrics.subscribeDenied.inc()
        done(null, null) // SUBACK 0x80 for this topic [MQTT-3.9.3]
      },
    })
    // After a publish is authorized aedes fans it out (offline queues, the
    // emitter, the published hook). Skip all of it for messages that must not
    // reach anyone: it also saves the topic matching on the hot path.
    // (aedes 1.2.0 calls it as publish(packet, client, done); its typings know only publish(packet, done).)
    type FanOut = (packet: AedesPublishPacket, client: unknown, done?: (err?: Error) => void) => void
    const fanOut = (broker.publish as unknown as FanOut).bind(broker)
    const guarded: FanOut = (packet, client, done) => {
      if ((packet as MarkedPacket)[NO_FAN_OUT]) return done?.()
      fanOut(packet, client, done)
    }
    broker.publish = guarded as unknown as Aedes['publish']
    broker.on('client', (client: BrokerClient) => {
      metrics.connectedClients.inc()
      const principal = client[PRINCIPAL]
      if (principal) {
        let set = this.clientsByDevice.get(principal.id)
        if (!set) this.clientsByDevice.set(principal.id, (set = new Set()))
        set.add(client)
      }
    })
    broker.on('clientDisconnect', (client: BrokerClient) => {
      metrics.connectedClients.dec()
      const principal = client[PRINCIPAL]
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
      if (err.message === 'connect did not arrive in time') metrics.connectionsClosed.inc({ reason: 'connect_timeout' })
    })
    this.broker = broker
    const tlsPort = this.options.tls ? await this.listenTls(broker, this.options.tls, handlers) : null
    const port = this.options.port === false ? null : await this.listenPlain(broker, this.options.port, handlers)
    return { port, tlsPort }
  }

  private async listenPlain(broker: Aedes, port: number, handlers: BrokerHandlers): Promise<number> {
    const server = createServer((socket) => this.accept(broker, socket, handlers))
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
  private async listenTls(broker: Aedes, tls: NonNullable<MqttBrokerOptions['tls']>, handlers: BrokerHandlers): Promise<number> {
    const { metrics } = this.deps
    const listener = new TlsListener({ ...tls, host: this.options.host, maxConnections: this.options.maxConnections }, {
      onConnection: (socket) => this.accept(broker, socket, handlers),
      onRefused: (reason) => metrics.tlsRefused.inc({ reason }),
      onReload: (result) => metrics.tlsReloads.inc({ result }),
    }, this.deps.logger)
    this.tlsListener = listener
    return await listener.listen()
  }

  /**
   * Publishes a service message (a command, an alarm change, a rejection
   * notice) to subscribers. Unlike client publishes it keeps its retain flag:
   * `alarms/active/...` is retained while an alarm is open (docs/alarms.md).
   * Before start and while draining it is dropped.
   */
  publish(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): void {
    const broker = this.broker
    if (!broker || this.draining) return
    const packet = { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 1, retain: options.retain ?? false, dup: false }
    broker.publish(packet as AedesPublishPacket, (err?: Error) => {
      if (err) this.deps.logger.warn({ err, topic }, 'Publishing an event on the broker failed.')
    })
  }

  get connectedClients(): number {
    return this.broker?.connectedClients ?? 0
  }

  get listening(): boolean {
    return (this.options.port === false || (this.server?.listening ?? false)) && (!this.options.tls || (this.tlsListener?.listening ?? false))
  }

  /** Stops new connections and service messages. */
  stopListening(): void {
    this.draining = true
    this.server?.close()
    this.tlsListener?.close()
  }

  /** Disconnects every client and stops the broker. */
  async close(): Promise<void> {
    this.stopListening()
    const broker = this.broker
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()))
  }

  /** Whether a connection with this client id is registered in the broker now. */
  private isConnected(clientId: string): boolean {
    // aedes keeps them in broker.clients by id; its typings do not list it.
    return (this.broker as unknown as { clients?: Record<string, unknown> } | undefined)?.clients?.[clientId] !== undefined
  }

  /**
   * Hands a new socket to the broker, unless its address has too many
   * connections that have not logged in yet, with the size and protocol
   * guards on its parser.
   */
  private accept(broker: Aedes, socket: Socket, handlers: BrokerHandlers): void {
    if (!this.pending.admit(socket)) {
      this.deps.metrics.connectionsClosed.inc({ reason: 'too_many_pending' })
      socket.destroy()
      return
    }
    const client = broker.handle(socket) as BrokerClient
    this.guardPacketSize(client, handlers)
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
  private guardPacketSize(client: BrokerClient, handlers: BrokerHandlers): void {
    const parser = (client as unknown as { _parser: ParserInternals })._parser
    const parseLength = parser._parseLength.bind(parser)
    const maxConnectBytes = this.options.maxConnectBytes ?? 8_192
    parser._parseLength = () => {
      const complete = parseLength()
      if (complete && client[PRINCIPAL] === undefined && parser.packet.length > maxConnectBytes) {
        // Nothing is recorded in the rejected table: that would let anyone without a login write to the database.
        this.deps.metrics.connectionsClosed.inc({ reason: 'connect_too_large' })
        parser._emitError(new Error(`a packet of ${parser.packet.length} bytes before login exceeds ${maxConnectBytes}`))
        return false
      }
      if (complete && parser.packet.length > MAX_PACKET_BYTES) {
        const announced = parser.packet.length
        this.deps.metrics.oversizedPackets.inc()
        handlers.oversized(client, announced, MAX_PACKET_BYTES)
        parser._emitError(new Error(`packet of ${announced} bytes exceeds ${MAX_PACKET_BYTES}`))
        return false
      }
      return complete
    }
  }
}

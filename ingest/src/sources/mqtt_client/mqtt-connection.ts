import { isIP, connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Logger } from '@gridline/core'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'

/** One connection's settings, as the source derives them from its config. */
export interface ConnectionOptions {
  host: string
  port: number
  /** Set for mqtts://: the CA, client certificate and key as read from their files. */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } | null
  protocolVersion: 4 | 5
  clientId: string
  username?: string
  password?: string
  keepaliveSeconds: number
  sessionExpirySeconds: number
  connectTimeoutMs: number
  reconnect: { initialMs: number; maxMs: number }
  /** Filters subscribed at QoS 1 after every CONNACK (as sent: with $share/... when shared). */
  filters: string[]
  /** MQTT 5: how many unacknowledged QoS 1 messages the broker may send at once. */
  receiveMaximum: number
  /** The will of each CONNECT (a Sparkplug host's STATE offline), made when the CONNECT is. */
  will?: () => { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean }
}

export type ConnectionState = 'connecting' | 'connected' | 'waiting' | 'closed'

export interface ConnectionEvents {
  /** A PUBLISH from the broker. QoS 1 ones are answered through `session` (ack, or fail to have it sent again). */
  publish(packet: IPublishPacket, session: Session): void
  /** The connection went up or down; `error` says why it went down. */
  change(state: ConnectionState, error: string | null): void
}

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3] and the common MQTT 5 reason codes, as an operator reads them. */
const CONNACK_REFUSALS: Record<number, string> = {
  1: 'unacceptable protocol version', 2: 'client id rejected', 3: 'server unavailable', 4: 'bad user name or password', 5: 'not authorized',
  0x80: 'unspecified error', 0x84: 'unsupported protocol version', 0x85: 'client id not valid', 0x86: 'bad user name or password', 0x87: 'not authorized',
  0x88: 'server unavailable', 0x89: 'server busy', 0x8a: 'banned', 0x8c: 'bad authentication method', 0x95: 'packet too large', 0x97: 'quota exceeded',
}

/** The packet id of gridline's own QoS 1 PUBLISHes; SUBSCRIBEs use 1..65000. */
const OWN_PUBLISH_ID = 65_535

/**
 * One socket's life, from TCP connect to close. Acknowledgements are tied to
 * it: a PUBACK is written only on the socket the PUBLISH came in on, so a
 * commit that finishes after a reconnect sends nothing (the broker has sent
 * the message again on the new socket, and storage keeps one copy).
 */
export class Session {
  alive = true
  /** The broker resumed a stored session at CONNACK (it then resends what was not acknowledged). */
  resumed = false
  private corked = false

  constructor(private readonly connection: MqttClientConnection, readonly socket: Socket, private readonly protocolVersion: 4 | 5) {}

  /** PUBACK for `messageId`; acknowledgements released in one tick go out in one write. */
  ack(messageId: number): void {
    if (!this.alive) return
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(mqttPacket.generate({ cmd: 'puback', messageId }, { protocolVersion: this.protocolVersion }))
  }

  /**
   * Drops the connection without acknowledging, so the broker delivers the
   * message (and every later unacknowledged one) again after the reconnect:
   * MQTT has no negative acknowledgement that asks for a redelivery.
   */
  fail(reason: string): void {
    if (this.alive) this.connection.drop(this, reason)
  }
}

/**
 * An MQTT 3.1.1 / 5 client connection on mqtt-packet (the parser and
 * serializer aedes and mqtt.js use), made for ack-after-commit: every QoS 1
 * PUBLISH is handed on at once and acknowledged when its commit says so, so
 * a connection has as many messages in flight as the broker allows (its
 * window: Mosquitto's max_inflight_messages, MQTT 5 Receive Maximum) rather
 * than the one a client library has when it holds its PUBACK callback.
 *
 * The session is persistent (clean session off, MQTT 5 Session Expiry), the
 * client id stable: after a crash or a network cut the broker resends every
 * message not acknowledged. Reconnects back off exponentially with jitter.
 * Keepalive: a PINGREQ when nothing was sent for keepaliveSeconds; a broker
 * silent for 1.5 times that (while reading) is taken for gone.
 */
export class MqttClientConnection {
  state: ConnectionState = 'connecting'
  /** Successful CONNACKs since start. */
  connects = 0
  lastError: string | null = null
  /** Filters the broker refused in its last SUBACK (0x80 and up), and those granted only QoS 0. */
  refused: string[] = []
  downgraded: string[] = []
  private session: Session | undefined
  private attempt = 0
  private retry: NodeJS.Timeout | undefined
  private tick: NodeJS.Timeout | undefined
  private paused = false
  private closing = false
  private lastSent = 0
  private lastReceived = 0
  private subscribeId = 0

  constructor(private readonly options: ConnectionOptions, private readonly events: ConnectionEvents, private readonly logger: Logger) {}

  get clientId(): string {
    return this.options.clientId
  }

  /** True once the broker accepted the login and every subscription. */
  get ready(): boolean {
    return this.state === 'connected' && this.subscribeId === 0 && this.refused.length === 0
  }

  start(): void {
    this.tick = setInterval(() => this.keepalive(), 1_000)
    this.tick.unref()
    this.open()
  }

  /** Stops reading the socket (backpressure): the broker holds further messages; acknowledgements still go out. */
  pause(): void {
    this.paused = true
    this.session?.socket.pause()
  }

  resume(): void {
    this.paused = false
    this.lastReceived = Date.now()
    this.session?.socket.resume()
  }

  /** DISCONNECT and close; the broker keeps the session and every unacknowledged message for the next start. */
  async close(): Promise<void> {
    this.closing = true
    clearTimeout(this.retry)
    clearInterval(this.tick)
    const session = this.session
    this.state = 'closed'
    if (!session?.alive) return
    const closed = new Promise<void>((resolve) => session.socket.once('close', () => resolve()))
    if (this.connects > 0) session.socket.end(mqttPacket.generate({ cmd: 'disconnect' }, { protocolVersion: this.options.protocolVersion }))
    else session.socket.destroy()
    const timer = setTimeout(() => session.socket.destroy(), 1_000)
    await closed
    clearTimeout(timer)
  }

  /**
   * Publishes on the current connection, fire and forget (a Sparkplug rebirth
   * request, a host's STATE); false when it is not connected. QoS 1 uses one
   * packet id of its own, above those of the SUBSCRIBEs; its PUBACK is read
   * and ignored.
   */
  publish(topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }): boolean {
    const session = this.session
    if (this.state !== 'connected' || !session?.alive) return false
    this.send(session, { cmd: 'publish', topic, payload, qos: options.qos, retain: options.retain, dup: false, ...(options.qos === 1 ? { messageId: OWN_PUBLISH_ID } : {}) })
    return true
  }

  /** Closes `session`'s socket (if it is still the current one) and reconnects after the backoff. */
  drop(session: Session, reason: string): void {
    if (!session.alive) return
    this.lastError = reason
    session.socket.destroy()
  }

  private open(): void {
    const o = this.options
    this.state = 'connecting'
    const socket = o.tls
      ? tlsConnect({ host: o.host, port: o.port, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername ?? (isIP(o.host) ? undefined : o.host) })
      : netConnect({ host: o.host, port: o.port })
    socket.setNoDelay(true)
    const session = new Session(this, socket, o.protocolVersion)
    this.session = session
    if (this.paused) socket.pause()
    const parser = mqttPacket.parser({ protocolVersion: o.protocolVersion })
    const timeout = setTimeout(() => this.drop(session, `no CONNACK within ${o.connectTimeoutMs} ms`), o.connectTimeoutMs)
    socket.once(o.tls ? 'secureConnect' : 'connect', () => {
      this.send(session, {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: o.protocolVersion,
        clientId: o.clientId,
        clean: false,
        keepalive: o.keepaliveSeconds,
        ...(o.will !== undefined ? { will: o.will() } : {}),
        ...(o.username !== undefined ? { username: o.username } : {}),
        ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
        ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: o.sessionExpirySeconds, receiveMaximum: o.receiveMaximum } } : {}),
      })
    })
    socket.on('data', (chunk: Buffer) => {
      this.lastReceived = Date.now()
      parser.parse(chunk)
    })
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connack') clearTimeout(timeout)
      this.onPacket(session, packet)
    })
    parser.on('error', (err: Error) => this.drop(session, `the broker sent a malformed packet: ${err.message}`))
    socket.on('error', (err: Error) => {
      this.lastError = err.message
    })
    socket.on('close', () => {
      clearTimeout(timeout)
      this.onClose(session)
    })
  }

  private onPacket(session: Session, packet: Packet): void {
    switch (packet.cmd) {
      case 'publish':
        this.events.publish(packet, session)
        return
      case 'connack': {
        const code = packet.returnCode ?? packet.reasonCode ?? 0
        if (code !== 0) return this.drop(session, `the broker refused the login: ${CONNACK_REFUSALS[code] ?? `code ${code}`}`)
        session.resumed = packet.sessionPresent
        this.connects++
        this.attempt = 0
        this.lastError = null
        this.state = 'connected'
        this.lastReceived = Date.now()
        // Subscribed again on every connect: idempotent, and a broker that lost the session (restarted without persistence) gets it back.
        this.subscribeId = 1 + (this.connects % 65_000)
        this.send(session, { cmd: 'subscribe', messageId: this.subscribeId, subscriptions: this.options.filters.map((topic) => ({ topic, qos: 1 as const })) })
        this.events.change('connected', null)
        return
      }
      case 'suback': {
        if (packet.messageId !== this.subscribeId) return
        this.subscribeId = 0
        const granted = packet.granted as number[]
        this.refused = this.options.filters.filter((_, i) => (granted[i] ?? 0x80) >= 0x80)
        this.downgraded = this.options.filters.filter((_, i) => granted[i] === 0)
        if (this.refused.length > 0) this.logger.error({ clientId: this.clientId, filters: this.refused }, 'The broker refused these subscriptions (not authorized, or a filter it does not support such as $share): nothing arrives on them.')
        if (this.downgraded.length > 0) this.logger.warn({ clientId: this.clientId, filters: this.downgraded }, 'The broker granted these subscriptions QoS 0 only: what is lost in a crash is not sent again.')
        return
      }
      case 'disconnect':
        this.lastError = `the broker disconnected: ${packet.properties?.reasonString ?? `reason code ${packet.reasonCode ?? 0}`}`
        session.socket.destroy()
        return
      default:
        // pingresp, and acknowledgements of nothing gridline publishes.
        return
    }
  }

  private send(session: Session, packet: Packet): void {
    if (!session.alive) return
    this.lastSent = Date.now()
    session.socket.write(mqttPacket.generate(packet, { protocolVersion: this.options.protocolVersion }))
  }

  private keepalive(): void {
    const session = this.session
    if (this.state !== 'connected' || !session?.alive) return
    const now = Date.now()
    const period = this.options.keepaliveSeconds * 1_000
    // Checked once a second: a PINGREQ goes out up to a second early, so it is never late.
    if (now - this.lastSent >= period - 1_000) this.send(session, { cmd: 'pingreq' })
    if (!this.paused && now - this.lastReceived > period * 1.5) this.drop(session, `no packet from the broker for ${Math.round((now - this.lastReceived) / 1_000)} s (keepalive ${this.options.keepaliveSeconds} s)`)
  }

  private onClose(session: Session): void {
    session.alive = false
    if (this.session !== session || this.closing) return
    // Loud for a connection that was up and for the first failure at start; later retries of a broker still away at debug.
    const loud = this.state === 'connected' || this.connects === 0 && this.attempt === 0
    this.state = 'waiting'
    this.subscribeId = 0
    const base = Math.min(this.options.reconnect.maxMs, this.options.reconnect.initialMs * 2 ** Math.min(this.attempt, 30))
    const delay = Math.round(base / 2 + Math.random() * (base / 2))
    this.attempt++
    const error = this.lastError ?? 'the connection closed'
    ;(loud ? this.logger.warn : this.logger.debug).call(this.logger, { clientId: this.clientId, error, retryInMs: delay }, 'MQTT client connection lost or refused; reconnecting.')
    this.events.change('waiting', error)
    this.retry = setTimeout(() => this.open(), delay)
  }
}

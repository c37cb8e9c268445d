import { type Acknowledgement, type DeliveryStatus, GridlineError, type Intake, type Principal, Rows, type Source, type SourceHealth } from '@gridline/core'
import type { IngestMetrics } from '../../metrics.ts'
import { AckGate, AckSequencer } from '../../transport/ack-sequencer.ts'
import { type BrokerClient, type MqttBroker, type PublishPacket, keepFromSubscribers, principalOfClient } from './mqtt-broker.ts'

export interface MqttSourceOptions {
  /** The source's id in the config's `sources` map. */
  id: string
  /** While a connection has this many QoS 0 rows uncommitted, its socket is not read further. */
  maxPendingRowsPerConnection?: number
}

interface ClientState {
  principal: Principal | null
  acks: AckSequencer
  /** This connection's rows not yet committed, a message without rows counting as one (its share of the pipeline). */
  shareRows: number
  /** Payload bytes handled in this event-loop turn (see onPublish). */
  sliceBytes: number
  /** Packets waiting for a later turn, in arrival order; null when none wait. */
  deferred: { packet: PublishPacket; done: (error?: Error | null) => void }[] | null
  /** True while the socket is corked until the next tick (see corkAcks). */
  corked: boolean
}

const STATE = Symbol('gridline.source')
type SourceClient = BrokerClient & { [STATE]?: ClientState }

/**
 * The `mqtt_broker` source: the embedded broker's PUBLISH packets, handed raw
 * to the intake (which decodes, runs the routes and the pre-write processors,
 * and submits), acknowledged after the commit.
 *
 * Ack after commit: aedes runs `authorizePublish` before it writes the PUBACK
 * (QoS 1) or PUBREC (QoS 2) and reads no further packets from that socket
 * until every packet of the current read is done. (Its `published` hook runs
 * after the PUBACK and cannot hold it.) Every acknowledgement goes out only
 * once its message is committed, so the PUBACK means "stored". Within the
 * connection's share of uncommitted rows a QoS 1 message's PUBACK is written
 * by the source itself and the socket is read on meanwhile (readAhead), so
 * messages do not queue in the socket behind a commit; past the share, or
 * while congested, the callback itself is held and the socket is not read:
 * that is the backpressure.
 */
export class MqttSource implements Source {
  readonly type = 'mqtt_broker'
  private intake: Intake | undefined
  private draining = false
  private readonly gate = new AckGate()

  constructor(
    private readonly broker: MqttBroker,
    private readonly options: MqttSourceOptions,
    private readonly metrics: IngestMetrics,
  ) {}

  get id(): string {
    return this.options.id
  }

  /** Starts the broker's listeners; resolves with the bound ports (null for a listener that is off). */
  async start(intake: Intake): Promise<{ port: number | null; tlsPort: number | null }> {
    this.intake = intake
    // Congested: hold every acknowledgement, so no socket is read further.
    intake.onCongestion((held) => (held ? this.gate.close() : this.gate.open()))
    return await this.broker.listen({
      publish: (client, packet, done) => this.onPublish(client, packet, done),
      oversized: (client, announced, limit) => this.recordOversized(client, announced, limit),
    })
  }

  health(): SourceHealth {
    return { ready: this.broker.listening, detail: { connectedClients: this.broker.connectedClients } }
  }

  /** Stops new connections and new messages; messages already taken in are still committed and acknowledged. */
  stopIntake(): void {
    this.draining = true
    this.broker.stopListening()
  }

  /** Disconnects every client and stops the broker. Call after the runtime drained. */
  async close(): Promise<void> {
    this.stopIntake()
    await this.broker.close()
  }

  private stateOf(client: SourceClient): ClientState | undefined {
    const existing = client[STATE]
    if (existing) return existing
    const principal = principalOfClient(client)
    if (principal === undefined) return undefined
    const hot = this.metrics.hot
    const state: ClientState = {
      principal,
      corked: false,
      shareRows: 0,
      sliceBytes: 0,
      deferred: null,
      acks: new AckSequencer(() => {
        hot.messagesAcked++
        corkAcks(client, state)
      }, this.gate),
    }
    client[STATE] = state
    return state
  }

  /** Records in the rejected table a refusal that has no message to go with it (nothing is acknowledged). */
  private recordOversized(client: SourceClient, announced: number, limit: number): void {
    const principal = principalOfClient(client) ?? null
    this.intake?.submit({
      source: this.id,
      topic: '',
      clientId: client.id ?? null,
      principal,
      receivedAt: Date.now(),
      payload: Buffer.alloc(0),
      decoded: {
        rows: new Rows(),
        readings: 0,
        rejections: [{
          reason: 'payload_too_large',
          detail: `the MQTT packet announced ${announced} bytes, the limit is ${limit}; the connection was closed without reading it`,
          deviceId: principal?.id ?? null,
          payload: Buffer.alloc(0),
          payloadBytes: announced,
        }],
        unknownMetrics: 0,
        outOfRange: 0,
      },
      ack: null,
    })
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
  private onPublish(client: SourceClient | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const state = client ? this.stateOf(client) : undefined
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

  private nextSlice(client: SourceClient, state: ClientState): void {
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

  private handlePublish(client: SourceClient | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    // A will published for a client that is gone: nothing to store.
    if (!client) return done(null)
    const state = this.stateOf(client)
    const intake = this.intake
    if (!state || !intake) return done(new Error('client is not authenticated'))
    if (state.sliceBytes === 0) process.nextTick(endTurn, state)
    state.sliceBytes += packet.payload.length + 1
    if (this.draining) {
      // MQTT 3.1.1 has no way to refuse a PUBLISH but closing the connection;
      // unacknowledged, the client sends it again after reconnecting elsewhere.
      return done(new GridlineError('GRIDLINE_SHUTTING_DOWN', 'the service is shutting down'))
    }
    if (intake.shedding) {
      // While congested no acknowledgement is released, so no socket is read
      // further; only packets already read and new connections (devices
      // reconnecting while the database is away) can add to memory. Past the
      // shedding limit, drop them unacknowledged: their clients resend later.
      // Nothing acknowledged is lost.
      this.metrics.shedConnections.inc()
      return done(new Error('ingest is overloaded; reconnect later'))
    }
    // Telemetry is never retained: the broker would keep a copy per topic in memory.
    packet.retain = false
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const envelope = intake.decode({ source: this.options.id, topic: packet.topic, clientId: client.id, principal: state.principal, receivedAt: Date.now(), payload })
    const rows = envelope.decoded.rows.length

    // What a client publishes is fanned out only when it is valid telemetry and
    // someone may subscribe to it: with device logins nobody may (a device may
    // subscribe only to its own command topic), so nothing is; with `auth:
    // none` valid telemetry is. A device must never reach another device's
    // topics through the broker. Status reports and replies carry no rows.
    const fanOut = rows > 0 && state.principal === null
    if (!fanOut) keepFromSubscribers(packet)

    // The connection's share: its uncommitted rows, a message without rows
    // counting as one. Within it, and unless the service is congested or the
    // message is fanned out, the broker reads on while the message waits for
    // its commit (see readAhead); past it, the message's broker callback is
    // held until the commit, and with it the reading of the socket.
    const share = Math.max(1, rows)
    const held = intake.congested || state.shareRows >= (this.options.maxPendingRowsPerConnection ?? Infinity)
    state.shareRows += share
    let inner: Acknowledgement | null
    if (held) {
      // Released in PUBLISH order, whatever order the commits come in [MQTT-4.6.0-2].
      inner = state.acks.enqueue(done)
    } else if (packet.qos === 0) {
      // No ack is owed for QoS 0: its callback is released now.
      done(null)
      inner = null
    } else if (packet.qos === 1 && fanOut === false) {
      inner = state.acks.enqueue(readAhead(client, packet, done))
    } else {
      // QoS 2, and QoS 1 fanned out (auth none): aedes writes the PUBREC or
      // PUBACK when the callback is released, after the commit.
      inner = state.acks.enqueue(done)
    }
    envelope.ack = new ConnectionShare(state, share, inner)
    intake.submit(envelope)
  }
}

/** Payload bytes one connection may have decoded in one event-loop turn before its next packets wait a turn. */
const DECODE_SLICE_BYTES = 65_536

function endTurn(state: ClientState): void {
  // Packets deferred to later turns count their bytes there.
  if (!state.deferred) state.sliceBytes = 0
}

/** A message's claim on its connection's share, given back when it commits. */
class ConnectionShare implements Acknowledgement {
  constructor(private readonly state: ClientState, private readonly rows: number, private readonly inner: Acknowledgement | null) {}

  settle(status?: DeliveryStatus, reason?: Error): void {
    this.state.shareRows -= this.rows
    this.inner?.settle(status, reason)
  }
}

/**
 * Read-ahead for a QoS 1 message: aedes writes a PUBACK when authorizePublish
 * calls back and reads nothing more from the socket until every packet of the
 * last read has called back, so holding the callback until the commit makes
 * each message published meanwhile wait in the socket for a whole commit
 * before its own batch even starts. Instead the packet is marked QoS 0 before
 * its callback is released now: aedes writes no acknowledgement for it and
 * reads on (the packet is not fanned out, so its QoS reaches nobody), and the
 * returned callback, released in order after the commit, writes the PUBACK
 * itself. A message that was not stored closes the connection unacknowledged,
 * as aedes does when the callback fails; the client resends it.
 */
function readAhead(client: SourceClient, packet: PublishPacket, done: (error?: Error | null) => void): (error?: Error | null) => void {
  const messageId = packet.messageId!
  packet.qos = 0
  done(null)
  return (error) => {
    if (error) return void client.emit('error', error)
    if (!client.connected) return
    client.conn.write(pubAck(messageId))
  }
}

/** PUBACK: fixed header 0x40, remaining length 2, the packet identifier [MQTT-3.4]. */
function pubAck(messageId: number): Buffer {
  const packet = Buffer.allocUnsafe(4)
  packet[0] = 0x40
  packet[1] = 2
  packet.writeUInt16BE(messageId, 2)
  return packet
}

/**
 * A committed batch releases many acknowledgements for one client in the same
 * tick; corking its socket until the next tick sends them in one write
 * instead of one system call per PUBACK.
 */
function corkAcks(client: SourceClient, state: ClientState): void {
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

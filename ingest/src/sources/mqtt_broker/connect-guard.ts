import { isUtf8 } from 'node:buffer'
import type { Socket } from 'node:net'
import { addressKey } from '../../devices/auth-throttle.ts'

/**
 * Why the broker closed a connection before or instead of serving it (the
 * `reason` label of gridline_ingest_connections_closed_total).
 */
export type ConnectionClosedReason =
  | 'connect_too_large'
  | 'connect_timeout'
  | 'too_many_pending'
  | 'protocol_name'
  | 'will_qos'
  | 'utf8_invalid'
  | 'packet_id_zero'

/**
 * Caps the connections per source address that have not logged in yet (not
 * CONNACKed): each holds a socket and up to one CONNECT in memory, so an
 * address cannot open thousands of them. Addresses are counted as the auth
 * throttle counts them (IPv6 by /64).
 */
export class PendingConnections {
  private readonly perAddress = new Map<string, number>()
  private readonly pending = new WeakMap<Socket, string>()

  constructor(private readonly maxPerAddress: number) {}

  /** Call for each new socket; false: over the cap, the caller closes it. */
  admit(socket: Socket): boolean {
    const key = addressKey(socket.remoteAddress ?? '')
    const count = this.perAddress.get(key) ?? 0
    if (count >= this.maxPerAddress) return false
    this.perAddress.set(key, count + 1)
    this.pending.set(socket, key)
    socket.once('close', () => this.settle(socket))
    return true
  }

  /** The socket logged in or closed; idempotent. */
  settle(socket: Socket): void {
    const key = this.pending.get(socket)
    if (key === undefined) return
    this.pending.delete(socket)
    const count = (this.perAddress.get(key) ?? 1) - 1
    if (count <= 0) this.perAddress.delete(key)
    else this.perAddress.set(key, count)
  }

  /** Pending connections from every address (a gauge). */
  get total(): number {
    let n = 0
    for (const count of this.perAddress.values()) n += count
    return n
  }
}

/** The parts of mqtt-packet's Parser (used by aedes, not typed) the guards hook. */
export interface ParserInternals {
  packet: { length: number; cmd?: string; qos?: number; messageId?: number; protocolId?: string; protocolVersion?: number; will?: { qos: number } }
  error: Error | null
  _list: { slice(start: number, end: number): Buffer }
  _pos: number
  _parseLength(): boolean
  _parsePayload(): boolean
  _parseString(): string | null
  _emitError(err: Error): void
}

/**
 * Closes the connection on the MQTT 3.1.1 violations mqtt-packet 9 parses
 * without complaint; the parser's error makes aedes close the socket. Checked
 * once a packet is complete, before aedes sees it:
 *
 * - protocol name "MQIsdp" is MQTT 3.1 and comes with level 3 only, "MQTT"
 *   with level 4 (and 5, which aedes answers with CONNACK 1) [MQTT-3.1.2-1];
 * - will QoS 3 [MQTT-3.1.2-14];
 * - a CONNECT string (client id, username, will topic) that is not
 *   well-formed UTF-8 [MQTT-1.5.3-1] or holds U+0000 [MQTT-1.5.3-2]. A
 *   PUBLISH topic like that is dead-lettered as topic_invalid instead
 *   (docs/protocol.md#topics), a deliberate deviation: its sender learns why;
 * - packet identifier 0 on a PUBLISH with QoS > 0, a SUBSCRIBE, UNSUBSCRIBE,
 *   PUBACK, PUBREC, PUBREL or PUBCOMP [MQTT-2.3.1-1].
 */
export function guardProtocol(parser: ParserInternals, onViolation: (reason: ConnectionClosedReason, detail: string) => void): void {
  const violation = (reason: ConnectionClosedReason, detail: string): void => {
    onViolation(reason, detail)
    parser._emitError(new Error(detail))
  }
  const parseString = parser._parseString.bind(parser)
  parser._parseString = () => {
    const start = parser._pos
    const text = parseString()
    // Only the CONNECT's strings: a PUBLISH topic that is not valid is
    // dead-lettered (topic_invalid) rather than dropped with its connection,
    // so the device's operator can see why. mqtt-packet decodes with
    // replacement characters; only a string that holds one is checked
    // against its bytes.
    if (text !== null && parser.packet.cmd === 'connect' && (text.includes('\uFFFD') || text.includes('\u0000'))) {
      if (text.includes('\u0000')) {
        onViolation('utf8_invalid', 'a string holds U+0000')
        return null
      }
      if (!isUtf8(parser._list.slice(start + 2, parser._pos))) {
        onViolation('utf8_invalid', 'a string is not well-formed UTF-8')
        return null
      }
    }
    return text
  }
  const parsePayload = parser._parsePayload.bind(parser)
  parser._parsePayload = () => {
    const complete = parsePayload()
    if (!complete || parser.error) return complete
    const packet = parser.packet
    if (packet.cmd === 'connect') {
      const { protocolId, protocolVersion } = packet
      if ((protocolId === 'MQIsdp') !== (protocolVersion === 3)) violation('protocol_name', `protocol name ${protocolId} does not go with protocol level ${protocolVersion}`)
      else if (packet.will && packet.will.qos > 2) violation('will_qos', 'will QoS 3')
    } else if (packet.messageId === 0 && (packet.cmd !== 'publish' || (packet.qos ?? 0) > 0)) {
      violation('packet_id_zero', `${packet.cmd} with packet identifier 0`)
    }
    return complete
  }
}

import { connect as netConnect, type Socket } from 'node:net'

// Hand-built MQTT 3.1.1 packets and a raw socket that reports what came back,
// for tests and the measuring scripts: a client library refuses to send
// most of what these tests need the broker to refuse.

export interface ConnectFields {
  protocol?: string
  level?: number
  clean?: boolean
  clientId?: string | Buffer
  username?: string | Buffer
  password?: string
  will?: { topic: string; payload: string; qos: number }
  keepaliveS?: number
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  return Buffer.concat([u16(bytes.length), bytes])
}

/** The remaining-length varint [MQTT-2.2.3]. */
export function remainingLength(n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body])
}

export function connectPacket(f: ConnectFields): Buffer {
  const flags = (f.username !== undefined ? 0x80 : 0) | (f.password !== undefined ? 0x40 : 0)
    | (f.will ? 0x04 | (f.will.qos << 3) : 0) | (f.clean === false ? 0 : 0x02)
  const header = Buffer.concat([field(f.protocol ?? 'MQTT'), Buffer.from([f.level ?? 4, flags]), u16(f.keepaliveS ?? 60)])
  const payload = [field(f.clientId ?? `raw-${Math.random().toString(36).slice(2, 10)}`)]
  if (f.will) payload.push(field(f.will.topic), field(f.will.payload))
  if (f.username !== undefined) payload.push(field(f.username))
  if (f.password !== undefined) payload.push(field(f.password))
  return packet(0x10, Buffer.concat([header, ...payload]))
}

export function publishPacket(topic: string, payload: string, qos: 0 | 1, packetId = 1): Buffer {
  return packet(0x30 | (qos << 1), Buffer.concat([field(topic), qos > 0 ? u16(packetId) : Buffer.alloc(0), Buffer.from(payload)]))
}

export function subscribePacket(filter: string, packetId: number): Buffer {
  return packet(0x82, Buffer.concat([u16(packetId), field(filter), Buffer.from([1])]))
}

/** A raw connection and every byte the broker sent on it. */
export class RawConnection {
  received = Buffer.alloc(0)
  closed = false
  readonly socket: Socket
  private readonly opened: Promise<void>
  private readonly ended: Promise<void>

  constructor(port: number, localAddress?: string) {
    this.socket = netConnect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) })
    this.socket.on('data', (chunk: Buffer) => { this.received = Buffer.concat([this.received, chunk]) })
    this.socket.on('error', () => undefined)
    this.opened = new Promise((resolve) => this.socket.once('connect', () => resolve()))
    this.ended = new Promise((resolve) => this.socket.once('close', () => {
      this.closed = true
      resolve()
    }))
  }

  async write(bytes: Buffer): Promise<void> {
    await this.opened
    await new Promise<void>((resolve) => this.socket.write(bytes, () => resolve()))
  }

  /** The CONNACK return code once it arrived, or null when the connection closed without one. */
  async connack(): Promise<number | null> {
    while (!this.closed && this.received.length < 4) await Promise.race([this.ended, new Promise((r) => setTimeout(r, 5))])
    return this.received.length >= 4 && this.received[0] === 0x20 ? this.received[3]! : null
  }

  /** Resolves once the broker closed the connection. */
  whenClosed(): Promise<void> {
    return this.ended
  }

  close(): void {
    this.socket.destroy()
  }
}

/** Connects, sends one CONNECT and returns its CONNACK code (null: closed without one); the socket is closed after. */
export async function tryConnect(port: number, fields: ConnectFields, localAddress?: string): Promise<number | null> {
  const conn = new RawConnection(port, localAddress)
  try {
    await conn.write(connectPacket(fields))
    return await conn.connack()
  } finally {
    conn.close()
  }
}

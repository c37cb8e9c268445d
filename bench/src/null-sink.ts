/**
 * A do-nothing MQTT 3.1.1 server: it accepts every login and acknowledges
 * every QoS 1 PUBLISH at once, and does nothing else (no routing, no
 * storage). What a load reaches against it is the load generators' own
 * ceiling: a scenario measured near that figure is bound by its load, not
 * by what it measures.
 */
import { type Socket, createServer } from 'node:net'
import mqttPacket from 'mqtt-packet'

export interface NullSink {
  port: number
  connectedClients(): number
  close(): Promise<void>
}

const CONNACK = mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false })
const PINGRESP = mqttPacket.generate({ cmd: 'pingresp' })

/** Listens on 127.0.0.1, on a port the OS picks. */
export async function startNullSink(): Promise<NullSink> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (packet) => {
      switch (packet.cmd) {
        case 'connect': socket.write(CONNACK); break
        case 'publish':
          // [MQTT-4.3.2-2] a QoS 1 PUBLISH is answered by a PUBACK with its packet id.
          if (packet.qos === 1) socket.write(pubackFor(packet.messageId ?? 0))
          break
        case 'pingreq': socket.write(PINGRESP); break
        case 'disconnect': socket.end(); break
        default: break
      }
    })
    // A malformed packet ends the connection, as a broker would.
    parser.on('error', () => socket.destroy())
    // One write per chunk read, whatever the number of PUBACKs it calls for: a
    // syscall per 4-byte PUBACK would make the sink slower than a real broker.
    socket.on('data', (chunk) => {
      socket.cork()
      parser.parse(chunk)
      process.nextTick(() => socket.uncork())
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('null sink: no listening address')
  return {
    port: address.port,
    connectedClients: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** PUBACK is 4 bytes: type 0x40, remaining length 2, the 16-bit packet id [MQTT-3.4]. */
function pubackFor(messageId: number): Buffer {
  return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff])
}

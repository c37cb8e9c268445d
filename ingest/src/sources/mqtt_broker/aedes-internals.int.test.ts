import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { type AddressInfo, type Server, createServer } from 'node:net'
import { Aedes, type AedesPublishPacket, type Client } from 'aedes'
import mqtt from 'mqtt'
import { afterEach, expect, test } from 'vitest'
import type { ParserInternals } from './connect-guard.ts'
import { RawConnection, connectPacket, publishPacket, remainingLength } from './raw-mqtt.ts'

// mqtt-broker.ts, mqtt-source.ts and connect-guard.ts reach past aedes'
// public API in five places; aedes is pinned exactly (ingest/package.json) and these tests pin
// what each place relies on, so an upgrade that moves them fails here, not in
// production:
// 1. broker.publish(packet, client, done) is what aedes calls after
//    authorizePublish, with the same packet object (the no-fan-out mark);
// 2. client._parser is mqtt-packet's Parser: _parseLength() completes with
//    packet.length announced before the body is read, and _emitError closes;
// 3. broker.clients[clientId] holds a connected client (session owners);
// 4. the parser's fields the protocol guard reads (_list, _pos, _parseString);
// 5. a QoS 1 packet that authorizePublish marks QoS 0 before calling back gets
//    no PUBACK from aedes, and the connection is read on (the source's
//    read-ahead writes the PUBACK itself after the commit).

const require = createRequire(import.meta.url)
let broker: Aedes | undefined
let server: Server | undefined

afterEach(async () => {
  server?.close()
  if (broker) await new Promise<void>((resolve) => broker!.close(() => resolve()))
  broker = undefined
  server = undefined
})

/** The version of the package as node resolves it from here (their exports hide package.json). */
function installedVersion(name: string): string {
  for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string }
      if (pkg.name === name) return pkg.version
    } catch { /* not this folder: go up */ }
  }
  throw new Error(`${name} is not installed`)
}

async function start(setup: (b: Aedes) => void = () => undefined, opts: Parameters<typeof Aedes.createBroker>[0] = {}): Promise<number> {
  broker = await Aedes.createBroker(opts)
  setup(broker)
  const b = broker
  server = createServer((socket) => b.handle(socket))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()))
  return (server.address() as AddressInfo).port
}

test('aedes is the exact version gridline pins, with the mqtt-packet it was tested with', () => {
  const ingest = require('../../../package.json') as { dependencies: Record<string, string> }
  expect(ingest.dependencies.aedes).toBe('1.2.0')
  expect(installedVersion('aedes')).toBe(ingest.dependencies.aedes)
  expect(installedVersion('mqtt-packet')).toBe(ingest.dependencies['mqtt-packet'])
})

test('after authorizePublish aedes calls broker.publish(packet, client, done) with the packet object the hook saw', async () => {
  const MARK = Symbol('mark')
  const seen: { marked: boolean; client: unknown; done: unknown }[] = []
  const port = await start((b) => {
    const original = b.publish.bind(b) as unknown as (p: AedesPublishPacket, c: unknown, d?: () => void) => void
    b.publish = ((p: AedesPublishPacket, c: unknown, d?: () => void) => {
      if (p.topic === 't/1') seen.push({ marked: (p as unknown as Record<symbol, boolean>)[MARK] === true, client: c, done: d })
      original(p, c, d)
    }) as unknown as Aedes['publish']
  }, {
    authorizePublish: (_client, packet, done) => {
      ;(packet as unknown as Record<symbol, boolean>)[MARK] = true
      done(null)
    },
  })
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 })
  await client.publishAsync('t/1', 'x', { qos: 1 })
  await client.endAsync()
  expect(seen).toHaveLength(1)
  expect(seen[0]!.marked).toBe(true)
  expect(seen[0]!.client).toMatchObject({ id: expect.any(String) })
  expect(typeof seen[0]!.done).toBe('function')
})

test('a QoS 1 packet marked QoS 0 in authorizePublish gets no PUBACK from aedes, and the socket is read on', async () => {
  const authorized: number[] = []
  const port = await start(() => undefined, {
    authorizePublish: (_client, packet, done) => {
      authorized.push(packet.messageId!)
      packet.qos = 0
      done(null)
    },
  })
  const raw = new RawConnection(port)
  await raw.write(connectPacket({ clientId: 'ra-1' }))
  expect(await raw.connack()).toBe(0)
  // Two QoS 1 PUBLISH packets, ids 7 and 8, in separate writes: the second is read although the first has no PUBACK.
  await raw.write(publishPacket('t/1', 'x', 1, 7))
  await raw.write(publishPacket('t/1', 'y', 1, 8))
  for (let i = 0; i < 100 && authorized.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(authorized).toEqual([7, 8])
  // A PINGREQ gets its PINGRESP; nothing was written between the CONNACK and it (no PUBACK, 0x40).
  await raw.write(Buffer.from([0xc0, 0]))
  for (let i = 0; i < 100 && raw.received.length < 6; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect([...raw.received.subarray(4)]).toEqual([0xd0, 0])
  raw.close()
})

test('client._parser announces a packet\'s length before its body is read, and _emitError closes the connection', async () => {
  const announced: number[] = []
  const port = await start()
  const b = broker!
  const handle = b.handle.bind(b)
  server!.removeAllListeners('connection')
  server!.on('connection', (socket) => {
    const client = handle(socket) as unknown as { _parser: ParserInternals }
    const parser = client._parser
    for (const name of ['_parseLength', '_parsePayload', '_parseString', '_emitError'] as const) expect(typeof parser[name]).toBe('function')
    const parseLength = parser._parseLength.bind(parser)
    parser._parseLength = () => {
      const complete = parseLength()
      if (complete && parser.packet.cmd === 'publish') {
        announced.push(parser.packet.length)
        expect(typeof parser._pos).toBe('number')
        expect(typeof parser._list.slice).toBe('function')
        parser._emitError(new Error('too large'))
        return false
      }
      return complete
    }
  })
  const raw = new RawConnection(port)
  await raw.write(connectPacket({ clientId: 'c1' }))
  expect(await raw.connack()).toBe(0)
  // A PUBLISH header announcing 10 MB, and no body at all.
  await raw.write(Buffer.concat([Buffer.from([0x30]), remainingLength(10_000_000)]))
  await raw.whenClosed()
  expect(announced).toEqual([10_000_000])
})

test('broker.clients holds connected clients by id', async () => {
  const port = await start()
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'held-1' })
  const clients = (broker as unknown as { clients: Record<string, Client> }).clients
  expect(clients['held-1']).toBeDefined()
  expect(broker!.connectedClients).toBe(1)
  await client.endAsync()
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(clients['held-1']).toBeUndefined()
})

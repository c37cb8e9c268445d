import { type AddressInfo, type Server, type Socket, createServer } from 'node:net'
import { createLogger } from '@gridline/core'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { afterEach, expect, test } from 'vitest'
import { type ConnectionOptions, MqttClientConnection } from './mqtt-connection.ts'

// The connection against small TCP servers that misbehave on purpose: one
// that closes every connection (the reconnect backoff), one that accepts the
// login and then stays silent (the keepalive), one that refuses the login.

const servers: Server[] = []
const connections: MqttClientConnection[] = []
afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()))
  for (const s of servers.splice(0)) s.close()
})

async function serve(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer(onSocket)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

function connect(port: number, patch: Partial<ConnectionOptions> = {}, errors: string[] = []): MqttClientConnection {
  const c = new MqttClientConnection({
    host: '127.0.0.1', port, tls: null, protocolVersion: 4, clientId: 'unit', keepaliveSeconds: 30, sessionExpirySeconds: 60,
    connectTimeoutMs: 2_000, reconnect: { initialMs: 100, maxMs: 400 }, filters: ['t/#'], receiveMaximum: 100, ...patch,
  }, { publish: () => undefined, change: (_state, error) => { if (error !== null) errors.push(error) } }, createLogger({ level: 'silent' }))
  connections.push(c)
  c.start()
  return c
}

/** Answers CONNECT with CONNACK `code` and SUBSCRIBE with SUBACK; records the packets it got. */
function fakeBroker(code: number, got: Packet[], answerPings = true) {
  return (socket: Socket) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p: Packet) => {
      got.push(p)
      if (p.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: code, sessionPresent: false }))
      if (p.cmd === 'subscribe') socket.write(mqttPacket.generate({ cmd: 'suback', messageId: p.messageId!, granted: p.subscriptions.map(() => 1) }))
      if (p.cmd === 'pingreq' && answerPings) socket.write(mqttPacket.generate({ cmd: 'pingresp' }))
    })
    socket.on('data', (d: Buffer) => parser.parse(d))
    socket.on('error', () => undefined)
  }
}

test('reconnects back off exponentially, capped, each delay between half and all of its step', async () => {
  const at: number[] = []
  const port = await serve((socket) => {
    at.push(Date.now())
    socket.destroy()
  })
  connect(port)
  while (at.length < 6) await new Promise((resolve) => setTimeout(resolve, 20))
  const gaps = at.slice(1).map((t, i) => t - at[i]!)
  // Steps 100, 200, 400, 400, 400 ms: each gap at least half its step, and never far past the cap.
  const steps = [100, 200, 400, 400, 400]
  gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(steps[i]! / 2 - 5))
  for (const gap of gaps) expect(gap).toBeLessThan(400 + 250)
  expect(Math.max(...gaps.slice(2))).toBeGreaterThan(Math.min(...gaps.slice(0, 1)))
})

test('a login the broker refuses is reported with the broker\'s reason and retried', async () => {
  const got: Packet[] = []
  const port = await serve(fakeBroker(5, got))
  const c = connect(port)
  while (got.filter((p) => p.cmd === 'connect').length < 2) await new Promise((resolve) => setTimeout(resolve, 20))
  expect(c.ready).toBe(false)
  expect(c.lastError).toBe('the broker refused the login: not authorized')
  const login = got.find((p) => p.cmd === 'connect')
  expect(login).toMatchObject({ clientId: 'unit', clean: false, keepalive: 30 })
})

test('after CONNACK it subscribes every filter at QoS 1 and is ready; a silent broker is dropped after 1.5 keepalives', async () => {
  const got: Packet[] = []
  const port = await serve(fakeBroker(0, got, false))
  const errors: string[] = []
  const c = connect(port, { keepaliveSeconds: 1 }, errors)
  while (!c.ready) await new Promise((resolve) => setTimeout(resolve, 20))
  expect(got.find((p) => p.cmd === 'subscribe')).toMatchObject({ subscriptions: [{ topic: 't/#', qos: 1 }] })
  while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  expect(got.some((p) => p.cmd === 'pingreq')).toBe(true)
  expect(errors[0]).toMatch(/no packet from the broker for \d+ s \(keepalive 1 s\)/)
}, 10_000)

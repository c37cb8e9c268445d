import { type AddressInfo, createServer } from 'node:net'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'

export interface TestBroker {
  url: string
  /** Every message the observer received, in order, with its local receive time. */
  messages: { topic: string; payload: string; retain: boolean; receivedAt: number }[]
  observer: MqttClient
  close(): Promise<void>
}

/** An aedes broker on a free port, anonymous, with an observer client subscribed to everything. */
export async function startTestBroker(): Promise<TestBroker> {
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  const observer = await mqtt.connectAsync(url, { clientId: 'observer', reconnectPeriod: 0, protocolVersion: 4 })
  const messages: TestBroker['messages'] = []
  observer.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain, receivedAt: Date.now() }))
  await observer.subscribeAsync('#', { qos: 1 })
  return {
    url,
    messages,
    observer,
    async close() {
      await observer.endAsync(true).catch(() => undefined)
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { createLogger } from '@gridline/core'
import { type DecodeOptions, ServerClock } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { Aedes, type Client } from 'aedes'
import mqtt from 'mqtt'
import { DeviceStore } from '../../devices/device-store.ts'
import { LiveDeviceDirectory } from '../../devices/directory.ts'
import { createIngestMetrics } from '../../metrics.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type TestDatabase, createMigratedTestDatabase } from '../../testing/index.ts'
import { type SendOutcome, sourceConformance } from '../conformance.ts'
import { MqttClientSourceSchema } from './config.ts'
import { MqttClientSource } from './mqtt-client-source.ts'

// The shared source behaviour, with an aedes broker standing in for the
// external one: it reports each PUBACK it receives from the source ('ack')
// and each disconnect, so the suite sees what the broker sees. A message is
// published by mqtt.js at QoS 1; "acknowledged" is the source's PUBACK to the
// broker, "not acknowledged" the source dropping its connection without one
// (so the broker sends it again) or no PUBACK within 2 s.
sourceConformance('mqtt_client', async () => {
  const db: TestDatabase = await createMigratedTestDatabase()
  await new DeviceStore(pgSqlClient(db.pool)).add({ id: 'aq-conf', domain: 'environment' })
  const logger = createLogger({ level: 'silent' })
  const registry = new LiveDeviceDirectory(db.pool, db.url, logger)
  await registry.start()
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const waiting = new Map<string, (o: SendOutcome) => void>()
  broker.on('ack', (packet) => {
    const key = packet && 'payload' in packet ? String(packet.payload) : ''
    waiting.get(key)?.('acknowledged')
    waiting.delete(key)
  })
  broker.on('clientDisconnect', (client: Client) => {
    if (!client.id.startsWith('gridline-conf')) return
    for (const resolve of waiting.values()) resolve('not acknowledged')
    waiting.clear()
  })
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'conformance-publisher' })
  const decodeOptions: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: 0, rejectedPayloadMaxBytes: 1_024, serverClock: new ServerClock() }
  const source = new MqttClientSource('broker', MqttClientSourceSchema.parse({
    type: 'mqtt_client', url: `mqtt://127.0.0.1:${port}`, clientId: 'gridline-conf', reconnect: { initialMs: 50, maxMs: 200 },
    subscriptions: [{ filter: 'telemetry/#' }],
  }), { decodeOptions, registry, metrics: createIngestMetrics(), logger, maxPendingRowsPerConnection: 10_000 })
  return {
    source,
    listens: false,
    send(_ports, ts, value) {
      const payload = JSON.stringify({ ts, values: { pm25: value } })
      const outcome = new Promise<SendOutcome>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(payload)
          resolve('not acknowledged')
        }, 2_000)
        waiting.set(payload, (o) => {
          clearTimeout(timer)
          resolve(o)
        })
      })
      void publisher.publishAsync('telemetry/environment/aq-conf', payload, { qos: 1 })
      return { outcome }
    },
    async cleanup() {
      await publisher.endAsync()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      server.close()
      await registry.stop()
      await db.drop()
    },
  }
})

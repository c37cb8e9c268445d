import { createLogger } from '@gridline/core'
import mqtt from 'mqtt'
import { createIngestMetrics } from '../../metrics.ts'
import { type SendOutcome, sourceConformance } from '../conformance.ts'
import { MqttBroker } from './mqtt-broker.ts'
import { MqttSource } from './mqtt-source.ts'

// The shared source behaviour, through a real MQTT client (mqtt.js, QoS 1, one
// connection per message so that one refused message cannot close another's).
sourceConformance('mqtt_broker', async () => {
  const metrics = createIngestMetrics()
  const logger = createLogger({ level: 'silent' })
  const broker = new MqttBroker({ host: '127.0.0.1', port: 0, maxConnections: 100, auth: 'none' }, { directory: null, metrics, logger })
  return {
    source: new MqttSource(broker, { id: 'mqtt', maxPendingRowsPerConnection: 10_000 }, metrics),
    send(ports, ts, value) {
      const outcome = new Promise<SendOutcome>((resolve) => {
        const client = mqtt.connect(`mqtt://127.0.0.1:${ports.port}`, { reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 2_000 })
        const done = (o: SendOutcome) => { resolve(o); client.end(true) }
        client.once('error', () => done('not acknowledged'))
        client.once('close', () => done('not acknowledged'))
        client.once('connect', () => {
          client.publish('telemetry/environment/aq-conf', JSON.stringify({ ts, values: { pm25: value } }), { qos: 1 }, (err) => done(err ? 'not acknowledged' : 'acknowledged'))
        })
      })
      return { outcome }
    },
    async cleanup() {},
  }
})

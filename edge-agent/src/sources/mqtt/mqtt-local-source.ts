import { type Server, createServer } from 'node:net'
import type { Logger } from '@gridline/core'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import type { MqttSourceConfig } from '../../config.ts'
import type { ReadingSink, Source } from '../source.ts'
import { mapMessage, topicMatches } from './topic-mapping.ts'

/**
 * Southbound MQTT: readings from devices on the gateway's LAN, either from
 * an external local broker (the agent subscribes with QoS 1 and a persistent
 * session) or from a small embedded broker (aedes) the devices publish to.
 * Each message is mapped to a reading by the first subscription whose topic
 * filter matches it; what cannot be mapped is counted by reason.
 */
export class MqttLocalSource implements Source {
  readonly name: string
  private client: MqttClient | undefined
  private broker: Aedes | undefined
  private server: Server | undefined
  private connected = false
  /** The port the embedded broker bound (tests use port 0). */
  port: number | undefined

  constructor(private readonly config: MqttSourceConfig, private readonly sink: ReadingSink, private readonly logger: Logger) {
    this.name = `mqtt:${config.name}`
  }

  async start(): Promise<void> {
    const broker = this.config.broker
    if (broker.type === 'embedded') {
      this.broker = await Aedes.createBroker({
        // The message reaches the queue before aedes sends the PUBACK [MQTT-4.3.2-2]: a device's QoS 1 reading is on disk once acknowledged.
        authorizePublish: (_client, packet, done) => {
          void this.handle(packet.topic, packet.payload as Buffer).then(() => done(null))
        },
      })
      const server = createServer(this.broker.handle)
      this.server = server
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(broker.port, broker.host, () => resolve())
      })
      const address = server.address()
      this.port = typeof address === 'object' && address ? address.port : broker.port
      this.connected = true
      this.logger.info({ port: this.port }, 'The embedded MQTT broker for local devices is listening.')
      return
    }
    const client = mqtt.connect(broker.url, {
      clientId: `gridline-edge-${this.config.name}`,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      ...(broker.username ? { username: broker.username } : {}),
      ...(broker.password ? { password: broker.password } : {}),
    })
    this.client = client
    // mqtt.js sends the PUBACK once this callback is called.
    client.handleMessage = (packet, callback) => {
      void this.handle(packet.topic, packet.payload as Buffer).then(() => callback())
    }
    client.on('connect', () => {
      this.connected = true
      client.subscribe(this.config.subscriptions.map((s) => s.topic), { qos: 1 }, (err) => {
        if (err) this.logger.error({ err }, 'Subscribing on the local MQTT broker failed.')
      })
      this.logger.info('Connected to the local MQTT broker.')
    })
    client.on('close', () => { this.connected = false })
    client.on('error', (err) => this.logger.warn({ err }, 'The local MQTT broker connection reported an error.'))
  }

  async stop(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined)
    if (this.broker) await new Promise<void>((resolve) => this.broker!.close(() => resolve()))
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()))
    this.connected = false
  }

  health(): Record<string, unknown> {
    return { up: this.connected, broker: this.config.broker.type, ...(this.port !== undefined ? { port: this.port } : {}) }
  }

  /** Resolves once the reading is on disk (or was counted as unmappable or refused). */
  private async handle(topic: string, payload: Buffer): Promise<void> {
    const subscription = this.config.subscriptions.find((s) => topicMatches(s.topic, topic))
    if (!subscription) {
      this.sink.sourceError('mqtt_topic_unmapped')
      return
    }
    const result = mapMessage(subscription, topic, payload, Date.now())
    if ('error' in result) this.sink.sourceError(result.error)
    else await this.sink.accept(result.reading)
  }
}

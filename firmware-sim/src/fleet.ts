import mqtt, { type MqttClient } from 'mqtt'
import { deviceTopic } from '@gridline/schemas'
import { modelFor } from './models.ts'

export interface SimDevice {
  id: string
  domain: string
  password: string
}

export interface FleetOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883 */
  url: string
  devices: SimDevice[]
  /** Time between readings of one device. */
  intervalMs: number
  qos?: 0 | 1
  seed?: number
}

export interface FleetStats {
  published: number
  acknowledged: number
  errors: number
}

/**
 * A small fleet of simulated field devices, each its own MQTT connection with
 * its own credentials, publishing one reading per interval with an increasing
 * seq. (The full simulator, with faults and replay, is firmware-sim's own issue.)
 */
export class Fleet {
  private readonly clients: MqttClient[] = []
  private readonly timers: NodeJS.Timeout[] = []
  readonly stats: FleetStats = { published: 0, acknowledged: 0, errors: 0 }

  /** Devices connected now. */
  get connected(): number {
    return this.clients.filter((c) => c.connected).length
  }

  constructor(private readonly options: FleetOptions) {}

  async start(): Promise<void> {
    const { url, devices, intervalMs, qos = 1, seed = 1 } = this.options
    await Promise.all(devices.map(async (device, i) => {
      const client = mqtt.connect(url, {
        clientId: device.id,
        username: device.id,
        password: device.password,
        protocolVersion: 4,
        reconnectPeriod: 1_000,
        connectTimeout: 10_000,
      })
      this.clients.push(client)
      client.on('error', () => this.stats.errors++)
      await new Promise<void>((resolve) => client.once('connect', () => resolve()))
      const model = modelFor(device.domain, device.id, seed)
      const topic = deviceTopic(device.domain, device.id)
      let seq = 0
      const publish = () => {
        const now = Date.now()
        const payload = JSON.stringify({ ts: now, seq: seq++, values: model(now) })
        this.stats.published++
        client.publish(topic, payload, { qos }, (err) => {
          if (err) this.stats.errors++
          else this.stats.acknowledged++
        })
      }
      // Spread the devices over the interval so the load is smooth.
      const first = setTimeout(() => {
        publish()
        this.timers.push(setInterval(publish, intervalMs))
      }, (intervalMs * i) / devices.length)
      this.timers.push(first)
    }))
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    await Promise.all(this.clients.map((c) => c.endAsync().catch(() => undefined)))
  }
}

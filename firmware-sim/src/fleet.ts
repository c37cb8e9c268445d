import { Simulator } from './simulator.ts'

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
 * The demo's fleet: one device kind per domain, real time, no faults. A thin
 * wrapper over Simulator kept for `gridline demo` and anything else built
 * against this API; new code should use Simulator.
 */
export class Fleet {
  private readonly simulator: Simulator

  constructor(options: FleetOptions) {
    this.simulator = new Simulator({
      url: options.url,
      devices: options.devices,
      intervalMs: options.intervalMs,
      ...(options.qos !== undefined ? { qos: options.qos } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    })
  }

  get stats(): FleetStats {
    return this.simulator.stats
  }

  /** Devices connected now. */
  get connected(): number {
    return this.simulator.connected
  }

  /** Resolves once every device is connected and publishing. */
  async start(): Promise<void> {
    await this.simulator.start()
    await this.simulator.allConnected(60_000)
  }

  async stop(): Promise<void> {
    await this.simulator.stop()
  }
}

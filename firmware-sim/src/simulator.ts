import { DeviceSimulation } from './device-simulation.ts'
import { SimulatedDevice } from './device.ts'
import type { FaultRates } from './faults.ts'
import { type DeviceKind, defaultKind } from './models/index.ts'
import { SimClock, TickScheduler } from './scheduler.ts'
import { SimStats } from './stats.ts'

/** A device to simulate: its id, what it is, and its login. */
export interface DeviceSpec {
  id: string
  /** The device kind; defaults from the domain when absent. */
  kind?: DeviceKind
  /** Used to pick the kind when `kind` is absent. */
  domain?: string
  /** No password: the device connects without a login (Mosquitto, `auth.mode: none`). */
  password?: string
}

export interface SimulatorOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883 */
  url: string
  devices: DeviceSpec[]
  /** Real time between two readings of one device. */
  intervalMs: number
  /** Simulated milliseconds per real millisecond: 1 is real time, 1440 a day per minute. */
  timeScale?: number
  /** Simulated time at start (epoch ms); now by default. */
  simStartMs?: number
  seed?: number
  qos?: 0 | 1
  faults?: FaultRates
  /** Readings a device keeps while disconnected (default 100). */
  bufferSize?: number
  /** New connections opened per second at start (default 500), so a large fleet does not flood the broker. */
  connectRatePerS?: number
  keepaliveS?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

/**
 * A fleet of simulated devices, each its own MQTT connection and login, driven
 * by one scheduler. A device starts reading once it has connected, then reads
 * once per interval whether connected or not (buffering while it is not).
 */
export class Simulator {
  readonly stats = new SimStats()
  readonly devices: SimulatedDevice[]
  /** The readings of `devices[i]`. */
  readonly simulations: DeviceSimulation[]
  readonly clock: SimClock
  readonly scheduler: TickScheduler
  private stopped = false
  private connecting: Promise<void> | undefined
  private readonly simIntervalMs: number

  constructor(private readonly options: SimulatorOptions) {
    const seed = options.seed ?? 1
    const timeScale = options.timeScale ?? 1
    if (!(options.intervalMs > 0)) throw new RangeError('intervalMs must be positive.')
    if (!(timeScale > 0)) throw new RangeError('timeScale must be positive.')
    this.clock = new SimClock(options.simStartMs ?? Date.now(), timeScale)
    this.simIntervalMs = options.intervalMs * timeScale
    this.scheduler = new TickScheduler(options.intervalMs)
    this.simulations = options.devices.map((spec) =>
      new DeviceSimulation(spec.id, spec.kind ?? defaultKind(spec.domain ?? ''), seed, options.faults ?? {}, this.stats.faults))
    this.devices = options.devices.map((spec, i) => {
      return new SimulatedDevice(this.simulations[i]!, {
        url: options.url,
        username: spec.password !== undefined ? spec.id : undefined,
        password: spec.password,
        qos: options.qos ?? 1,
        bufferSize: options.bufferSize ?? 100,
        reconnectMinMs: options.reconnectMinMs ?? 1_000,
        reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
        keepaliveS: options.keepaliveS ?? 60,
      }, this.stats)
    })
  }

  /** Devices connected now. */
  get connected(): number {
    let n = 0
    for (const d of this.devices) if (d.connected) n++
    return n
  }

  /** Starts the scheduler and opens the connections at the configured rate. Resolves once every connection is opening. */
  async start(): Promise<void> {
    const { intervalMs } = this.options
    const { devices, simulations } = this
    const slots = this.scheduler.slots
    this.scheduler.start((slot) => {
      const simMs = this.clock.now()
      for (let i = slot; i < devices.length; i += slots) {
        const device = devices[i]!
        if (device.started) device.emit(simulations[i]!.next(simMs, this.simIntervalMs), intervalMs)
      }
    })
    const perBatch = Math.max(1, Math.round((this.options.connectRatePerS ?? 500) / 10))
    const firstConnects: Promise<void>[] = []
    for (let i = 0; i < devices.length && !this.stopped; i += perBatch) {
      for (const device of devices.slice(i, i + perBatch)) firstConnects.push(device.connect())
      if (i + perBatch < devices.length) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    this.connecting = Promise.all(firstConnects).then(() => undefined)
  }

  /** Resolves when every device has connected once; rejects after `timeoutMs`. */
  async allConnected(timeoutMs = 60_000): Promise<void> {
    if (!this.connecting) throw new Error('The simulator has not been started.')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Only ${this.connected} of ${this.devices.length} devices connected within ${timeoutMs} ms.`)), timeoutMs)
    })
    try {
      await Promise.race([this.connecting, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops reading, then closes every connection cleanly (each device publishes its offline status). */
  async stop(): Promise<void> {
    this.stopped = true
    this.scheduler.stop()
    await Promise.all(this.devices.map((d) => d.stop()))
  }
}

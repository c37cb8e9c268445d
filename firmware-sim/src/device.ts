import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { commandTopic, deviceTopic, replyTopic } from '@gridline/schemas'
import type { Emission } from './device-simulation.ts'
import type { CommandOutcome } from './models/index.ts'
import type { SimStats } from './stats.ts'

export const statusTopic = (domain: string, id: string): string => `status/${domain}/${id}`
// The command topics are part of the wire contract: one definition, in @gridline/schemas.
export { commandTopic, replyTopic }

/** Who a device is on the network and how it answers commands. */
export interface DeviceIdentity {
  readonly id: string
  readonly domain: string
  command(action: string, params: Record<string, unknown>): CommandOutcome
}

export interface DeviceConnectionOptions {
  url: string
  /** Login; absent for brokers that allow anonymous clients. */
  username?: string | undefined
  password?: string | undefined
  qos: 0 | 1
  /** Readings kept while disconnected; the oldest is dropped when full. */
  bufferSize: number
  /** Capped exponential backoff with full jitter between reconnect attempts. */
  reconnectMinMs: number
  reconnectMaxMs: number
  keepaliveS: number
}

/**
 * One simulated device on the network: its own MQTT connection and login, a last
 * will, a small buffer for readings taken while disconnected (sent as a burst on
 * reconnect), reconnects with backoff and jitter, and the command topic.
 * What it sends comes from outside: a DeviceSimulation through the fleet's
 * scheduler (`emit`), or a recorded data set (`send`).
 */
/** Where the service tells a device why it refused one of its messages. */
export function rejectionTopic(domain: string, id: string): string {
  return `rejections/${domain}/${id}`
}

export class SimulatedDevice {
  client: MqttClient | undefined
  /** Connected at least once: readings are taken from then on. */
  started = false
  private buffer: string[] = []
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | undefined
  private holdOffUntil = 0
  private stopping = false
  private readonly topic: string
  private firstConnect: Promise<void> | undefined

  constructor(readonly sim: DeviceIdentity, private readonly options: DeviceConnectionOptions, private readonly stats: SimStats) {
    this.topic = deviceTopic(sim.domain, sim.id)
  }

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  /** Opens the connection; resolves on the first CONNACK (it keeps retrying until then, or until stop). */
  connect(): Promise<void> {
    if (this.firstConnect) return this.firstConnect
    const { sim, options } = this
    const clientOptions: IClientOptions = {
      clientId: sim.id,
      protocolVersion: 4,
      clean: true,
      keepalive: options.keepaliveS,
      connectTimeout: 30_000,
      // Reconnects are ours: mqtt.js only knows a fixed period, and a fleet must not come back in step.
      reconnectPeriod: 0,
      resubscribe: false,
      will: { topic: statusTopic(sim.domain, sim.id), payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
    }
    this.firstConnect = new Promise((resolve) => {
      const client = mqtt.connect(options.url, clientOptions)
      this.client = client
      client.on('connect', () => {
        this.onConnect()
        resolve()
      })
      client.on('close', () => this.onClose())
      client.on('error', (err) => {
        this.stats.errors++
        const code = (err as { code?: unknown }).code
        if (code === 4 || code === 5) this.stats.authFailures++
      })
      client.on('message', (topic, payload) => this.onCommand(topic, payload))
    })
    return this.firstConnect
  }

  /** Sends (or buffers) what a reading produced, and plays its reconnect fault. */
  emit(emission: Emission, realIntervalMs: number): void {
    for (const payload of emission.payloads) this.send(payload)
    if (emission.disconnectForReadings !== undefined) this.dropConnection(emission.disconnectForReadings * realIntervalMs)
  }

  /** Cuts the TCP connection without DISCONNECT (the broker publishes the will) and stays away for `holdOffMs`. */
  dropConnection(holdOffMs: number): void {
    this.holdOffUntil = Date.now() + holdOffMs
    this.client?.stream?.destroy()
  }

  /** Clean shutdown: publishes the offline status itself, then disconnects (the will is not sent). */
  async stop(): Promise<void> {
    this.stopping = true
    clearTimeout(this.reconnectTimer)
    const client = this.client
    if (!client) return
    if (client.connected) {
      const status = JSON.stringify({ state: 'offline', ts: new Date().toISOString() })
      await client.publishAsync(statusTopic(this.sim.domain, this.sim.id), status, { qos: 1, retain: true })
        .then(() => { this.stats.statusPublished++ })
        .catch(() => { this.stats.errors++ })
    }
    await client.endAsync(!client.connected).catch(() => undefined)
  }

  /** Publishes one telemetry payload now, or keeps it in the buffer while disconnected. */
  send(payload: string): void {
    const client = this.client
    if (!client?.connected) {
      if (this.buffer.length >= this.options.bufferSize) {
        this.buffer.shift()
        this.stats.bufferDropped++
      }
      this.buffer.push(payload)
      this.stats.buffered++
      return
    }
    this.stats.published++
    client.publish(this.topic, payload, { qos: this.options.qos }, (err) => {
      if (!err) {
        this.stats.acknowledged++
      } else if (!this.stopping && this.options.qos === 1) {
        // The connection died before the PUBACK: keep the reading for the next connection (at least once;
        // the ingest stores a resent reading once).
        this.stats.requeued++
        this.send(payload)
      } else {
        this.stats.errors++
      }
    })
  }

  private onConnect(): void {
    const client = this.client!
    this.attempt = 0
    this.started = true
    this.stats.connects++
    const { domain, id } = this.sim
    client.publish(statusTopic(domain, id), JSON.stringify({ state: 'online', ts: new Date().toISOString() }), { qos: 1, retain: true }, (err) => {
      if (err) this.stats.errors++
      else this.stats.statusPublished++
    })
    client.subscribe(commandTopic(domain, id), { qos: 1 }, (err) => {
      if (err) this.stats.errors++
    })
    // The service's notices of what it refused from this device; a broker that does not offer
    // the topic refuses the subscription (SUBACK 0x80), which is not an error of the device.
    client.subscribe(rejectionTopic(domain, id), { qos: 1 }, () => undefined)
    // The burst after a reconnect: everything buffered, oldest first.
    const pending = this.buffer
    this.buffer = []
    for (const payload of pending) this.send(payload)
    this.stats.bufferFlushed += pending.length
  }

  private onClose(): void {
    if (this.stopping || this.reconnectTimer) return
    if (this.started) this.stats.disconnects++
    const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** this.attempt)
    this.attempt++
    const delay = Math.max(this.holdOffUntil - Date.now(), Math.random() * ceiling)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      const client = this.client
      if (!client || this.stopping) return
      // Keep the stores: QoS 1 messages not yet acknowledged are resent after the reconnect.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
    }, delay)
  }

  /** Replies to the last commands, by id, so a command delivered twice is answered twice but carried out once. */
  private readonly recentReplies = new Map<string, string>()

  private onCommand(topic: string, payload: Buffer): void {
    const { domain, id } = this.sim
    if (topic === rejectionTopic(domain, id)) {
      this.onRejection(payload)
      return
    }
    if (topic !== commandTopic(domain, id)) return
    this.stats.commandsReceived++
    let commandId: unknown = null
    let outcome: CommandOutcome
    try {
      const command = JSON.parse(payload.toString('utf8')) as unknown
      if (typeof command !== 'object' || command === null || Array.isArray(command)) {
        outcome = { status: 'rejected', detail: 'A command must be a JSON object {"id", "action", "params"}.' }
      } else {
        const { id: cid, action, params, expiresAt } = command as Record<string, unknown>
        commandId = cid ?? null
        const repeated = typeof cid === 'string' ? this.recentReplies.get(cid) : undefined
        if (repeated !== undefined) {
          // QoS 1 may deliver a command twice: answer again, do not act twice (docs/protocol.md#device-commands).
          this.publishReply(repeated)
          return
        }
        if (typeof cid !== 'string' || cid.length === 0) outcome = { status: 'rejected', detail: 'The command has no "id" string.' }
        else if (typeof expiresAt === 'string' && Date.parse(expiresAt) < Date.now()) outcome = { status: 'rejected', detail: `The command expired at ${expiresAt}.` }
        else if (typeof action !== 'string') outcome = { status: 'rejected', detail: 'The command has no "action" string.' }
        else if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
          outcome = { status: 'rejected', detail: '"params" must be an object.' }
        } else {
          outcome = this.sim.command(action, (params ?? {}) as Record<string, unknown>)
        }
      }
    } catch (err) {
      outcome = err instanceof SyntaxError
        ? { status: 'rejected', detail: 'The command is not valid JSON.' }
        : { status: 'failed', detail: `The device could not carry out the command: ${(err as Error).message}` }
    }
    this.stats.replies[outcome.status]++
    const reply = JSON.stringify({ id: commandId, status: outcome.status, detail: outcome.detail, ts: new Date().toISOString() })
    if (typeof commandId === 'string') {
      this.recentReplies.set(commandId, reply)
      if (this.recentReplies.size > 100) this.recentReplies.delete(this.recentReplies.keys().next().value!)
    }
    this.publishReply(reply)
  }

  /** Counts one refusal notice by its reason (`unknown` when the notice itself is not as documented). */
  private onRejection(payload: Buffer): void {
    let reason = 'unknown'
    try {
      const notice = JSON.parse(payload.toString('utf8')) as { reason?: unknown }
      if (typeof notice.reason === 'string' && /^[a-z0-9_]{1,64}$/.test(notice.reason)) reason = notice.reason
    } catch {
      // Counted as unknown below.
    }
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1
  }

  private publishReply(reply: string): void {
    this.client?.publish(replyTopic(this.sim.domain, this.sim.id), reply, { qos: 1 }, (err) => {
      if (err) this.stats.errors++
    })
  }
}

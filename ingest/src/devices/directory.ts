import { createHash, timingSafeEqual } from 'node:crypto'
import type { Logger } from '@gridline/core'
import type { DeviceDirectory } from '@gridline/processors'
import pg from 'pg'
import { pgSqlClient } from '../storage/sql-client.ts'
import { type DeviceRecord, DeviceStore } from './device-store.ts'
import { dummyHash, verifyPassword } from './passwords.ts'

/**
 * Every registered device, in memory, so that authorization on the hot path
 * is a map lookup. Kept current by LISTEN/NOTIFY on `gridline_devices` (a
 * trigger on the devices table) and a periodic full reload as a safety net.
 */
export class LiveDeviceDirectory implements DeviceDirectory {
  private devices = new Map<string, DeviceRecord>()
  private listener: pg.Client | undefined
  private reloadTimer: NodeJS.Timeout | undefined
  /** id -> (stored hash, sha256 of the secret that last verified against it). */
  private readonly verified = new Map<string, { hash: string; digest: Buffer }>()
  private readonly store: DeviceStore
  private readonly changeListeners: ((deviceId: string, device: DeviceRecord | undefined) => void)[] = []
  private readonly anyChangeListeners: ((deviceId: string) => void)[] = []
  /** Metadata key -> value (lower case) -> device: built on first use per key, dropped on any change. */
  private readonly metadataIndex = new Map<string, Map<string, DeviceRecord>>()

  constructor(
    pool: pg.Pool,
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly reloadIntervalMs = 30_000,
  ) {
    this.store = new DeviceStore(pgSqlClient(pool))
  }

  get size(): number {
    return this.devices.size
  }

  /**
   * Called after a device was removed or changed (undefined when removed), so
   * open connections made with the old registration can be closed.
   */
  onChange(listener: (deviceId: string, device: DeviceRecord | undefined) => void): void {
    this.changeListeners.push(listener)
  }

  /**
   * Called after any reload of a device's registration (metadata included),
   * and after a full reload for every device. For caches of derived data.
   */
  onAnyChange(listener: (deviceId: string) => void): void {
    this.anyChangeListeners.push(listener)
  }

  /** Every registered device, as loaded. */
  all(): IterableIterator<DeviceRecord> {
    return this.devices.values()
  }

  get(deviceId: string): DeviceRecord | undefined {
    return this.devices.get(deviceId)
  }

  /**
   * The device whose metadata `key` holds `value` (a string or a number,
   * compared case-insensitively): a DevEUI, a Sensor.Community chip id, a
   * Sparkplug device name. Synchronous, for decoders: an index per key is
   * built on first use and dropped whenever a registration changes.
   */
  byMetadata(key: string, value: string): DeviceRecord | undefined {
    let index = this.metadataIndex.get(key)
    if (!index) {
      index = new Map()
      for (const device of this.devices.values()) {
        const v = device.metadata[key]
        if (typeof v === 'string' || typeof v === 'number') index.set(String(v).toLowerCase(), device)
      }
      this.metadataIndex.set(key, index)
    }
    return index.get(value.toLowerCase())
  }

  async start(): Promise<void> {
    await this.reload()
    await this.listen()
    this.reloadTimer = setInterval(() => {
      const relisten = this.listener ? Promise.resolve() : this.listen()
      relisten.then(() => this.reload())
        .catch((err) => this.logger.warn({ err }, 'Reloading the device registry failed; keeping the last copy.'))
    }, this.reloadIntervalMs)
    this.reloadTimer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.reloadTimer)
    await this.listener?.end().catch(() => undefined)
  }

  /**
   * Checks a device's secret. A full scrypt check runs the first time; after
   * that a secret whose SHA-256 digest matches the one that last verified is
   * accepted without scrypt, so a reconnect storm of thousands of devices
   * does not queue thousands of scrypt runs. Only a matching secret takes
   * that short cut: any other runs the full scrypt check, so a wrong guess
   * is never cheaper than a real check. An unknown id, or one without a
   * password, is checked against a dummy hash with the same parameters, so
   * it costs (and answers in) the same time as a known one.
   * The cache entry is tied to the stored hash: a new password invalidates it.
   */
  async authenticate(deviceId: string, password: string): Promise<DeviceRecord | undefined> {
    const device = this.devices.get(deviceId)
    const hash = device?.credentialsHash
    if (!device || !hash) {
      await verifyPassword(password, await dummyHash())
      return undefined
    }
    const digest = createHash('sha256').update(password).digest()
    const cached = this.verified.get(deviceId)
    if (cached && cached.hash === hash && timingSafeEqual(cached.digest, digest)) return device
    if (!(await verifyPassword(password, hash))) return undefined
    // The registration may have changed during the check: cache only what is still current.
    if (this.devices.get(deviceId)?.credentialsHash === hash) this.verified.set(deviceId, { hash, digest })
    return device
  }

  /**
   * Registers devices behind a gateway (DeviceStore.addBehindGateway) and
   * loads them at once, without waiting for the change notification, so the
   * write that named them finds them. Returns the ids newly registered.
   */
  async registerBehindGateway(devices: { id: string; metadata?: Record<string, unknown> }[], domain: string, gateway: string): Promise<string[]> {
    const added = await this.store.addBehindGateway(devices, domain, gateway)
    await Promise.all(added.map((id) => this.reloadOne(id)))
    return added
  }

  private async reload(): Promise<void> {
    const list = await this.store.list()
    const previous = this.devices
    this.devices = new Map(list.map((d) => [d.id, d]))
    this.metadataIndex.clear()
    for (const [id, old] of previous) {
      const now = this.devices.get(id)
      if (!now || changedIdentity(old, now)) this.notify(id, now)
    }
    for (const listener of this.anyChangeListeners) for (const id of new Set([...previous.keys(), ...this.devices.keys()])) listener(id)
  }

  private async reloadOne(id: string): Promise<void> {
    const device = await this.store.get(id)
    const old = this.devices.get(id)
    if (device) this.devices.set(id, device)
    else this.devices.delete(id)
    this.metadataIndex.clear()
    if (old && (!device || changedIdentity(old, device))) this.notify(id, device)
    for (const listener of this.anyChangeListeners) listener(id)
  }

  private notify(id: string, device: DeviceRecord | undefined): void {
    this.verified.delete(id)
    for (const listener of this.changeListeners) listener(id, device)
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl })
    client.on('notification', (msg) => {
      if (msg.payload) this.reloadOne(msg.payload).catch((err) => this.logger.warn({ err, deviceId: msg.payload }, 'Refreshing one device failed.'))
    })
    client.on('error', (err) => {
      this.logger.warn({ err }, 'The device-change listener lost its connection; reconnecting.')
      // The periodic reload re-establishes the listener and catches up.
      this.listener = undefined
      client.end().catch(() => undefined)
    })
    await client.connect()
    await client.query('LISTEN gridline_devices')
    this.listener = client
  }
}

/** What a connection's authorization was based on: kind, login method, domain, gateway and credentials. */
function changedIdentity(a: DeviceRecord, b: DeviceRecord): boolean {
  return a.kind !== b.kind || a.auth !== b.auth || a.domain !== b.domain || a.gateway !== b.gateway || a.credentialsHash !== b.credentialsHash
}

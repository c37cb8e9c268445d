import { readFileSync } from 'node:fs'
import type { Logger } from '@gridline/core'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { EdgeCounters } from '../metrics.ts'
import type { CursorRead, DiskQueue, QueueCursor } from '@gridline/core'
import { encodeGatewayBatch } from '../reading.ts'
import { backoffDelayMs } from './backoff.ts'

export interface UplinkOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string
  gatewayId: string
  password?: string
  clientId?: string
  tls?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean }
  batchMaxReadings: number
  batchMaxBytes: number
  maxInFlightBatches: number
  /** Backlog readings sent per second at most, so live readings keep their share of the link. */
  drainReadingsPerSec: number
  reconnectMinMs: number
  reconnectMaxMs: number
  keepaliveSec: number
  connectTimeoutMs: number
}

interface Lane {
  cursor: QueueCursor
  backfill: boolean
  /** Exclusive end index for the backlog lane; Infinity for live. */
  end: number
}

/**
 * Northbound: sends the disk queue to the ingest service as gateway batches
 * (`gateways/{id}/telemetry`, QoS 1) and acknowledges a batch's records in
 * the queue only on its PUBACK, which the ingest service sends after commit.
 *
 * On each (re)connect the queue is split at its current end: what lies
 * before is the backlog, sent oldest first with `backfill: true` and limited
 * to `drainReadingsPerSec`; what arrives after goes out at once as live
 * data. Unacknowledged batches of a lost connection are simply read again
 * from the queue: resends are stored once (storage key device, metric, time).
 */
export class Uplink {
  private client: MqttClient | undefined
  private connected = false
  private stopped = true
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | undefined
  private live: Lane | undefined
  private backlog: Lane | undefined
  private inFlight = 0
  private pumping = false
  private pumpAgain = false
  private tokens = 0
  private tokensAt = Date.now()
  private tokenTimer: NodeJS.Timeout | undefined
  /** Bumped on every connection, so callbacks of an old one are recognised. */
  private generation = 0
  private error: string | undefined
  private readonly topic: string
  private readonly onDurable = () => this.pump()

  constructor(
    private readonly queue: DiskQueue,
    private readonly options: UplinkOptions,
    private readonly counters: EdgeCounters,
    private readonly logger: Logger,
  ) {
    this.topic = `gateways/${options.gatewayId}/telemetry`
  }

  get isConnected(): boolean {
    return this.connected
  }

  get batchesInFlight(): number {
    return this.inFlight
  }

  /** Why the last connection attempt or connection failed; cleared once connected. */
  get lastError(): string | undefined {
    return this.error
  }

  /** True while a backlog from before the last (re)connect is still being sent. */
  get draining(): boolean {
    return this.backlog !== undefined
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.queue.on('durable', this.onDurable)
    this.connect()
  }

  /** Closes the connection; unacknowledged batches stay in the queue. */
  async stop(): Promise<void> {
    this.stopped = true
    this.queue.off('durable', this.onDurable)
    clearTimeout(this.reconnectTimer)
    clearTimeout(this.tokenTimer)
    const client = this.client
    this.client = undefined
    await this.dropConnection()
    if (client) await client.endAsync(true).catch(() => undefined)
  }

  private connect(): void {
    const o = this.options
    const options: IClientOptions = {
      username: o.gatewayId,
      clientId: o.clientId ?? `${o.gatewayId}-edge`,
      protocolVersion: 4,
      clean: true,
      // Reconnection is ours: capped exponential backoff with jitter, and a fresh client each time.
      reconnectPeriod: 0,
      keepalive: o.keepaliveSec,
      connectTimeout: o.connectTimeoutMs,
      queueQoSZero: false,
    }
    if (o.password !== undefined) options.password = o.password
    if (o.tls) {
      try {
        Object.assign(options, readTlsFiles(o.tls))
      } catch (err) {
        // Read at every attempt, so a file put in place later (or a renewed certificate) is picked up; never a crash.
        this.error = (err as Error).message
        this.logger.error({ err }, 'The uplink cannot connect: a TLS file could not be read; readings stay in the disk queue.')
        this.reconnectTimer = setTimeout(() => this.connect(), backoffDelayMs(this.attempt++, o.reconnectMinMs, o.reconnectMaxMs))
        return
      }
    }
    const client = mqtt.connect(o.url, options)
    this.client = client
    client.on('connect', () => {
      if (client !== this.client) return
      this.attempt = 0
      this.error = undefined
      this.connected = true
      this.generation += 1
      this.openLanes()
      this.logger.info({ backlogReadings: this.backlog ? this.backlog.end - this.queue.ackedBelow : 0 }, 'The uplink is connected.')
      this.pump()
    })
    client.on('error', (err) => {
      this.error = describeUplinkError(err, o)
      this.logger.warn({ err }, `The uplink connection failed: ${this.error}`)
    })
    client.on('close', () => {
      if (client !== this.client) return
      this.client = undefined
      client.removeAllListeners('connect')
      client.end(true)
      const wasConnected = this.connected
      void this.dropConnection()
      if (this.stopped) return
      const delay = backoffDelayMs(this.attempt++, o.reconnectMinMs, o.reconnectMaxMs)
      if (wasConnected) this.logger.warn({ retryInMs: Math.round(delay) }, 'The uplink connection was lost; readings stay in the disk queue until it is back.')
      this.reconnectTimer = setTimeout(() => this.connect(), delay)
    })
  }

  private openLanes(): void {
    const split = this.queue.durableEnd
    const oldest = this.queue.ackedBelow
    this.backlog = split > oldest ? { cursor: this.queue.openCursor(oldest), backfill: true, end: split } : undefined
    this.live = { cursor: this.queue.openCursor(split), backfill: false, end: Number.POSITIVE_INFINITY }
    this.tokens = Math.min(this.options.batchMaxReadings, this.options.drainReadingsPerSec)
    this.tokensAt = Date.now()
  }

  private async dropConnection(): Promise<void> {
    this.connected = false
    this.inFlight = 0
    const lanes = [this.live, this.backlog]
    this.live = undefined
    this.backlog = undefined
    // Wait for a read in progress to finish with the cursors before closing them.
    while (this.pumping) await new Promise((resolve) => setTimeout(resolve, 5))
    for (const lane of lanes) await lane?.cursor.close()
  }

  /** Fills the window of in-flight batches; re-entrant calls are folded into one more pass. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true
      return
    }
    if (!this.connected) return
    this.pumping = true
    void this.fill().catch((err) => {
      this.logger.error({ err }, 'Reading the disk queue for the uplink failed; the connection is restarted.')
      this.client?.stream.destroy()
    }).finally(() => {
      this.pumping = false
      if (this.pumpAgain) {
        this.pumpAgain = false
        this.pump()
      }
    })
  }

  private async fill(): Promise<void> {
    const o = this.options
    while (this.connected && this.inFlight < o.maxInFlightBatches) {
      this.pumpAgain = false
      const live = this.live
      if (!live) break
      if (live.cursor.nextIndex < this.queue.durableEnd) {
        const read = await live.cursor.read(o.batchMaxReadings, o.batchMaxBytes)
        if (this.send(read, false)) continue
      }
      // The backlog never takes the last slot of the window: that one is kept for live readings.
      const backlog = this.backlog
      if (backlog && this.inFlight < Math.max(1, o.maxInFlightBatches - 1)) {
        const allowed = Math.floor(this.takeTokens())
        if (allowed >= Math.min(o.batchMaxReadings, o.drainReadingsPerSec)) {
          const read = await backlog.cursor.read(Math.min(allowed, o.batchMaxReadings), o.batchMaxBytes, backlog.end)
          this.tokens -= read.records.length
          if (read.end >= backlog.end) {
            this.backlog = undefined
            await backlog.cursor.close()
            this.logger.info('The uplink has sent its backlog; it is live again.')
          }
          if (this.send(read, true) || read.end > read.start) continue
        } else {
          this.scheduleTokens()
        }
      }
      break
    }
  }

  /** Publishes one batch; false when the read was empty. */
  private send(read: CursorRead, backfill: boolean): boolean {
    if (read.records.length === 0) {
      // Everything in the span was already delivered or dropped.
      if (read.end > read.start) this.queue.ack(read.start, read.end)
      return false
    }
    const client = this.client
    if (!client || !this.connected) return false
    const generation = this.generation
    const payload = encodeGatewayBatch(read.records.map((r) => r.payload), backfill)
    const count = read.records.length
    this.inFlight += 1
    client.publish(this.topic, payload, { qos: 1 }, (err) => {
      if (err) return
      // A PUBACK means committed, even one that arrives for an older connection.
      this.queue.ack(read.start, read.end)
      if (backfill) this.counters.sentBackfill += count
      else this.counters.sentLive += count
      this.counters.batchesAcked += 1
      if (generation === this.generation && this.connected) {
        this.inFlight -= 1
        this.pump()
      }
    })
    return true
  }

  private takeTokens(): number {
    const now = Date.now()
    const rate = this.options.drainReadingsPerSec
    this.tokens = Math.min(rate, this.options.batchMaxReadings * 2, this.tokens + ((now - this.tokensAt) / 1000) * rate)
    this.tokensAt = now
    return this.tokens
  }

  private scheduleTokens(): void {
    if (this.tokenTimer) return
    const needed = Math.min(this.options.batchMaxReadings, this.options.drainReadingsPerSec) - this.tokens
    const waitMs = Math.max(5, (needed / this.options.drainReadingsPerSec) * 1000)
    this.tokenTimer = setTimeout(() => {
      this.tokenTimer = undefined
      this.pump()
    }, waitMs)
  }
}

/** The uplink's TLS options from its PEM files; throws naming the file that cannot be read. */
function readTlsFiles(tls: NonNullable<UplinkOptions['tls']>): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file)
    } catch (err) {
      throw new Error(`uplink.tls.${key} ${file} cannot be read: ${(err as Error).message}`, { cause: err })
    }
  }
  return {
    ...(tls.caFile ? { ca: read('caFile', tls.caFile) } : {}),
    ...(tls.certFile ? { cert: read('certFile', tls.certFile) } : {}),
    ...(tls.keyFile ? { key: read('keyFile', tls.keyFile) } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  }
}

const CERTIFICATE_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
])

/** One sentence an operator can act on, for /healthz and the log. */
export function describeUplinkError(err: Error & { code?: string | number }, options: Pick<UplinkOptions, 'url' | 'tls'>): string {
  if (typeof err.code === 'string' && CERTIFICATE_ERROR_CODES.has(err.code)) {
    const trust = options.tls?.caFile ? `the CA in uplink.tls.caFile (${options.tls.caFile})` : 'the system CAs (no uplink.tls.caFile set)'
    return `TLS: the certificate of ${options.url} is not trusted by ${trust}: ${err.message} (${err.code}).`
  }
  return err.code ? `${err.message} (${err.code})` : err.message
}

import type { Logger } from '@gridline/core'
import {
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
} from 'node-opcua'
import type { OpcuaServerConfig } from '../../config.ts'
import type { Reading, ReadingQuality } from '../../reading.ts'
import { backoffDelayMs } from '../../uplink/backoff.ts'
import type { ReadingSink, Source } from '../source.ts'
import { monitorInBulk } from './monitored-items.ts'
import { certificateManagerFor, userIdentityFor } from './security.ts'

type OpcuaNode = OpcuaServerConfig['nodes'][number]

/**
 * Southbound OPC-UA: one client, session and subscription per configured
 * server, every node monitored in bulk. Self-healing: a lost connection, a
 * closed session, a terminated subscription or a subscription that stayed
 * silent past `watchdogMs` tears everything down and builds it again from
 * scratch, with capped exponential backoff and jitter, for as long as it
 * takes. A node the server refuses is logged and counted; the others go on.
 */
export class OpcuaSource implements Source {
  readonly name: string
  /** The configured server name (`name` is `opcua:<serverName>`). */
  readonly serverName: string
  /** Times the connection was (re)built after the first. */
  rebuilds = 0
  /** Rebuilds the watchdog started: the subscription was silent past `watchdogMs` (also counted in `rebuilds`). */
  watchdogTimeouts = 0
  private up = false
  private stopped = false
  private client: OPCUAClient | undefined
  private session: ClientSession | undefined
  private subscription: ClientSubscription | undefined
  private lastActivity = 0
  private watchdog: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private attempt = 0
  private building: Promise<void> | undefined
  /** Bumped per build, so events of a torn-down client are ignored. */
  private generation = 0
  private failedNodes: string[] = []
  private lastError: string | undefined
  private upSince: number | undefined

  constructor(
    private readonly config: OpcuaServerConfig,
    private readonly dataDir: string,
    private readonly sink: ReadingSink,
    private readonly logger: Logger,
  ) {
    this.name = `opcua:${config.name}`
    this.serverName = config.name
  }

  get isUp(): boolean {
    return this.up
  }

  /** Starts connecting; does not wait for the server (it may be down at start). */
  async start(): Promise<void> {
    this.stopped = false
    this.watchdog = setInterval(() => this.checkWatchdog(), Math.min(1000, this.config.watchdogMs / 4))
    this.watchdog.unref()
    this.build()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.watchdog)
    clearTimeout(this.retryTimer)
    await this.building?.catch(() => undefined)
    await this.teardown()
  }

  health(): Record<string, unknown> {
    return {
      up: this.up,
      endpointUrl: this.config.endpointUrl,
      upSinceMs: this.upSince,
      rebuilds: this.rebuilds,
      watchdogTimeouts: this.watchdogTimeouts,
      failedNodes: this.failedNodes,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    }
  }

  private build(): void {
    if (this.stopped || this.building) return
    const generation = ++this.generation
    this.building = this.connect(generation).then(
      () => {
        this.attempt = 0
      },
      async (err) => {
        this.lastError = (err as Error).message
        this.logger.warn({ err, endpointUrl: this.config.endpointUrl }, 'Connecting to the OPC-UA server failed; retrying.')
        await this.teardown()
        this.scheduleRebuild()
      },
    ).finally(() => {
      this.building = undefined
    })
  }

  private scheduleRebuild(): void {
    if (this.stopped) return
    clearTimeout(this.retryTimer)
    const delay = backoffDelayMs(this.attempt++, this.config.reconnectMinMs, this.config.reconnectMaxMs)
    this.retryTimer = setTimeout(() => this.build(), delay)
  }

  /** Called on any sign that the session is gone; rebuilds once per generation. */
  private lost(generation: number, reason: string): void {
    if (generation !== this.generation || this.stopped) return
    this.generation += 1
    this.up = false
    this.upSince = undefined
    this.rebuilds += 1
    this.lastError = reason
    this.logger.warn({ reason }, 'The OPC-UA session is lost; rebuilding the session and every subscription.')
    void (async () => {
      await this.building?.catch(() => undefined)
      await this.teardown()
      this.scheduleRebuild()
    })()
  }

  private async connect(generation: number): Promise<void> {
    const c = this.config
    const securityMode = c.securityMode === 'SignAndEncrypt' ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None
    const policyName = c.securityPolicy ?? (c.securityMode === 'SignAndEncrypt' ? 'Basic256Sha256' : 'None')
    const client = OPCUAClient.create({
      applicationName: 'gridline-edge-agent',
      endpointMustExist: false,
      securityMode,
      securityPolicy: SecurityPolicy[policyName as keyof typeof SecurityPolicy],
      clientCertificateManager: certificateManagerFor(this.dataDir),
      // Reconnection is ours (fresh client each time): node-opcua's own retry would race with it.
      connectionStrategy: { maxRetry: 0, initialDelay: c.reconnectMinMs, maxDelay: c.reconnectMaxMs },
      keepSessionAlive: true,
      requestedSessionTimeout: Math.max(20_000, c.watchdogMs * 2),
    })
    this.client = client
    client.on('connection_lost', () => this.lost(generation, 'connection lost'))
    client.on('close', () => this.lost(generation, 'connection closed'))
    await client.connect(c.endpointUrl)
    const session = await client.createSession(userIdentityFor(c.auth, this.dataDir))
    this.session = session
    session.on('session_closed', () => this.lost(generation, 'session closed'))
    session.on('keepalive_failure', () => this.lost(generation, 'session keep-alive failed'))
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: c.publishingIntervalMs,
      requestedMaxKeepAliveCount: Math.max(2, Math.floor(c.watchdogMs / 3 / c.publishingIntervalMs)),
      requestedLifetimeCount: Math.max(30, Math.floor((c.watchdogMs * 4) / c.publishingIntervalMs)),
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    })
    this.subscription = subscription
    this.lastActivity = Date.now()
    subscription.on('keepalive', () => { this.lastActivity = Date.now() })
    subscription.on('terminated', () => this.lost(generation, 'subscription terminated'))
    const { failed } = await monitorInBulk(subscription, c.nodes, c.defaults, (node, dataValue) => {
      this.lastActivity = Date.now()
      this.onValue(node, dataValue)
    })
    this.failedNodes = failed.map((f) => f.node.nodeId)
    for (const f of failed) {
      this.sink.sourceError('opcua_node_refused')
      this.logger.error({ nodeId: f.node.nodeId, statusCode: f.status }, 'The OPC-UA server refused to monitor a node; the other nodes are monitored.')
    }
    if (generation !== this.generation) throw new Error('The session was lost while it was being set up.')
    this.up = true
    this.upSince = Date.now()
    this.lastError = undefined
    this.logger.info({ endpointUrl: c.endpointUrl, nodes: c.nodes.length - failed.length, refused: failed.length }, 'The OPC-UA session and subscription are up.')
  }

  private checkWatchdog(): void {
    if (!this.up || this.stopped) return
    if (Date.now() - this.lastActivity <= this.config.watchdogMs) return
    this.watchdogTimeouts += 1
    this.lost(this.generation, `no data or keep-alive for ${this.config.watchdogMs} ms (watchdog)`)
  }

  private onValue(node: OpcuaNode, dataValue: DataValue): void {
    const value = dataValue.value?.value
    if (!(typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
      this.sink.sourceError(value === null || value === undefined ? 'opcua_value_missing' : 'opcua_value_unsupported')
      return
    }
    const source = this.config.timestampSource === 'source' ? dataValue.sourceTimestamp : null
    const ts = (source ?? dataValue.serverTimestamp ?? new Date()).getTime()
    const reading: Reading = { device: node.device, domain: node.domain, ts, values: { [node.metric]: value }, quality: qualityOf(dataValue) }
    void this.sink.accept(reading)
  }

  private async teardown(): Promise<void> {
    this.up = false
    const { client, session, subscription } = this
    this.client = undefined
    this.session = undefined
    this.subscription = undefined
    subscription?.removeAllListeners()
    session?.removeAllListeners()
    client?.removeAllListeners()
    // Closing a session on a dead server would wait for its timeout; the server drops it by itself.
    if (client) await withTimeout(client.disconnect(), 2_000).catch(() => undefined)
  }
}

/** OPC-UA status code severity to the wire contract's quality [OPC UA Part 4 7.39]. */
export function qualityOf(dataValue: DataValue): ReadingQuality {
  const status = dataValue.statusCode
  if (!status || status.isGood()) return 'good'
  if (status.isBad()) return 'bad'
  return 'uncertain'
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())])
}

import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { type DecodedMessage, type DeliveryStatus, GridlineError, type Intake, type Logger, type Principal, type Source, type SourceHealth, rejectionCount } from '@gridline/core'
import { type DecodeOptions, type LineMapping, type ThingsStackMapping, decodeLineProtocol, decodeSensorCommunity, decodeThingsStack, emptyDecoded, isPrecision, lineProtocolDeviceNames, refuseMessage, sensorCommunityChipId } from '@gridline/processors'
import { DEVICE_ID_PATTERN, deviceTopic, gatewayTopic } from '@gridline/schemas'
import { Counter, Histogram } from 'prom-client'
import { AutoRegistrar } from '../../devices/auto-register.ts'
import type { DeviceRecord } from '../../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import type { TokenVerifier } from '../../devices/tokens.ts'
import { type IngestMetrics, sharedMetric } from '../../metrics.ts'
import { certificateIdentities } from '../../transport/certificate-identity.ts'
import { TlsListener } from '../../transport/tls-listener.ts'
import { BodyError, readBody } from './body.ts'
import type { HttpSourceConfig } from './config.ts'
import { type AuthOutcome, type Credentials, HttpAuth, RateLimiter, credentialsOf, tokenInHeader } from './http-auth.ts'

export interface HttpSourceDeps {
  decodeOptions: DecodeOptions
  /** Every registered login (with any auth mode: line protocol and Sensor.Community find devices in it). */
  registry: LiveDeviceDirectory
  tokens: TokenVerifier
  authMode: 'devices' | 'none'
  metrics: IngestMetrics
  logger: Logger
  /** One login's share of uncommitted rows (ingest.maxPendingRowsPerConnection); past it, 429. */
  maxPendingRowsPerLogin: number
}

/** The endpoints that take data, by path; each answers in its own dialect. */
const ENDPOINTS = {
  '/write': { name: 'write_v1', dialect: 'influx_v1' },
  '/api/v2/write': { name: 'write_v2', dialect: 'influx_v2' },
  '/v1/telemetry': { name: 'telemetry', dialect: 'gridline' },
  '/sensor-community': { name: 'sensor_community', dialect: 'gridline' },
  // The Things Stack appends each message type's path to the webhook's base URL: /things-stack/<anything> is this endpoint too.
  '/things-stack': { name: 'things_stack', dialect: 'things_stack' },
} as const
type Endpoint = (typeof ENDPOINTS)[keyof typeof ENDPOINTS]
type Dialect = Endpoint['dialect']

/** The endpoint of a request path, or undefined. */
function endpointAt(path: string): Endpoint | undefined {
  const exact = (ENDPOINTS as Record<string, Endpoint>)[path]
  if (exact) return exact
  return path.startsWith('/things-stack/') ? ENDPOINTS['/things-stack'] : undefined
}

/**
 * The `http` source (ingest/src/sources/http/README.md): gridline JSON,
 * Sensor.Community (airrohr) bodies, The Things Stack v3 webhooks and InfluxDB
 * line protocol (1.x `/write`, 2.x `/api/v2/write`) on a listener of its own. Every write is answered only
 * after its commit, as a PUBACK is: 204 (or 200 with what was refused) means
 * stored or dead-lettered for good, 400 that nothing of it can be stored by
 * sending it again, 503 with Retry-After that it was not stored and should be
 * sent again (backpressure, the database away, shutting down), 429 a login
 * over its rate, 413 a body over the limit, 401/403 a login refused. On
 * `/things-stack` what is refused for good is answered 200 with the reasons
 * (The Things Stack sends again anything answered other than 2xx).
 */
export class HttpSource implements Source {
  readonly type = 'http'
  private readonly server: Server
  private tls: TlsListener | undefined
  private intake: Intake | undefined
  private draining = false
  private listening = false
  private inflightBytes = 0
  private readonly shares = new Map<string, number>()
  /** Writes waiting for their login's share to have room, by login. */
  private readonly shareWaiters = new Map<string, Set<() => void>>()
  private readonly auth: HttpAuth
  private readonly limiter: RateLimiter
  private readonly mapping: LineMapping
  private readonly thingsStack: ThingsStackMapping
  private readonly requests: Counter<'component_id' | 'endpoint' | 'code'>
  private readonly seconds: Histogram<'component_id' | 'endpoint'>
  private readonly ignored: Counter<'component_id' | 'field'>
  private readonly autoRegistered: Counter<'component_id' | 'outcome'>
  private readonly tlsRefused: Counter<'component_id' | 'reason'>
  private readonly thingsStackEvents: Counter<'component_id' | 'event'>
  /** `autoRegister`: registers unknown devices behind its gateway, maxPerHour at most. */
  private readonly registrar: AutoRegistrar | undefined

  constructor(readonly id: string, private readonly config: HttpSourceConfig, private readonly deps: HttpSourceDeps) {
    this.auth = new HttpAuth(deps.authMode, deps.registry, deps.tokens)
    this.limiter = new RateLimiter(config.rateLimit.requestsPerSecond, config.rateLimit.burst)
    this.mapping = {
      deviceTags: config.lineProtocol.deviceTags,
      rename: new Map(Object.entries(config.lineProtocol.rename)),
      lookup: (value) => {
        const device = deps.registry.get(value) ?? this.byChip(sensorCommunityChipId(value))
        return device ? { id: device.id, domain: device.kind === 'device' ? device.domain : null } : undefined
      },
    }
    this.thingsStack = {
      fields: new Map(Object.entries(config.thingsStack.fields)),
      byDevEui: (eui) => {
        const device = this.deps.registry.byMetadata('devEui', eui)
        return device ? { id: device.id, domain: device.kind === 'device' ? device.domain : null } : undefined
      },
    }
    const registry = deps.metrics.registry
    const shared = <T>(name: string, make: () => T): T => sharedMetric(registry, name, make)
    this.requests = shared('gridline_http_requests_total', () => new Counter({ name: 'gridline_http_requests_total', help: 'Requests to an http source, by source, endpoint and status code.', labelNames: ['component_id', 'endpoint', 'code'] as const, registers: [registry] }))
    this.seconds = shared('gridline_http_request_seconds', () => new Histogram({ name: 'gridline_http_request_seconds', help: 'From a request\'s arrival to its answer (after the commit for writes), by source and endpoint.', labelNames: ['component_id', 'endpoint'] as const, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] }))
    this.ignored = shared('gridline_http_ignored_values_total', () => new Counter({ name: 'gridline_http_ignored_values_total', help: 'Values not stored because they are firmware diagnostics (airrohr samples, signal, GPS), by source and field.', labelNames: ['component_id', 'field'] as const, registers: [registry] }))
    this.autoRegistered = shared('gridline_http_auto_registered_total', () => new Counter({ name: 'gridline_http_auto_registered_total', help: 'Unknown devices an http source\'s autoRegister met, by source and outcome: registered, or over_limit (maxPerHour; refused as device_unknown).', labelNames: ['component_id', 'outcome'] as const, registers: [registry] }))
    this.tlsRefused = shared('gridline_http_tls_refused_total', () => new Counter({ name: 'gridline_http_tls_refused_total', help: 'TLS connections to an http source closed before HTTP, by source and reason: tls_handshake (failed handshake), bad_certificate (a client certificate that did not verify: another CA, expired).', labelNames: ['component_id', 'reason'] as const, registers: [registry] }))
    this.thingsStackEvents = shared('gridline_http_things_stack_events_total', () => new Counter({ name: 'gridline_http_things_stack_events_total', help: 'The Things Stack webhook messages that carry no readings (join_accept, downlink_ack, downlink_sent, location_solved, ...), answered 204 and not stored, by source and message type.', labelNames: ['component_id', 'event'] as const, registers: [registry] }))
    this.registrar = config.autoRegister ? new AutoRegistrar(id, config.autoRegister, { registry: deps.registry, counter: this.autoRegistered, logger: deps.logger }) : undefined
    this.server = createServer({
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(config.headersTimeoutMs, config.requestTimeoutMs),
      keepAliveTimeout: config.keepAliveTimeoutMs,
      maxHeaderSize: 16_384,
      connectionsCheckingInterval: 1_000,
    }, (req, res) => this.onRequest(req, res))
    this.server.maxConnections = config.maxConnections
    // A malformed request line or headers: Node answers 400 and closes; nothing reaches the handler.
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      else socket.destroy()
    })
  }

  async start(intake: Intake): Promise<{ port: number }> {
    this.registrar?.check(this.deps.decodeOptions.catalogue)
    this.intake = intake
    const c = this.config
    let port: number
    if (c.tls.certFile !== undefined && c.tls.keyFile !== undefined) {
      this.tls = new TlsListener({
        host: c.host, port: c.port, certFile: c.tls.certFile, keyFile: c.tls.keyFile, caFile: c.tls.caFile, reloadIntervalMs: c.tls.reloadIntervalMs, maxConnections: c.maxConnections,
        label: { protocol: 'HTTP', configPath: `sources.${this.id}.tls` },
      }, {
        onConnection: (socket: TLSSocket) => this.server.emit('connection', socket),
        onRefused: (reason) => this.tlsRefused.inc({ component_id: this.id, reason }),
        onReload: () => undefined,
      }, this.deps.logger)
      port = await this.tls.listen()
    } else {
      port = await new Promise<number>((resolve, reject) => {
        this.server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
          ? new GridlineError('GRIDLINE_PORT_IN_USE', `HTTP source ${this.id}: port ${c.port} on ${c.host} is already in use; set sources.${this.id}.port (0 picks a free one).`, { cause: err })
          : err))
        this.server.listen(c.port, c.host, () => {
          const address = this.server.address()
          resolve(typeof address === 'object' && address ? address.port : c.port)
        })
      })
    }
    this.listening = true
    return { port }
  }

  health(): SourceHealth {
    return { ready: this.listening && !this.draining, detail: { inflightBytes: this.inflightBytes, logins: this.shares.size } }
  }

  /** No new writes (503 with Retry-After, and the connection closed); writes taken in are still committed and answered. */
  stopIntake(): void {
    this.draining = true
    // Writes waiting for room in their login's share are answered 429 now.
    for (const waiters of this.shareWaiters.values()) for (const wake of [...waiters]) wake()
    this.tls?.close()
    if (this.server.listening) this.server.close()
  }

  async close(): Promise<void> {
    this.stopIntake()
    this.listening = false
    this.server.closeAllConnections()
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    res.on('finish', () => {
      const endpoint = endpointOf(req.url)
      this.requests.inc({ component_id: this.id, endpoint, code: String(res.statusCode) })
      this.seconds.observe({ component_id: this.id, endpoint }, (performance.now() - started) / 1000)
    })
    this.handle(req, res).catch((err) => {
      this.deps.logger.error({ err, path: req.url?.slice(0, 200) }, 'An HTTP request failed inside gridline; answered 500.')
      send(res, 500, 'gridline', 'internal error', 'the request failed inside gridline; it was not stored')
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const mark = url.indexOf('?')
    const path = mark < 0 ? url : url.slice(0, mark)
    const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1))
    if (path === '/ping') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'influx_v2', 'method not allowed', 'use GET', { Allow: 'GET, HEAD' })
      res.writeHead(204, { 'X-Influxdb-Version': 'gridline', 'X-Influxdb-Build': 'gridline' }).end()
      return
    }
    if (path === '/health') {
      const ok = !this.draining
      return json(res, ok ? 200 : 503, { name: 'gridline', message: ok ? 'ready for writes' : 'shutting down', status: ok ? 'pass' : 'fail', checks: [], version: 'gridline' })
    }
    const endpoint = endpointAt(path)
    if (!endpoint) return send(res, 404, 'influx_v2', 'not found', `no endpoint ${path.slice(0, 100)}: POST /write, /api/v2/write, /v1/telemetry, /sensor-community or /things-stack; GET /ping, /health`)
    if (req.method !== 'POST') return send(res, 405, endpoint.dialect, 'method not allowed', `${path} takes POST`, { Allow: 'POST' })
    const busy = this.busy()
    if (busy) return this.later(res, endpoint.dialect, busy)

    let precision: 'ns' | 'n' | 'us' | 'u' | 'ms' | 's' = 'ns'
    if (endpoint.dialect.startsWith('influx')) {
      const p = query.get('precision') ?? 'ns'
      if (!isPrecision(p)) return send(res, 400, endpoint.dialect, 'invalid', `precision "${p.slice(0, 20)}" is not one of ns, n, us, u, ms, s`)
      precision = p
    }

    const address = req.socket.remoteAddress ?? ''
    let credentials: Credentials = credentialsOf(req, query, endpoint.dialect === 'influx_v1')
    if (endpoint.name === 'things_stack' && credentials.kind === 'none') credentials = tokenInHeader(req, this.config.thingsStack.header)
    let outcome: AuthOutcome
    if (endpoint.name === 'sensor_community' && credentials.kind === 'none' && !this.config.sensorCommunity.requireAuth) {
      outcome = { ok: true, principal: null, login: `sensor:${req.headers['x-sensor'] ?? address}` }
    } else {
      outcome = await this.auth.login(credentials, address, this.tls ? certificateIdentities(req.socket) : null)
    }
    if (!outcome.ok) {
      if (outcome.status === 429) return send(res, 429, endpoint.dialect, 'too many requests', 'too many failed logins; wait before trying again', { 'Retry-After': String(Math.max(1, Math.ceil((outcome.retryAfterMs ?? 1_000) / 1_000))) })
      const text = endpoint.name === 'things_stack' && outcome.reason === 'missing_credentials'
        ? `no credentials: give the webhook the additional header Authorization: Bearer <token> or ${this.config.thingsStack.header}: <token>, an API token of the gateway its devices are registered behind`
        : UNAUTHORIZED[outcome.reason]
      return send(res, 401, endpoint.dialect, 'unauthorized', text, { 'WWW-Authenticate': 'Basic realm="gridline", charset="UTF-8"' })
    }
    const principal = outcome.principal
    if (principal?.kind === 'integration') return send(res, 403, endpoint.dialect, 'forbidden', `integration "${principal.id}" may read event topics but write no telemetry`)
    if (endpoint.name === 'things_stack' && principal?.kind === 'device') {
      return send(res, 403, endpoint.dialect, 'forbidden', `device "${principal.id}" logged in: a The Things Stack webhook logs in as the gateway its application's devices are registered behind (gridline tokens create --for <gateway>)`)
    }
    const wait = this.limiter.take(outcome.login)
    if (wait > 0) return send(res, 429, endpoint.dialect, 'too many requests', `login "${outcome.login.slice(0, 64)}" is over ${this.config.rateLimit.requestsPerSecond} requests per second`, { 'Retry-After': String(Math.max(this.config.retryAfterSeconds, Math.ceil(wait / 1_000))) })
    if (!(await this.roomFor(outcome.login))) {
      return send(res, 429, endpoint.dialect, 'too many requests', `login "${outcome.login.slice(0, 64)}" has ${this.deps.maxPendingRowsPerLogin} rows waiting for their commit; send again after the answers come`, { 'Retry-After': String(this.config.retryAfterSeconds) })
    }

    let body: Buffer
    try {
      body = await readBody(req, this.config.maxBodyBytes)
    } catch (err) {
      if (!(err instanceof BodyError)) throw err
      return send(res, err.status, endpoint.dialect, err.code, err.message, { Connection: 'close' })
    }
    if (this.config.autoRegister) {
      try {
        await this.registerUnknown(endpoint, body, principal, req)
      } catch (err) {
        this.deps.logger.warn({ err, source: this.id }, 'Registering the unknown devices of a write failed; answered 503.')
        return send(res, 503, endpoint.dialect, 'unavailable', 'the devices this write names could not be registered (autoRegister); not stored, send it again', { 'Retry-After': String(this.config.retryAfterSeconds) })
      }
    }
    // Shutdown or congestion may have begun while the body arrived.
    const busyNow = this.busy()
    if (busyNow) return this.later(res, endpoint.dialect, busyNow)
    this.accept(res, endpoint, body, principal, outcome.login, precision, req)
  }

  /**
   * Whether the login's share of uncommitted rows has room, waiting up to
   * shareWaitMs for its earlier writes to commit: the HTTP form of the
   * broker not reading a connection further. The body stays in the socket.
   */
  private async roomFor(login: string): Promise<boolean> {
    const full = () => (this.shares.get(login) ?? 0) >= this.deps.maxPendingRowsPerLogin
    if (!full()) return true
    const deadline = Date.now() + this.config.shareWaitMs
    while (full()) {
      const left = deadline - Date.now()
      if (left <= 0 || this.draining) return false
      await new Promise<void>((resolve) => {
        const waiters = this.shareWaiters.get(login) ?? new Set()
        this.shareWaiters.set(login, waiters)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(done)
          if (waiters.size === 0 && this.shareWaiters.get(login) === waiters) this.shareWaiters.delete(login)
          resolve()
        }
        const timer = setTimeout(done, left)
        waiters.add(done)
      })
    }
    return true
  }

  /**
   * `autoRegister`: registers the devices a write names that are not
   * registered, behind the configured gateway, before the write is decoded
   * (the decode is synchronous and finds them in the registry). Only for the
   * configured gateway's logins, or any write with `auth: none`.
   */
  private async registerUnknown(endpoint: Endpoint, body: Buffer, principal: Principal | null, req: IncomingMessage): Promise<void> {
    const auto = this.config.autoRegister!
    // A DevEUI names no device id to register: LoRaWAN devices are registered with their devEui metadata.
    if (endpoint.name === 'things_stack') return
    if (principal !== null && !(principal.kind === 'gateway' && principal.id === auto.gateway)) return
    const wanted = new Map<string, Record<string, unknown>>()
    const want = (name: string, chip = sensorCommunityChipId(name)) => {
      if (wanted.has(name) || this.deps.registry.get(name) || this.byChip(chip) || !DEVICE_ID_PATTERN.test(name)) return
      wanted.set(name, chip === null ? {} : { sensorCommunityId: chip })
    }
    if (endpoint.dialect.startsWith('influx')) {
      for (const name of lineProtocolDeviceNames(body, this.config.lineProtocol.deviceTags)) want(name)
    } else if (endpoint.name === 'sensor_community') {
      const header = req.headers['x-sensor']
      const chip = typeof header === 'string' ? sensorCommunityChipId(header) : chipInBody(body)
      if (chip !== null) want(typeof header === 'string' ? header : `esp8266-${chip}`, chip)
    } else if (principal !== null || new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('gateway') === auto.gateway) {
      for (const name of gatewayBatchDevices(body)) want(name, null)
    }
    await this.registrar!.register(wanted)
  }

  /** Why no write is taken now, or null. */
  private busy(): string | null {
    const intake = this.intake
    if (this.draining || !intake) return 'gridline is shutting down'
    if (intake.congested || intake.shedding) return 'gridline is holding writes back until the database catches up'
    if (this.inflightBytes >= this.config.maxInflightBytes) return 'gridline holds as many request bodies as it may (maxInflightBytes)'
    return null
  }

  private later(res: ServerResponse, dialect: Dialect, why: string): void {
    send(res, 503, dialect, 'unavailable', `${why}; not stored, send it again`, { 'Retry-After': String(this.config.retryAfterSeconds), ...(this.draining ? { Connection: 'close' } : {}) })
  }

  /** Decodes and submits in one synchronous turn (the intake's rule), and answers once the envelope settles. */
  private accept(res: ServerResponse, endpoint: Endpoint, body: Buffer, principal: Principal | null, login: string, precision: 'ns' | 'n' | 'us' | 'u' | 'ms' | 's', req: IncomingMessage): void {
    const intake = this.intake!
    const receivedAt = Date.now()
    const { decodeOptions } = this.deps
    let topic: string = endpointPath(endpoint)
    let decoded: DecodedMessage | undefined
    let ignored: Map<string, number> | undefined
    if (endpoint.dialect.startsWith('influx')) {
      ({ decoded, ignored } = decodeLineProtocol(body, precision, principal, receivedAt, decodeOptions, this.mapping))
    } else if (endpoint.name === 'sensor_community') {
      ({ decoded, ignored } = this.sensorCommunity(body, req, principal, receivedAt))
    } else if (endpoint.name === 'things_stack') {
      const result = decodeThingsStack(body, receivedAt, decodeOptions, this.thingsStack, principal?.kind === 'gateway' ? principal.id : null)
      if (result.event !== null && result.event !== 'uplink_message') {
        // Nothing to store or dead-letter: acknowledged at once, counted.
        this.thingsStackEvents.inc({ component_id: this.id, event: result.event })
        res.writeHead(204).end()
        return
      }
      decoded = result.decoded
      topic = (req.url ?? endpointPath(endpoint)).split('?')[0]!.slice(0, 200)
    } else {
      const target = this.telemetryTopic(principal, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''))
      if (typeof target !== 'string') return send(res, 400, 'gridline', 'invalid', target.error)
      topic = target
    }
    if (ignored) for (const [field, n] of ignored) this.ignored.inc({ component_id: this.id, field }, n)
    const envelope = intake.decode({ source: this.id, topic, clientId: null, principal, receivedAt, payload: body }, decoded)
    const share = Math.max(1, envelope.decoded.rows.length)
    this.shares.set(login, (this.shares.get(login) ?? 0) + share)
    this.inflightBytes += body.length
    let settled = false
    envelope.ack = {
      settle: (status: DeliveryStatus = 'delivered', reason?: Error) => {
        if (settled) return
        settled = true
        const left = (this.shares.get(login) ?? share) - share
        if (left > 0) this.shares.set(login, left)
        else this.shares.delete(login)
        // Writes of this login waiting for room look again (each re-checks the share).
        const waiters = this.shareWaiters.get(login)
        if (waiters) for (const wake of [...waiters]) wake()
        this.inflightBytes -= body.length
        answer(res, endpoint.dialect, status, envelope.decoded, reason, this.config.retryAfterSeconds)
      },
    }
    intake.submit(envelope)
  }

  /** Where gridline JSON over HTTP would have been published over MQTT. */
  private telemetryTopic(principal: Principal | null, query: URLSearchParams): string | { error: string } {
    if (principal?.kind === 'device') return deviceTopic(principal.domain, principal.id)
    if (principal?.kind === 'gateway') return gatewayTopic(principal.id)
    // auth: none: the query names who it is for.
    const gateway = query.get('gateway')
    if (gateway) return gatewayTopic(gateway)
    const id = query.get('device')
    const device = id ? this.deps.registry.get(id) : undefined
    if (id && device?.domain) return deviceTopic(device.domain, id)
    return { error: 'with auth: none, say whose data this is: ?device=<registered id> or ?gateway=<id>' }
  }

  /** Finds the device of an airrohr POST by its chip id and decodes the body, or refuses it whole with the reason. */
  private sensorCommunity(body: Buffer, req: IncomingMessage, principal: Principal | null, receivedAt: number): { decoded: DecodedMessage; ignored?: Map<string, number> } {
    const options = this.deps.decodeOptions
    const refuse = (reason: 'device_unknown' | 'device_not_authorized' | 'device_not_behind_gateway' | 'device_invalid', detail: string, deviceId: string | null) =>
      ({ decoded: refuseMessage(emptyDecoded(), options, body, reason, detail, deviceId) })
    const header = req.headers['x-sensor']
    const chip = typeof header === 'string' ? sensorCommunityChipId(header) : chipInBody(body)
    let device: DeviceRecord | undefined
    if (principal?.kind === 'device') {
      device = this.deps.registry.get(principal.id)
      const own = device?.metadata.sensorCommunityId
      if (chip !== null && own !== undefined && String(own) !== chip) return refuse('device_not_authorized', `device "${principal.id}" has sensorCommunityId ${String(own)}, the POST is from chip ${chip}`, principal.id)
    } else {
      if (chip === null) return refuse('device_invalid', 'no chip id: send the X-Sensor header (esp8266-<chipid>) or esp8266id in the body', null)
      device = this.byChip(chip)
      if (!device) return refuse('device_unknown', `no registered device has sensorCommunityId ${chip} (gridline devices set-metadata <id> '{"sensorCommunityId": "${chip}"}')`, null)
      if (principal?.kind === 'gateway' && device.gateway !== principal.id) return refuse('device_not_behind_gateway', `device "${device.id}" (chip ${chip}) is not registered behind gateway "${principal.id}"`, device.id)
    }
    if (!device || device.kind !== 'device' || !device.domain) return refuse('device_unknown', 'the login is no registered device', principal?.id ?? null)
    return decodeSensorCommunity(body, device.id, device.domain, receivedAt, options)
  }

  /** The device whose metadata `sensorCommunityId` is this chip id. */
  private byChip(chip: string | null): DeviceRecord | undefined {
    return chip === null ? undefined : this.deps.registry.byMetadata('sensorCommunityId', chip)
  }
}

function chipInBody(body: Buffer): string | null {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { esp8266id?: unknown }
    const id = parsed?.esp8266id
    return (typeof id === 'string' && /^[0-9A-Za-z]{1,32}$/.test(id)) || typeof id === 'number' ? String(id) : null
  } catch {
    return null
  }
}

/** The `device` of each reading in a gateway batch body (`{"readings": [...]}`), or none when it is no such body. */
function gatewayBatchDevices(body: Buffer): string[] {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { readings?: unknown }
    if (!Array.isArray(parsed?.readings)) return []
    return parsed.readings.flatMap((r: unknown) => {
      const device = (r as { device?: unknown } | null)?.device
      return typeof device === 'string' ? [device] : []
    })
  } catch {
    return []
  }
}

/** The text of a 401, by why the login failed: specific where it tells a device's owner what to fix, vague where it would help a guesser. */
const UNAUTHORIZED: Record<(AuthOutcome & { ok: false })['reason'], string> = {
  missing_credentials: 'no credentials: send Authorization: Token <token>, Basic with the device\'s id and password, or a client certificate',
  bad_credentials: 'unauthorized access',
  throttled: 'too many failed logins; wait before trying again',
  certificate_mismatch: 'the client certificate does not name the device logging in',
  certificate_unregistered: 'the client certificate names no device registered for certificate login (gridline devices add <id> --auth cert)',
  password_not_allowed: 'this device logs in with its client certificate only: send no password',
}

const endpointPath = (endpoint: Endpoint): string => Object.entries(ENDPOINTS).find(([, e]) => e === endpoint)![0]

function endpointOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0]!
  if (path === '/ping' || path === '/health') return path.slice(1)
  return endpointAt(path)?.name ?? 'other'
}

/**
 * The answer to a write once it settled. InfluxDB clients (Telegraf, the
 * official client libraries) drop a batch answered 400 and send it again on
 * 429 and 503, so 400 is only for what is refused for good (it is kept as a
 * dead letter, and the rest of the body is stored: InfluxDB's partial write).
 */
function answer(res: ServerResponse, dialect: Dialect, status: DeliveryStatus, decoded: DecodedMessage, reason: Error | undefined, retryAfterSeconds: number): void {
  if (status === 'errored') {
    return send(res, 503, dialect, 'unavailable', `not stored (${(reason?.message ?? 'the write did not commit').slice(0, 200)}); send it again`, { 'Retry-After': String(retryAfterSeconds) })
  }
  const refused = rejectionCount(decoded)
  if (status !== 'rejected' && refused === 0) {
    res.writeHead(204).end()
    return
  }
  const rows = decoded.rows.length
  const details = decoded.rejections.map((r) => ({ reason: r.reason, detail: r.detail, ...(r.deviceId ? { device: r.deviceId } : {}) }))
  const omitted = decoded.omitted ? Object.fromEntries(decoded.omitted) : undefined
  const byStore = refused === 0 ? 'some rows were refused by the store (the same device, metric and time already stored with another value, or a database refusal); gridline rejected lists them' : undefined
  // The Things Stack retries any answer but 2xx: what is refused for good is dead-lettered and answered 200.
  if (dialect === 'things_stack') {
    return json(res, 200, { stored: rows, readings: decoded.readings, refused, rejected: details, ...(omitted ? { omitted } : {}), ...(byStore ? { note: byStore } : {}) })
  }
  if (dialect === 'gridline') {
    return json(res, rows > 0 ? 200 : 400, { stored: rows, readings: decoded.readings, refused, rejected: details, ...(omitted ? { omitted } : {}), ...(byStore ? { note: byStore } : {}) })
  }
  const first = decoded.rejections[0]
  const summary = byStore ?? `${first ? first.detail : ''}${refused > 1 ? ` (and ${refused - 1} more refusals; gridline rejected lists them)` : ''}`
  const message = rows > 0 ? `partial write: ${summary} dropped=${refused}` : summary
  const line = first ? /^line (\d+)/.exec(first.detail)?.[1] : undefined
  if (dialect === 'influx_v1') return json(res, 400, { error: message })
  return json(res, 400, { code: 'invalid', message, ...(line ? { line: Number(line) } : {}) })
}

/** An error answer in the endpoint's dialect: InfluxDB 1.x `{"error"}`, 2.x `{"code", "message"}`, gridline and The Things Stack `{"code", "message"}`. */
function send(res: ServerResponse, status: number, dialect: Dialect, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  json(res, status, dialect === 'influx_v1' ? { error: message } : { code, message })
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'X-Content-Type-Options': 'nosniff' }).end(text)
}

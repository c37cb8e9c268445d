import { GridlineError, type Logger, type Publisher, type Source, type SourceHealth, redactUrl } from '@gridline/core'
import { servicePoolConfig } from './storage/pool.ts'
import { webRoot } from '@gridline/dashboards'
import { type DecodeOptions, MetricLimit, ServerClock } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import pg from 'pg'
import { type IngestConfig, brokerConfig, primarySinkConfig } from './config.ts'
import { LiveDeviceDirectory } from './devices/directory.ts'
import { buildHttpServer } from './http.ts'
import { CommandService } from './commands/command-service.ts'
import { NODE_RED_PATH, OperatorConsole, mapOrigins } from './console/index.ts'
import { type IngestMetrics, createIngestMetrics } from './metrics.ts'
import { IngestPipeline } from './pipeline/ingest-pipeline.ts'
import { RuntimeIntake } from './pipeline/intake.ts'
import { repliesRoute } from './routes/replies.ts'
import { statusRoute } from './routes/status.ts'
import { SparkplugService } from './sparkplug/sparkplug-service.ts'
import { TimescaleSink } from './sinks/timescale/timescale-sink.ts'
import { ProcessorHost } from './processing/processor-host.ts'
import { registerProcessorMetrics } from './processing/processor-metrics.ts'
import { RejectionNotices } from './processing/rejection-notices.ts'
import { MqttBroker } from './sources/mqtt_broker/mqtt-broker.ts'
import { MqttSource } from './sources/mqtt_broker/mqtt-source.ts'
import { HttpSource } from './sources/http/http-source.ts'
import { MqttClientSource } from './sources/mqtt_client/mqtt-client-source.ts'
import { TokenStore, TokenVerifier } from './devices/tokens.ts'
import { DiskBufferedSink } from './pipeline/disk-buffered-sink.ts'
import { InfluxDbSink } from './sinks/influxdb/influxdb-sink.ts'
import { NotificationService } from './notifications/notification-service.ts'
import { join } from 'node:path'
import { migrate } from './migrations.ts'
import { InstanceLock } from './storage/instance-lock.ts'
import { type StorageEngine, maintainStorage } from './storage/schema.ts'
import { pgSqlClient } from './storage/sql-client.ts'
import { DatastreamTracker } from './sta/datastreams.ts'
import { registerStaRoutes } from './sta/routes.ts'

export interface IngestService {
  readonly config: IngestConfig
  readonly metrics: IngestMetrics
  /** The stream processors: the live stream hub (`processing.hub`), the alarm engine, rollups, indicators. */
  readonly processing: ProcessorHost
  /** Device commands: send, results, history (docs/protocol.md#device-commands). */
  readonly commands: CommandService
  /** The operator console (users, sessions, overview, live stream); undefined when `console.enabled` is false. */
  readonly console: OperatorConsole | undefined
  /** Alarm events to webhooks and email (docs/notifications.md); undefined without an enabled endpoint. */
  readonly notifications: NotificationService | undefined
  /** Listens on MQTT (plain and/or TLS), each further source and HTTP after migrating the database; resolves with the bound ports (null: that listener is off), `sources` by source id. */
  start(): Promise<{ mqttPort: number | null; mqttTlsPort: number | null; httpPort: number; engine: StorageEngine; sources: Record<string, Record<string, number | null>> }>
  /**
   * Graceful stop: no new connections or messages, everything taken in is
   * committed and acknowledged, then clients are disconnected. Messages not
   * committed within `ingest.shutdownTimeoutMs` are left unacknowledged.
   */
  stop(): Promise<void>
  /** Totals for the terminal status line. */
  snapshot(): Promise<IngestSnapshot>
  /** A source's health by its id (connections, upstream errors), as /readyz summarises it; undefined for no such source. */
  sourceHealth(id: string): SourceHealth | undefined
}

export interface IngestSnapshot {
  readingsReceived: number
  readingsStored: number
  rejected: number
  connectedClients: number
  pendingRows: number
}

/**
 * Builds the ingest service from its config, un-started. The composition
 * root: every part is made here and nowhere else.
 */
export function buildIngestService(config: IngestConfig, logger: Logger): IngestService {
  const databaseUrl = config.database.url
  if (!databaseUrl) throw new Error('database.url (DATABASE_URL) is required')
  const metrics = createIngestMetrics()
  const pool = new pg.Pool(servicePoolConfig(config, databaseUrl))
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn({ err }, 'An idle database connection failed.'))

  // The registry is loaded with any auth mode: the processors read device metadata from it.
  const registry = new LiveDeviceDirectory(pool, databaseUrl, logger.child({ component: 'devices' }))
  const directory = config.auth.mode === 'devices' ? registry : null
  const decodeOptions: DecodeOptions = {
    catalogue: defaultCatalogue(),
    maxFutureSkewMs: config.ingest.maxFutureSkewMs,
    minTimestampMs: Date.parse(config.ingest.minTimestamp),
    rejectedPayloadMaxBytes: config.ingest.rejectedPayloadMaxBytes,
    unknownMetrics: config.catalogue.unknownMetrics,
    metricLimit: new MetricLimit(config.catalogue.maxUnknownMetricsPerDevice),
    serverClock: new ServerClock(),
    ...(directory ? { directory } : {}),
  }
  // Single-reading minutes are computed from telemetry when read: kept in telemetry_1m only when retention drops telemetry.
  const rollups = { ...config.processors.rollups, storeSingleReadingMinutes: config.processors.rollups.storeSingleReadingMinutes ?? config.storage.retentionDays > 0 }
  const processing = new ProcessorHost({ ...config.processors, rollups }, { pool, directory: registry, logger: logger.child({ component: 'processors' }) })
  registerProcessorMetrics(metrics.registry, processing)
  const sinkConfig = primarySinkConfig(config)
  const sink = new TimescaleSink(pool, logger.child({ component: 'sink', sink: sinkConfig.id }), { rejectedPayloadMaxBytes: config.ingest.rejectedPayloadMaxBytes, dedupeHoldMs: sinkConfig.dedupeHoldMs }, sinkConfig.id)
  const pipeline = new IngestPipeline(sink, config.ingest, metrics, logger.child({ component: 'pipeline' }))
  pipeline.onCommitted((batch) => processing.onCommitted(batch))
  processing.onCongestion((held) => pipeline.hold('processors', held))
  // Secondary sinks: what was committed, behind a disk buffer each; never holding an acknowledgement.
  const buffered: DiskBufferedSink[] = []
  const secondaries = Object.entries(config.sinks).flatMap(([id, s]) => (s.type === 'influxdb' ? [{ id, config: s }] : []))
  pipeline.onCommitted((batch) => { for (const b of buffered) b.offer(batch) })

  // The embedded broker: the mqtt_broker source's transport, and the service's way out to devices.
  const mqtt = brokerConfig(config)!
  const broker = new MqttBroker({
    host: mqtt.host,
    port: mqtt.port,
    maxConnections: mqtt.maxConnections,
    connectTimeoutMs: mqtt.connectTimeoutMs,
    maxConnectBytes: mqtt.maxConnectBytes,
    maxPendingConnectionsPerAddress: mqtt.maxPendingConnectionsPerAddress,
    auth: config.auth.mode,
    tls: mqtt.tls.certFile !== undefined && mqtt.tls.keyFile !== undefined
      ? { port: mqtt.tls.port, certFile: mqtt.tls.certFile, keyFile: mqtt.tls.keyFile, caFile: mqtt.tls.caFile, reloadIntervalMs: mqtt.tls.reloadIntervalMs }
      : undefined,
  }, { directory, metrics, logger: logger.child({ component: 'mqtt', source: mqtt.id }) })
  const publisher: Publisher = broker

  // After the processors: refusals are told to their senders once committed.
  const notices = new RejectionNotices({
    publish: (topic, payload) => publisher.publish(topic, payload),
    logger: logger.child({ component: 'rejections' }),
    registry: metrics.registry,
  })
  pipeline.onCommitted((batch) => notices.onCommitted(batch))
  // SensorThings API (docs/sensorthings.md): its Datastreams kept from what is committed, never from a telemetry scan.
  const staTracker = config.sta.enabled ? new DatastreamTracker(pool, config.sta.datastreamFlushMs, logger.child({ component: 'sta' })) : undefined
  if (staTracker) pipeline.onCommitted((batch) => staTracker.onCommitted(batch))
  const commands = new CommandService({
    pool,
    publish: (topic, payload) => publisher.publish(topic, payload),
    lookup: (deviceId) => {
      const device = registry.get(deviceId)
      return device ? { domain: device.domain ?? '', kind: device.kind } : undefined
    },
    logger: logger.child({ component: 'commands' }),
    timeoutMs: config.commands.timeoutMs,
    registry: metrics.registry,
  })
  processing.publishAlarmsTo((topic, payload, retain) => publisher.publish(topic, payload, { retain }))
  // Confirmed lamp commands set the switch state the lighting indicators judge a lamp by.
  commands.onChange((record) => processing.onCommand(record))

  // The intake every source hands its messages to; the routes for what is not telemetry.
  const intake = new RuntimeIntake(pipeline, { decodeOptions, processing, metrics, logger: logger.child({ component: 'intake' }), shedAtPendingRows: config.ingest.shedAtPendingRows })
  intake.route(statusRoute(decodeOptions, metrics))
  intake.route(repliesRoute(commands, decodeOptions.rejectedPayloadMaxBytes))
  const sparkplug = config.sparkplug.enabled
    ? new SparkplugService(mqtt.id, config.sparkplug, { registry, metrics, logger: logger.child({ component: 'sparkplug', source: mqtt.id }) }, decodeOptions, (topic, payload, options) => publisher.publish(topic, payload, options))
    : undefined
  if (sparkplug) {
    intake.route(sparkplug.route())
    commands.addTransport(sparkplug.commandTransport(commands))
  }
  const source = new MqttSource(broker, { id: mqtt.id, maxPendingRowsPerConnection: config.ingest.maxPendingRowsPerConnection }, metrics)
  const sources: Source[] = [source]
  const tokens = new TokenVerifier(new TokenStore(pgSqlClient(pool)))
  for (const [id, sourceConfig] of Object.entries(config.sources)) {
    if (sourceConfig.type === 'mqtt_client') {
      sources.push(new MqttClientSource(id, sourceConfig, {
        decodeOptions,
        registry,
        metrics,
        logger: logger.child({ component: 'mqtt-client-source', source: id }),
        maxPendingRowsPerConnection: config.ingest.maxPendingRowsPerConnection,
        commands,
      }))
      continue
    }
    if (sourceConfig.type !== 'http') continue
    sources.push(new HttpSource(id, sourceConfig, {
      decodeOptions,
      registry,
      tokens,
      authMode: config.auth.mode,
      metrics,
      logger: logger.child({ component: 'http-source', source: id }),
      maxPendingRowsPerLogin: config.ingest.maxPendingRowsPerConnection,
    }))
  }
  for (const s of sources) metrics.components.source(s.id, s.type)
  // Alarm events to webhooks and email, queued in the database (docs/notifications.md).
  const notifier = new NotificationService(config.notifications, {
    pool,
    logger: logger.child({ component: 'notifications' }),
    registry: metrics.registry,
    deviceDistrict: (deviceId) => {
      const district = registry.get(deviceId)?.metadata?.district
      return typeof district === 'string' ? district : undefined
    },
  })
  const notifications = notifier.active ? notifier : undefined
  if (notifications) processing.alarms?.events.subscribe((event) => notifications.offer(event))
  const operatorConsole = config.console.enabled
    ? new OperatorConsole(config.console, {
      pool,
      hub: processing.hub,
      devices: registry,
      alarms: () => processing.alarms ?? undefined,
      commands,
      webRoot,
      registry: metrics.registry,
      logger: logger.child({ component: 'console' }),
      notifications,
      traffic: config.processors.indicators.traffic,
    })
    : undefined
  const http = buildHttpServer(metrics, {
    async ready() {
      const database = await sink.healthcheck()
      const health = sources.map((s) => ({ id: s.id, ...s.health() }))
      const listening = health.every((h) => h.ready || h.gating === false)
      return { ready: database && listening, checks: { database, broker: listening, sources: Object.fromEntries(health.map((h) => [h.id, h.ready])) } }
    },
  }, (app) => {
    operatorConsole?.register(app)
    if (config.sta.enabled) registerStaRoutes(app, config.sta, { pool, logger: logger.child({ component: 'sta' }), registry: metrics.registry })
  }, {
    requestTimeoutMs: config.http.requestTimeoutMs,
    headersTimeoutMs: config.http.headersTimeoutMs,
    idleTimeoutMs: config.http.idleTimeoutMs,
    editorPaths: config.console.enabled && config.console.nodeRed.enabled ? [NODE_RED_PATH] : [],
    mapOrigins: config.console.enabled ? mapOrigins(config.console.map) : [],
  })
  let maintenance: NodeJS.Timeout | undefined
  let lock: InstanceLock | undefined
  let sequenceGauges: NodeJS.Timeout | undefined

  return {
    config,
    metrics,
    processing,
    console: operatorConsole,
    notifications,
    commands,

    sourceHealth(id) {
      return sources.find((s) => s.id === id)?.health()
    },

    async start() {
      try {
        logger.info({ database: redactUrl(databaseUrl) }, 'Migrating the database.')
        const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 })
        try {
          await client.connect()
        } catch (err) {
          throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', `Cannot reach the database at ${redactUrl(databaseUrl)}: ${(err as Error).message}`, { cause: err })
        }
        let engine: StorageEngine
        try {
          const report = await migrate(pgSqlClient(client), config.storage)
          engine = report.engine
          if (report.applied.length > 0) logger.info({ applied: report.applied, engine }, 'Applied migrations.')
          for (const note of report.notes) logger.warn(note)
        } finally {
          await client.end()
        }
        // One ingest process per database (docs/adr/0001): refused, or warned of, before anything listens.
        lock = await InstanceLock.acquire(databaseUrl, config.processors.onSecondInstance, logger.child({ component: 'instance-lock' }))
        const maintain = () => maintainStorage(pgSqlClient(pool), engine, config.storage)
          .then((r) => { if (r.created.length + r.dropped.length + r.rejectedDeleted > 0) logger.info(r, 'Maintained storage.') })
          .catch((err) => logger.error({ err }, 'Storage maintenance failed; it runs again at the next interval.'))
        await maintain()
        maintenance = setInterval(maintain, config.storage.maintenanceIntervalMs)
        maintenance.unref()
        await registry.start()
        for (const { id, config: c } of secondaries) {
          const influx = new InfluxDbSink(id, c, (deviceId) => registry.get(deviceId)?.domain ?? undefined)
          registry.onAnyChange(() => influx.forgetDomains())
          buffered.push(await DiskBufferedSink.open(influx, {
            dir: c.buffer.dir ?? join(config.console.dataDir, 'sinks', id),
            maxBytes: c.buffer.maxBytes,
            segmentBytes: c.buffer.segmentBytes,
            maxBatchRows: c.maxBatchRows,
            retryMinMs: c.retryMinMs,
            retryMaxMs: c.retryMaxMs,
          }, metrics, logger.child({ component: 'sink', sink: id })))
        }
        notifications?.start()
        await processing.start()
        await commands.start()
        await operatorConsole?.start()
        if (staTracker) {
          await staTracker.start()
          processing.hub.subscribe({ name: 'sta:datastreams', kinds: ['indicator'] }, (event) => { if (event.kind === 'indicator') staTracker.onIndicator(event) })
        }
        const { port: mqttPort = null, tlsPort: mqttTlsPort = null } = await source.start(intake)
        const sourcePorts: Record<string, Record<string, number | null>> = { [source.id]: { port: mqttPort, tlsPort: mqttTlsPort } }
        sparkplug?.announce(true)
        for (const s of sources) if (s !== source) sourcePorts[s.id] = await s.start(intake)
        notices.start()
        try {
          await http.listen({ port: config.http.port, host: config.http.host })
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
          throw new GridlineError('GRIDLINE_PORT_IN_USE', `HTTP port ${config.http.port} on ${config.http.host} is already in use; set HTTP_PORT or http.port.`, { cause: err })
        }
        const address = http.server.address()
        const httpPort = typeof address === 'object' && address ? address.port : config.http.port
        await operatorConsole?.listening(http.server)
        const sequences = processing.sequences
        if (sequences) {
          sequenceGauges = setInterval(() => {
            metrics.seqMissing.set(sequences.missing)
            metrics.seqRegressions.set(sequences.regressions)
          }, 1_000)
          sequenceGauges.unref()
        }
        logger.info({ mqttPort, mqttTlsPort, clientCertificates: mqttTlsPort !== null && mqtt.tls.caFile !== undefined, httpPort, sources: sourcePorts, engine, auth: config.auth.mode, devices: registry.size }, 'Ingest service is listening.')
        return { mqttPort, mqttTlsPort, httpPort, engine, sources: sourcePorts }
      } catch (err) {
        // A start that failed half-way must not keep other processes off the database.
        for (const b of buffered.splice(0)) await b.close(0).catch(() => undefined)
        await notifications?.stop()
        await lock?.release()
        throw err
      }
    },

    async stop() {
      logger.info({ pendingRows: pipeline.pendingRows }, 'Stopping: no new messages; committing what was taken in.')
      sparkplug?.announce(false)
      for (const s of sources) s.stopIntake()
      // Pending commands become timeout ("service stopped") while the console still hears of it.
      await commands.stop()
      clearInterval(maintenance)
      clearInterval(sequenceGauges)
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        pipeline.drain().then(() => false),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), config.ingest.shutdownTimeoutMs) }),
      ])
      clearTimeout(timer)
      if (timedOut) {
        logger.error({ pendingRows: pipeline.pendingRows }, 'Shutdown timed out; uncommitted messages are not acknowledged and will be resent by their clients.')
        pipeline.abandon(new Error('shutdown timed out before commit'))
      }
      notices.stop()
      await operatorConsole?.stop()
      await staTracker?.stop()
      for (const s of sources) await s.close()
      // What a secondary sink has not written yet stays in its buffer for the next start.
      for (const b of buffered.splice(0)) await b.close(2_000)
      await sink.close()
      await processing.stop()
      await notifications?.stop()
      await http.close()
      await registry.stop()
      await pool.end()
      await lock?.release()
      logger.info('Stopped.')
    },

    async snapshot() {
      const total = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((n, v) => n + v.value, 0)
      return {
        readingsReceived: await total(metrics.readingsReceived),
        readingsStored: await total(metrics.readingsStored),
        rejected: await total(metrics.rejected),
        connectedClients: broker.connectedClients,
        pendingRows: pipeline.pendingRows,
      }
    },
  }
}

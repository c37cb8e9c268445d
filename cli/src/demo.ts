import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { GridlineError, createLogger } from '@gridline/core'
import { CITY_FLEET_SHARES, type FleetCounts, Simulator, planFleet, withCityMetadata, DEVICE_KINDS } from '@gridline/firmware-sim'
import { DeviceStore, HttpSourceSchema, type IngestService, brokerConfig, type Role, UserStore, buildIngestService, generatePassword, loadIngestConfig, pgSqlClient } from '@gridline/ingest'
import pg from 'pg'
import { type EmbeddedDatabase, startEmbeddedPostgres } from './embedded-db.ts'
import { untilSignal } from './signals.ts'


/** The demo's files (embedded PostgreSQL, Node-RED flows), apart from `gridline ingest`'s default `data/`. */
export const DEMO_DATA_DIR = 'data/demo'

/** Console logins the demo creates, with fresh passwords printed at each start. */
const DEMO_USERS: readonly { name: string; role: Role }[] = [{ name: 'admin', role: 'admin' }, { name: 'operator', role: 'operator' }, { name: 'viewer', role: 'viewer' }]

/** A few rules so the demo shows alarms; a config file's own `processors.alarms` replaces them. */
const DEMO_ALARM_RULES = [
  { id: 'pm25-unhealthy', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 55.4, clearBelow: 35.4, forSeconds: 60, severity: 'major' },
  { id: 'low-pressure', type: 'threshold', metric: 'pressure', domains: ['water'], raiseBelow: 1.5, clearAbove: 2, forSeconds: 30, severity: 'critical' },
  { id: 'device-offline', type: 'stale', domains: ['traffic', 'water', 'lighting', 'environment', 'flood'], expectedIntervalSeconds: 10, missedIntervals: 3, severity: 'minor' },
]

/**
 * `npm start`: the whole main job on embedded defaults. An embedded
 * PostgreSQL under data/demo/ (unless DATABASE_URL is set), the ingest service
 * with its broker and operator console, and a simulated Da Nang fleet
 * (traffic, water, street lights, air quality, flood gauges) provisioned with
 * its own credentials and places, with a live status line. Ctrl-C stops it all cleanly.
 */
export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      devices: { type: 'string', default: '60' },
      'interval-ms': { type: 'string', default: '1000' },
      // Its own folder, not the service's default `data/`: a `gridline ingest` run from
      // the same checkout against another database must not find the demo's flows.
      'data-dir': { type: 'string', default: DEMO_DATA_DIR },
    },
    strict: true,
  })
  const deviceCount = Number(values.devices)
  const intervalMs = Number(values['interval-ms'])
  if (!Number.isInteger(deviceCount) || deviceCount < 1) throw new GridlineError('GRIDLINE_USAGE', '--devices must be a positive whole number.')
  if (!Number.isFinite(intervalMs) || intervalMs < 10) throw new GridlineError('GRIDLINE_USAGE', '--interval-ms must be at least 10.')

  const say = (line: string) => process.stdout.write(`${line}\n`)
  // Logs go to stderr, at warn unless the config or LOG_LEVEL says otherwise, so the status line stays readable.
  const config = loadIngestConfig(values.config ?? process.env.GRIDLINE_CONFIG, process.env, { log: { level: 'warn' }, console: { dataDir: values['data-dir'] }, processors: { alarms: { rules: DEMO_ALARM_RULES } } })
  // The HTTP source (line protocol, Sensor.Community) on a free port, unless the config has one.
  if (!Object.values(config.sources).some((s) => s.type === 'http')) config.sources.http = HttpSourceSchema.parse({ type: 'http', port: 0 })
  const logger = createLogger({ level: config.log.level, destination: 2 })

  let embedded: EmbeddedDatabase | undefined
  if (!config.database.url) {
    say(`Starting the embedded PostgreSQL (data in ${values['data-dir']}/pg) ...`)
    embedded = await startEmbeddedPostgres(`${values['data-dir']}/pg`)
    config.database.url = embedded.url
  }

  let service: StartedService | undefined
  let fleet: Simulator | undefined
  const stopAll = async () => {
    process.stdout.write('\n')
    say('Stopping: fleet, then the ingest service (committing what it took in), then PostgreSQL ...')
    await fleet?.stop()
    await service?.stop()
    await embedded?.stop()
    say('Stopped cleanly.')
  }

  try {
    service = await startWithFallbackPorts(config, logger)
    const { mqttPort, mqttTlsPort, httpPort, engine, sources } = service.ports!
    // The simulated fleet connects in plain MQTT (mqtt.tls is for real devices).
    if (mqttPort === null) throw new GridlineError('GRIDLINE_USAGE', 'The demo\'s simulated fleet needs the plain MQTT listener; mqtt.port must not be false.')
    say(`Ingest service: MQTT on port ${mqttPort}${mqttTlsPort !== null ? `, MQTT over TLS on ${mqttTlsPort}` : ''}, HTTP on http://127.0.0.1:${httpPort} (/healthz /readyz /metrics), storage: ${engine}.`)
    for (const [id, source] of Object.entries(config.sources)) {
      if (source.type === 'http') say(`HTTP ingest (${id}): http://127.0.0.1:${sources[id]?.port} (POST /write, /api/v2/write, /sensor-community, /v1/telemetry; docs/http-ingest.md).`)
    }

    const counts = Object.fromEntries(Object.entries(CITY_FLEET_SHARES).map(([group, share]) => [group, Math.max(1, Math.round(deviceCount * share))])) as FleetCounts
    const specs = withCityMetadata(planFleet(counts, 'demo')).map((spec) => ({ ...spec, password: randomBytes(18).toString('base64url') }))
    const logins = DEMO_USERS.map((u) => ({ ...u, password: generatePassword() }))
    const pool = new pg.Pool({ connectionString: config.database.url, max: 2 })
    try {
      await new DeviceStore(pgSqlClient(pool)).addMany(specs.map((d) => ({ id: d.id, domain: DEVICE_KINDS[d.kind!].domain, password: d.password, metadata: d.metadata })), { replaceCredentials: true })
      const users = new UserStore(pgSqlClient(pool))
      for (const login of logins) await users.add(login, { replace: true })
    } finally {
      await pool.end()
    }
    say(`Provisioned ${specs.length} simulated Da Nang devices with their own passwords; one reading each every ${intervalMs} ms.`)
    say(`Operator console: http://127.0.0.1:${httpPort}/  (Node-RED: /flows, as admin). Logins for this run:`)
    for (const login of logins) say(`  ${login.role.padEnd(9)} ${login.name} / ${login.password}`)
    // The directory learns of new devices by LISTEN/NOTIFY; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300))
    fleet = new Simulator({ url: `mqtt://127.0.0.1:${mqttPort}`, devices: specs, intervalMs })
    await fleet.start()
    say('Fleet connected. Press Ctrl-C to stop.')
  } catch (err) {
    await stopAll().catch(() => undefined)
    throw err
  }

  const status = startStatusLine(service, fleet)
  return await untilSignal(async () => {
    clearInterval(status)
    await stopAll()
  })
}

type StartedService = IngestService & { ports?: Awaited<ReturnType<IngestService['start']>> }

/**
 * The demo must run on a machine where something already holds 1883 or 8080
 * (a Mosquitto, say): when the port was not chosen explicitly, fall back to a free one.
 */
async function startWithFallbackPorts(config: ReturnType<typeof loadIngestConfig>, logger: ReturnType<typeof createLogger>): Promise<StartedService> {
  for (let attempt = 0; ; attempt++) {
    const service: StartedService = buildIngestService(config, logger)
    try {
      service.ports = await service.start()
      return service
    } catch (err) {
      await service.stop().catch(() => undefined)
      const busy = err instanceof GridlineError && err.code === 'GRIDLINE_PORT_IN_USE'
      if (!busy || attempt > 1) throw err
      const broker = config.sources[brokerConfig(config)?.id ?? '']
      if (/MQTT/.test(err.message) && !process.env.MQTT_PORT && broker?.type === 'mqtt_broker') {
        process.stdout.write(`MQTT port ${broker.port} is taken on this machine; using a free port instead (set MQTT_PORT to choose).\n`)
        broker.port = 0
      } else if (/HTTP/.test(err.message) && !process.env.HTTP_PORT) {
        process.stdout.write(`HTTP port ${config.http.port} is taken on this machine; using a free port instead (set HTTP_PORT to choose).\n`)
        config.http.port = 0
      } else {
        throw err
      }
    }
  }
}

/** One line, rewritten in place each second on a terminal, printed every 5 s otherwise. */
function startStatusLine(service: IngestService, fleet: Simulator): NodeJS.Timeout {
  let last = { received: 0, stored: 0, rejected: 0, at: Date.now() }
  let ticks = 0
  const tty = process.stdout.isTTY
  return setInterval(async () => {
    const s = await service.snapshot()
    const now = Date.now()
    const seconds = (now - last.at) / 1000
    const rate = (now: number, before: number) => ((now - before) / seconds).toFixed(0)
    const line = `readings/s received ${rate(s.readingsReceived, last.received)}  stored ${rate(s.readingsStored, last.stored)}  ` +
      `rejected ${rate(s.rejected, last.rejected)}  |  stored in all ${s.readingsStored}, rejected ${s.rejected}  |  ` +
      `devices connected ${s.connectedClients} (fleet ${fleet.connected})  pending rows ${s.pendingRows}  |  alarms active ${service.processing.alarms?.stats().active ?? 0}`
    last = { received: s.readingsReceived, stored: s.readingsStored, rejected: s.rejected, at: now }
    ticks++
    if (tty) process.stdout.write(`\r\x1b[2K${line}`)
    else if (ticks % 5 === 0) process.stdout.write(`${line}\n`)
  }, 1_000)
}

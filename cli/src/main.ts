import { type ParseArgsConfig, parseArgs } from 'node:util'
import { GridlineError, createLogger } from '@gridline/core'
import { DEVICE_AUTHS, DEVICE_KINDS, type DeviceAuth, type DeviceKind, DeviceStore, type IngestConfig, REJECTED_MAX_LIMIT, ROLES, type Role, TokenStore, UserStore, buildIngestService, generatePassword, loadIngestConfig, makeDevCa, makeDevDeviceCert, makeDevServerCert, migrate, parseSince, passwordWeakness, pgSqlClient, queryRejected } from '@gridline/ingest'
import pg from 'pg'
import { runDemo } from './demo.ts'
import { untilSignal } from './signals.ts'

const USAGE = `gridline: IoT telemetry ingestion for smart-city operations.

Usage: gridline <command> [options]

Commands:
  demo [--devices N] [--interval-ms MS] [--data-dir DIR] [--config FILE]
                                The whole main job on embedded defaults (npm start): embedded
                                PostgreSQL, the ingest service and a simulated fleet; its files
                                in --data-dir (data/demo).
  ingest [--config FILE]        Run the ingest service (needs DATABASE_URL or database.url).
  migrate [--config FILE]       Create or update the database schema, then exit.
  devices add ID --domain D [--gateway G] [--kind device|gateway|integration] [--auth password|cert|both]
              [--password P] [--metadata JSON] [--latitude DEG --longitude DEG]
                                Register a device (prints a generated password when none is given;
                                --auth cert: logs in with a client certificate, no password).
  devices list [--json]         List registered devices.
  devices set-metadata ID [JSON] [--latitude DEG --longitude DEG] [--replace]
                                Merge (or replace) a device's metadata: district, roadSegment,
                                freeFlowSpeedKmh, meteredArea, circuit (docs/indicators.md);
                                --latitude/--longitude place it on the console's map (WGS 84).
  devices remove ID             Remove a device.
  tokens create --for LOGIN [--description TEXT]
                                An API token for a gateway or integration login (HTTP writes:
                                Authorization: Token ...); printed once, stored hashed.
  tokens list [--json]          List tokens (id, login, created, revoked); never the secrets.
  tokens revoke ID              Revoke a token (refused everywhere within 10 s).
  rejected [--device ID] [--reason R] [--since DURATION|ISO] [--limit N] [--json]
                                Refused messages, newest first: time, device, reason, topic,
                                detail and the payload as text (--since 15m, 2h, 7d or a time).
  export readings|rollups|indicators|alarms --from TIME --to TIME [--device ID|--area KIND:NAME]
         [--metric M] [--resolution 1m|1h] [--name I] [--format csv|jsonl] [--output FILE]
                                A device's or an area's readings, rollups, indicators or alarm
                                history, streamed as CSV or JSON lines (docs/exports.md).
  export air-quality --district NAME --date YYYY-MM-DD [--format csv|html|json] [--output FILE]
                                The daily air-quality report of a district.
  users add NAME --role viewer|operator|admin [--password P] [--replace]
                                Add an operator console user (prints a generated password when
                                none is given); --replace sets a new password or role.
  users list [--json]           List console users.
  users remove NAME             Remove a console user and end their sessions.
  certs init [--dir DIR] [--host H ...]
                                A development CA and a server certificate for MQTT over TLS
                                (SANs localhost, 127.0.0.1 and each --host), into DIR (data/certs).
  certs device ID [--dir DIR]   A client certificate for device ID (CN=ID), signed by that CA.
  validate-config FILE          Check a config file (and the environment overrides) without starting.
  sim <subcommand> ...          Simulated field devices, OPC-UA PLC and replay (gridline sim help).
  edge <subcommand> ...         The edge agent for gateways (gridline edge help).
  bench [scenario...] [--quick] Run benchmark scenarios (docs/benchmarks.md).
  help                          This text. Every command takes --help (no database needed).

Environment: DATABASE_URL, MQTT_PORT, MQTT_TLS_PORT, MQTT_TLS_CERT, MQTT_TLS_KEY, MQTT_TLS_CA, HTTP_PORT, AUTH_MODE, LOG_LEVEL, GRIDLINE_CONFIG
(docs/configuration.md lists every key).`

/** The commands this file runs itself (sim, edge and bench print their own help). */
const OWN_COMMANDS = new Set(['ingest', 'migrate', 'devices', 'tokens', 'users', 'validate-config', 'demo'])

/** True when `--help` or `-h` comes before any `--` (after which arguments are positional). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** One command's lines of USAGE (its entries and their continuation lines), with the environment note. */
function commandHelp(command: string): string {
  const lines = USAGE.split('\n')
  const picked: string[] = []
  let inCommand = false
  for (const line of lines) {
    if (/^  \S/.test(line)) inCommand = line.slice(2).split(' ')[0] === command
    else if (!/^\s{20,}\S/.test(line)) inCommand = false
    if (inCommand) picked.push(line)
  }
  return `Usage: gridline ${command} [options]\n\n${picked.join('\n')}\n\n${lines.slice(lines.findIndex((l) => l.startsWith('Environment:'))).join('\n')}`
}

/** Runs one CLI command; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  // Help never needs a database, a config file or valid options.
  if (command !== undefined && OWN_COMMANDS.has(command) && wantsHelp(rest)) {
    process.stdout.write(`${commandHelp(command)}\n`)
    return 0
  }
  try {
    switch (command) {
      case 'ingest': return await ingest(rest)
      case 'migrate': return await migrateCommand(rest)
      case 'devices': return await devices(rest)
      case 'tokens': return await tokensCommand(rest)
      case 'users': return await usersCommand(rest)
      case 'rejected': return await rejectedCommand(rest)
      case 'export': {
        const { exportCommand } = await import('./export.ts')
        return await exportCommand(rest, loadIngestConfig)
      }
      case 'validate-config': return validateConfigCommand(rest)
      case 'certs': return certsCommand(rest)
      case 'demo': return await runDemo(rest)
      case 'sim': {
        const [{ runSimCli }, { registerDevices }] = await Promise.all([import('@gridline/firmware-sim/cli'), import('./register-devices.ts')])
        return await runSimCli(rest, { registerDevices })
      }
      case 'edge': {
        const { runEdgeCli } = await import('@gridline/edge-agent/cli')
        return await runEdgeCli(rest)
      }
      case 'bench': {
        const { runBenchCli } = await import('@gridline/bench')
        return await runBenchCli(rest)
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`)
        return command === undefined ? 2 : 0
      default:
        throw new GridlineError('GRIDLINE_USAGE', `Unknown command "${command}".\n\n${USAGE}`)
    }
  } catch (err) {
    if (err instanceof GridlineError) {
      process.stderr.write(`gridline: ${err.message} [${err.code}]\n`)
      return err.code === 'GRIDLINE_USAGE' ? 2 : 1
    }
    process.stderr.write(`gridline: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  }
}

function configPath(values: { config?: string | undefined }): string | undefined {
  return values.config ?? process.env.GRIDLINE_CONFIG
}

function parse(args: string[], options: ParseArgsConfig['options'], allowPositionals = false) {
  try {
    return parseArgs({ args, options: options ?? {}, allowPositionals, strict: true })
  } catch (err) {
    throw new GridlineError('GRIDLINE_USAGE', (err as Error).message, { cause: err })
  }
}

function requireDatabaseUrl(url: string | undefined): string {
  if (!url) throw new GridlineError('GRIDLINE_CONFIG_INVALID', 'No database: set DATABASE_URL or database.url in the config file.')
  return url
}

async function ingest(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } })
  const config = loadIngestConfig(configPath(values as { config?: string }))
  requireDatabaseUrl(config.database.url)
  const logger = createLogger({ level: config.log.level })
  const service = buildIngestService(config, logger)
  try {
    await service.start()
  } catch (err) {
    logger.fatal({ err }, 'The ingest service could not start.')
    await service.stop().catch(() => undefined)
    throw err
  }
  return await untilSignal(async () => service.stop())
}

async function withDatabase<T>(config: IngestConfig, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: requireDatabaseUrl(config.database.url) })
  try {
    await client.connect()
  } catch (err) {
    throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', `Cannot reach the database: ${(err as Error).message}`, { cause: err })
  }
  try {
    return await body(client)
  } finally {
    await client.end()
  }
}

const REJECTED_USAGE = 'Usage: gridline rejected [--device ID] [--reason R] [--since DURATION|ISO] [--limit N] [--json]'

async function rejectedCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string', short: 'c' },
    device: { type: 'string' },
    reason: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const v = values as Record<string, string | boolean | undefined>
  if (v.help) {
    process.stdout.write(`${REJECTED_USAGE}\n`)
    return 0
  }
  const limit = typeof v.limit === 'string' ? Number(v.limit) : 50
  if (!Number.isInteger(limit) || limit < 1 || limit > REJECTED_MAX_LIMIT) throw new GridlineError('GRIDLINE_USAGE', `--limit: a whole number from 1 to ${REJECTED_MAX_LIMIT}.\n${REJECTED_USAGE}`)
  let since: number | undefined
  if (typeof v.since === 'string') {
    try {
      since = parseSince(v.since)
    } catch (err) {
      throw new GridlineError('GRIDLINE_USAGE', `--${(err as Error).message}\n${REJECTED_USAGE}`, { cause: err })
    }
  }
  const config = loadIngestConfig(configPath(v as { config?: string }))
  const entries = await withDatabase(config, (client) => queryRejected(pgSqlClient(client), {
    deviceId: typeof v.device === 'string' ? v.device : undefined,
    reason: typeof v.reason === 'string' ? v.reason : undefined,
    since,
    limit,
  }))
  if (v.json) {
    process.stdout.write(`${JSON.stringify(entries.map((e) => ({ ...e, receivedAt: new Date(e.receivedAt).toISOString() })), null, 2)}\n`)
    return 0
  }
  for (const e of entries) {
    process.stdout.write(`${new Date(e.receivedAt).toISOString()}  ${(e.deviceId ?? '-').padEnd(20)} ${e.reason.padEnd(24)} ${printable(e.topic, 80)}\n`)
    process.stdout.write(`    ${printable(e.detail, 300)}\n`)
    if (e.payloadBytes > 0) process.stdout.write(`    payload (${e.payloadBytes} bytes${e.payloadTruncated ? ', start kept' : ''}): ${printable(e.payloadText, 200)}\n`)
  }
  process.stdout.write(`${entries.length} refused${entries.length === limit ? ` (the newest ${limit}; --limit for more)` : ''}.\n`)
  return 0
}

/** Text from a device, safe for a terminal: control characters (escape sequences) shown as \uXXXX, long text cut. */
function printable(text: string, max: number): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return safe.length <= max ? safe : `${safe.slice(0, max - 1)}…`
}

async function migrateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } })
  const config = loadIngestConfig(configPath(values as { config?: string }))
  const report = await withDatabase(config, (client) => migrate(pgSqlClient(client), config.storage))
  process.stdout.write(report.applied.length
    ? `Applied ${report.applied.join(', ')} (storage engine: ${report.engine}).\n`
    : `The schema is up to date (storage engine: ${report.engine}).\n`)
  return 0
}

/** `--latitude 16.0544 --longitude 108.2022` as metadata keys (numbers, both or neither); undefined when neither is given. */
function locationFlags(v: Record<string, string | boolean | undefined>): { latitude: number; longitude: number } | undefined {
  const lat = v.latitude
  const lon = v.longitude
  if (lat === undefined && lon === undefined) return undefined
  if (typeof lat !== 'string' || typeof lon !== 'string') throw new GridlineError('GRIDLINE_USAGE', '--latitude and --longitude go together (WGS 84 degrees, e.g. --latitude 16.0544 --longitude 108.2022).')
  const latitude = Number(lat)
  const longitude = Number(lon)
  if (lat.trim() === '' || !Number.isFinite(latitude) || Math.abs(latitude) > 90) throw new GridlineError('GRIDLINE_USAGE', `--latitude must be degrees from -90 to 90, got "${lat}".`)
  if (lon.trim() === '' || !Number.isFinite(longitude) || Math.abs(longitude) > 180) throw new GridlineError('GRIDLINE_USAGE', `--longitude must be degrees from -180 to 180, got "${lon}".`)
  return { latitude, longitude }
}

function parseMetadata(json: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    throw new GridlineError('GRIDLINE_USAGE', 'Metadata must be a JSON object, e.g. \'{"district":"Hai Chau"}\'.')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GridlineError('GRIDLINE_USAGE', 'Metadata must be a JSON object, e.g. \'{"district":"Hai Chau"}\'.')
  }
  return parsed as Record<string, unknown>
}

async function devices(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const { values, positionals } = parse(rest, {
    config: { type: 'string', short: 'c' },
    domain: { type: 'string' },
    gateway: { type: 'string' },
    kind: { type: 'string' },
    password: { type: 'string' },
    auth: { type: 'string' },
    metadata: { type: 'string' },
    latitude: { type: 'string' },
    longitude: { type: 'string' },
    json: { type: 'boolean' },
    replace: { type: 'boolean' },
  }, true)
  const v = values as Record<string, string | boolean | undefined>
  return await withDatabase(loadIngestConfig(configPath(v as { config?: string })), async (client) => {
    const store = new DeviceStore(pgSqlClient(client))
    switch (sub) {
      case 'add': {
        const id = positionals[0]
        if (!id) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline devices add ID --domain D [--gateway G] [--kind device|gateway] [--password P]')
        const kind = (v.kind as string | undefined) ?? 'device'
        if (!DEVICE_KINDS.includes(kind as DeviceKind)) throw new GridlineError('GRIDLINE_USAGE', `--kind must be one of ${DEVICE_KINDS.join(', ')}.`)
        // A password chosen by hand must resist guessing (docs/protocol.md#passwords); the generated one does.
        const weakness = typeof v.password === 'string' ? passwordWeakness(v.password) : null
        if (weakness) throw new GridlineError('GRIDLINE_USAGE', `--password refused: ${weakness}.`)
        const place = locationFlags(v)
        const given = typeof v.metadata === 'string' ? parseMetadata(v.metadata) : undefined
        const metadata = given || place ? { ...given, ...place } : undefined
        const auth = (v.auth as string | undefined) ?? 'password'
        if (!DEVICE_AUTHS.includes(auth as DeviceAuth)) throw new GridlineError('GRIDLINE_USAGE', `--auth must be one of ${DEVICE_AUTHS.join(', ')}.`)
        const { device, password } = await store.add({
          id,
          kind: kind as DeviceKind,
          auth: auth as DeviceAuth,
          ...(typeof v.domain === 'string' ? { domain: v.domain } : {}),
          ...(typeof v.gateway === 'string' ? { gateway: v.gateway } : {}),
          ...(typeof v.password === 'string' ? { password: v.password } : {}),
          ...(metadata ? { metadata } : {}),
        })
        process.stdout.write(`Registered ${device.kind} ${device.id}${device.domain ? ` in ${device.domain}` : ''}${device.gateway ? ` behind ${device.gateway}` : ''}.\n`)
        if (password !== null && typeof v.password !== 'string') process.stdout.write(`Password (shown once, store it on the device): ${password}\n`)
        if (device.auth !== 'password') process.stdout.write(`Logs in over TLS with a client certificate whose CN names ${device.id} (gridline certs device ${device.id}).\n`)
        return 0
      }
      case 'list': {
        const list = await store.list()
        if (v.json) {
          process.stdout.write(`${JSON.stringify(list.map(({ credentialsHash: _hash, ...d }) => d), null, 2)}\n`)
        } else {
          process.stdout.write(`${'ID'.padEnd(28)}${'KIND'.padEnd(9)}${'AUTH'.padEnd(9)}${'DOMAIN'.padEnd(13)}${'GATEWAY'.padEnd(20)}CREATED\n`)
          for (const d of list) {
            process.stdout.write(`${d.id.padEnd(28)}${d.kind.padEnd(9)}${d.auth.padEnd(9)}${(d.domain ?? '-').padEnd(13)}${(d.gateway ?? '-').padEnd(20)}${d.createdAt.toISOString()}\n`)
          }
          process.stdout.write(`${list.length} registered.\n`)
        }
        return 0
      }
      case 'set-metadata': {
        const [id, json] = positionals
        const place = locationFlags(v)
        if (!id || (!json && !place)) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline devices set-metadata ID [JSON] [--latitude DEG --longitude DEG] [--replace]')
        const device = await store.setMetadata(id, { ...(json ? parseMetadata(json) : {}), ...place }, { replace: v.replace === true })
        process.stdout.write(`Metadata of ${device.id}: ${JSON.stringify(device.metadata)}\n`)
        return 0
      }
      case 'remove': {
        const id = positionals[0]
        if (!id) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline devices remove ID')
        await store.remove(id)
        process.stdout.write(`Removed ${id}.\n`)
        return 0
      }
      default:
        throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline devices add|list|remove ...')
    }
  })
}

const TOKENS_USAGE = 'Usage: gridline tokens create --for LOGIN [--description TEXT] | list [--json] | revoke ID'

async function tokensCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const { values, positionals } = parse(rest, {
    config: { type: 'string', short: 'c' },
    for: { type: 'string' },
    description: { type: 'string' },
    json: { type: 'boolean' },
  }, true)
  const v = values as Record<string, string | boolean | undefined>
  return await withDatabase(loadIngestConfig(configPath(v as { config?: string })), async (client) => {
    // A database only older commands have used may not have the tokens table yet.
    await migrate(pgSqlClient(client))
    const store = new TokenStore(pgSqlClient(client))
    switch (sub) {
      case 'create': {
        if (typeof v.for !== 'string') throw new GridlineError('GRIDLINE_USAGE', TOKENS_USAGE)
        const { token, record } = await store.create(v.for, typeof v.description === 'string' ? v.description : '')
        process.stdout.write(`Token ${record.id} for ${record.login} (shown once, store it where the client keeps secrets):\n${token}\n`)
        return 0
      }
      case 'list': {
        const list = await store.list()
        if (v.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
        } else {
          process.stdout.write(`${'ID'.padEnd(14)}${'LOGIN'.padEnd(28)}${'CREATED'.padEnd(26)}${'REVOKED'.padEnd(26)}DESCRIPTION\n`)
          for (const t of list) process.stdout.write(`${t.id.padEnd(14)}${t.login.padEnd(28)}${t.createdAt.toISOString().padEnd(26)}${(t.revokedAt?.toISOString() ?? '-').padEnd(26)}${t.description}\n`)
          process.stdout.write(`${list.length} tokens.\n`)
        }
        return 0
      }
      case 'revoke': {
        const id = positionals[0]
        if (!id) throw new GridlineError('GRIDLINE_USAGE', TOKENS_USAGE)
        await store.revoke(id)
        process.stdout.write(`Revoked ${id}.\n`)
        return 0
      }
      default:
        throw new GridlineError('GRIDLINE_USAGE', TOKENS_USAGE)
    }
  })
}

async function usersCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const { values, positionals } = parse(rest, {
    config: { type: 'string', short: 'c' },
    role: { type: 'string' },
    password: { type: 'string' },
    replace: { type: 'boolean' },
    json: { type: 'boolean' },
  }, true)
  const v = values as Record<string, string | boolean | undefined>
  const config = loadIngestConfig(configPath(v as { config?: string }))
  return await withDatabase(config, async (client) => {
    // The console's tables may not exist yet on a database only the devices command has used.
    await migrate(pgSqlClient(client), config.storage)
    const store = new UserStore(pgSqlClient(client))
    switch (sub) {
      case 'add': {
        const name = positionals[0]
        const role = v.role as Role | undefined
        if (!name || !role) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline users add NAME --role viewer|operator|admin [--password P] [--replace]')
        if (!ROLES.includes(role)) throw new GridlineError('GRIDLINE_USAGE', `--role must be one of ${ROLES.join(', ')}.`)
        const password = typeof v.password === 'string' ? v.password : generatePassword()
        const user = await store.add({ name, password, role }, { replace: v.replace === true })
        process.stdout.write(`${v.replace ? 'Set' : 'Added'} ${user.role} ${user.name}.\n`)
        if (typeof v.password !== 'string') process.stdout.write(`Password (shown once): ${password}\n`)
        return 0
      }
      case 'list': {
        const list = await store.list()
        if (v.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
        } else {
          process.stdout.write(`${'NAME'.padEnd(28)}${'ROLE'.padEnd(10)}${'CREATED'.padEnd(26)}LAST LOGIN\n`)
          for (const u of list) process.stdout.write(`${u.name.padEnd(28)}${u.role.padEnd(10)}${u.createdAt.toISOString().padEnd(26)}${u.lastLoginAt?.toISOString() ?? '-'}\n`)
          process.stdout.write(`${list.length} users.\n`)
        }
        return 0
      }
      case 'remove': {
        const name = positionals[0]
        if (!name) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline users remove NAME')
        await store.remove(name)
        process.stdout.write(`Removed ${name}; their sessions ended.\n`)
        return 0
      }
      default:
        throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline users add|list|remove ...')
    }
  })
}

/** `gridline certs`: a development PKI made with the openssl CLI (ingest/src/sources/mqtt_broker/dev-certs.ts). */
function certsCommand(args: string[]): number {
  const [sub, ...rest] = args
  const { values, positionals } = parse(rest, {
    dir: { type: 'string' },
    host: { type: 'string', multiple: true },
    days: { type: 'string' },
  }, true)
  const v = values as { dir?: string; host?: string[]; days?: string }
  const dir = v.dir ?? 'data/certs'
  const days = v.days !== undefined ? Number(v.days) : undefined
  if (days !== undefined && !Number.isInteger(days)) throw new GridlineError('GRIDLINE_USAGE', '--days must be a whole number.')
  switch (sub) {
    case 'init': {
      makeDevCa(dir)
      const paths = makeDevServerCert(dir, { ...(v.host ? { hosts: v.host } : {}), ...(days !== undefined ? { days } : {}) })
      process.stdout.write(`Development CA ${paths.caFile}, server certificate ${paths.certFile} and key ${paths.keyFile}.\n`
        + `Serve MQTT over TLS with MQTT_TLS_CERT=${paths.certFile} MQTT_TLS_KEY=${paths.keyFile} MQTT_TLS_CA=${paths.caFile} (docs/security.md).\n`)
      return 0
    }
    case 'device': {
      const id = positionals[0]
      if (!id) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline certs device ID [--dir DIR] [--days N]')
      const paths = makeDevDeviceCert(dir, id, days !== undefined ? { days } : {})
      process.stdout.write(`Device certificate ${paths.certFile} and key ${paths.keyFile} (CN=${id}), signed by ${paths.caFile}.\n`)
      return 0
    }
    default:
      throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline certs init|device ... (gridline help)')
  }
}

function validateConfigCommand(args: string[]): number {
  const { positionals } = parse(args, {}, true)
  const file = positionals[0]
  if (!file) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline validate-config FILE')
  loadIngestConfig(file)
  process.stdout.write(`${file} is valid.\n`)
  return 0
}


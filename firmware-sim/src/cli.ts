import { type ParseArgsConfig, parseArgs } from 'node:util'
import { GridlineError } from '@gridline/core'
import { type RegisterDevices, generatePassword, readCredentials, writeCredentials } from './credentials.ts'
import { FAULT_KINDS, parseFaultRates } from './faults.ts'
import { withCityMetadata } from './city.ts'
import { FLEET_GROUPS, type FleetCounts, type FleetGroup, planFleet } from './fleet-plan.ts'
import { DEVICE_KINDS } from './models/index.ts'
import { loadDataset } from './replay/dataset.ts'
import { loadMapping } from './replay/mapping.ts'
import { Replayer } from './replay/replayer.ts'
import { loadAirrohrArchive, replayAirrohr } from './replay/airrohr.ts'
import { Simulator } from './simulator.ts'
import type { SimStats } from './stats.ts'

const USAGE = `gridline sim: simulated field devices and replay of recorded data (docs/simulator.md).

Usage:
  gridline sim run [options]         Run a fleet of simulated devices against an MQTT broker.
  gridline sim replay PATH --mapping FILE [options]
                                     Publish a recorded data set (a file or a folder) as device telemetry.
  gridline sim airrohr PATH --url URL [options]
                                     POST a Sensor.Community archive (data-esp8266-<chip>-*.csv) the way the
                                     airrohr firmware does, one POST per row, to an HTTP endpoint.
  gridline sim plc [options]         An OPC-UA PLC: a water pumping station (gridline sim plc --help,
                                     docs/plc-simulator.md).
  gridline sim help                  This text.

run options:
  --url URL              Broker (default mqtt://127.0.0.1:1883).
  --traffic N --water N --lighting N --environment N --flood N
                         Devices per group (water cycles main, tank, pump; flood cycles river, street).
  --devices N            N devices spread over the five groups (default 20 when no count is given).
  --prefix P             Device id prefix (default sim): sim-lamp-00001, sim-pump-00002, ...
  --seed N               Seed of every signal and fault (default 1).
  --interval DUR         Real time between two readings of a device (default 1s).
  --time-scale X         Simulated time per real time: 1 real time (default), 1440 a day per minute.
  --start TIME           Simulated start (RFC 3339). Default: now at --time-scale 1, otherwise one
                         simulated day (or the whole --duration) before now, so readings end near now.
  --faults SPEC          e.g. dropout=0.01,spike=0.005 | all | all=0.01 | none. Known: ${FAULT_KINDS.join(', ')}.
  --qos 0|1              Telemetry QoS (default 1).
  --buffer N             Readings a device keeps while disconnected (default 100).
  --connect-rate N       New connections per second at start (default 500).
  --register             Register the devices (DATABASE_URL) with fresh passwords before connecting.
  --credentials FILE     Passwords per device (id,password lines or JSON); without either option
                         devices connect without a login (Mosquitto, auth.mode none).
  --save-credentials FILE  With --register: write the generated passwords there (mode 600).
  --duration DUR         Stop after this long (default: run until Ctrl-C).
  --report-every DUR     Status line period (default 5s; 0 for none).
  --report-memory        Add the process's memory (resident, V8 heap used, buffers) to the status line.

replay options:
  --mapping FILE         Column-to-metric mapping (YAML or JSON); shipped ones are in firmware-sim/mappings/.
  --speed X              X times the recorded pace (default 1).
  --as-fast-as-possible  No pacing; limited only by acknowledgements.
  --shift-to-now         Move timestamps so the replay happens now (paced: first row now; fast: last row now).
  --max-gap DUR          Longest real wait between two rows (caps recorded outages).
  --limit N              Read at most N rows.
  --url, --qos, --register, --credentials, --save-credentials, --connect-rate as for run.

airrohr options:
  --url URL              The endpoint (default http://127.0.0.1:8086/sensor-community).
  --user ID              The firmware's user field (Basic auth); the password comes from
                         GRIDLINE_SIM_PASSWORD or --credentials FILE (its line for ID).
  --chip ID              The chip id, when the file names do not carry it.
  --software-version V   The firmware version sent (default NRZ-2018-111).
  --concurrency N        POSTs in flight at once (default 1, as one station sends).
  --limit N              Read at most N rows.

DUR is a number with ms, s, m or h (a bare number is milliseconds).`

/** What `gridline sim` needs from its caller: the simulator depends only on the wire contract. */
export interface SimCliDeps {
  /** Registers devices for `--register`; without it `--register` is a usage error. */
  registerDevices?: RegisterDevices
}

/** `gridline sim ...`; resolves with the exit code. */
export async function runSimCli(argv: string[], deps: SimCliDeps = {}): Promise<number> {
  const [sub, ...rest] = argv
  // Every subcommand's --help prints the help, whatever else is on the line.
  if (sub !== undefined && rest.slice(0, rest.includes('--') ? rest.indexOf('--') : undefined).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  try {
    switch (sub) {
      case 'run': return await runFleet(rest, deps)
      case 'replay': return await runReplay(rest, deps)
      case 'airrohr': return await runAirrohr(rest)
      case 'plc': {
        const { runPlcCommand } = await import('./plc/command.ts')
        return await runPlcCommand(rest)
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`)
        return sub === undefined ? 2 : 0
      default:
        throw new GridlineError('GRIDLINE_USAGE', `Unknown sim command "${sub}". Try gridline sim help.`)
    }
  } catch (err) {
    if (err instanceof GridlineError) {
      process.stderr.write(`gridline sim: ${err.message} [${err.code}]\n`)
      return err.code === 'GRIDLINE_USAGE' ? 2 : 1
    }
    process.stderr.write(`gridline sim: ${(err as Error).message}\n`)
    return 1
  }
}

const COMMON = {
  url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
  qos: { type: 'string', default: '1' },
  register: { type: 'boolean', default: false },
  credentials: { type: 'string' },
  'save-credentials': { type: 'string' },
  'connect-rate': { type: 'string', default: '500' },
} as const satisfies ParseArgsConfig['options']

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new GridlineError('GRIDLINE_USAGE', (err as Error).message, { cause: err })
  }
}

/** `250ms`, `1s`, `5m`, `2h`; a bare number is milliseconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!m) throw new GridlineError('GRIDLINE_USAGE', `--${option} "${text}" must be a duration such as 500ms, 10s, 5m or 1h.`)
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms']
  return Number(m[1]) * unit
}

function positiveNumber(text: string, option: string, integer = false): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new GridlineError('GRIDLINE_USAGE', `--${option} must be a positive ${integer ? 'whole ' : ''}number.`)
  }
  return n
}

function qosOf(text: string): 0 | 1 {
  if (text !== '0' && text !== '1') throw new GridlineError('GRIDLINE_USAGE', '--qos must be 0 or 1.')
  return Number(text) as 0 | 1
}

/** Passwords per device from --register (generated and stored) or --credentials; none means anonymous. */
async function resolvePasswords(
  values: { register?: boolean; credentials?: string; 'save-credentials'?: string },
  devices: { id: string; domain: string; metadata?: Record<string, unknown> }[],
  deps: SimCliDeps,
): Promise<Map<string, string> | undefined> {
  if (values.register && values.credentials) throw new GridlineError('GRIDLINE_USAGE', 'Use --register or --credentials, not both.')
  if (values.register) {
    const databaseUrl = process.env.DATABASE_URL
    if (!databaseUrl) throw new GridlineError('GRIDLINE_CONFIG_INVALID', '--register needs DATABASE_URL (the ingest service\'s database).')
    const registerDevices = deps.registerDevices
    if (!registerDevices) throw new GridlineError('GRIDLINE_USAGE', '--register needs the device registry: run it as gridline sim.')
    const passwords = new Map(devices.map((d) => [d.id, generatePassword()]))
    process.stdout.write(`Registering ${devices.length} devices (scrypt hashing takes a while for large fleets) ...\n`)
    await registerDevices(databaseUrl, devices.map((d) => ({ ...d, password: passwords.get(d.id)! })), (done) => {
      if (devices.length > 200) process.stdout.write(`  ${done} / ${devices.length}\n`)
    })
    if (values['save-credentials']) {
      writeCredentials(values['save-credentials'], passwords)
      process.stdout.write(`Passwords written to ${values['save-credentials']}.\n`)
    }
    // The ingest service learns of new devices through LISTEN/NOTIFY; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 500))
    return passwords
  }
  if (values.credentials) {
    const passwords = readCredentials(values.credentials)
    const missing = devices.filter((d) => !passwords.has(d.id))
    if (missing.length) {
      throw new GridlineError('GRIDLINE_USAGE', `${values.credentials} has no password for ${missing.length} device(s), e.g. ${missing.slice(0, 3).map((d) => d.id).join(', ')}.`)
    }
    return passwords
  }
  return undefined
}

async function runFleet(args: string[], deps: SimCliDeps): Promise<number> {
  const { values } = parse(args, {
    ...COMMON,
    traffic: { type: 'string' },
    water: { type: 'string' },
    lighting: { type: 'string' },
    environment: { type: 'string' },
    flood: { type: 'string' },
    devices: { type: 'string' },
    prefix: { type: 'string', default: 'sim' },
    seed: { type: 'string', default: '1' },
    interval: { type: 'string', default: '1s' },
    'time-scale': { type: 'string', default: '1' },
    start: { type: 'string' },
    faults: { type: 'string', default: 'none' },
    buffer: { type: 'string', default: '100' },
    duration: { type: 'string' },
    'report-every': { type: 'string', default: '5s' },
    'report-memory': { type: 'boolean', default: false },
  })
  const groups = Object.keys(FLEET_GROUPS) as FleetGroup[]
  const counts: FleetCounts = {}
  for (const group of groups) {
    const v = values[group]
    if (v !== undefined) counts[group] = v === '0' ? 0 : positiveNumber(v, group, true)
  }
  if (values.devices !== undefined || Object.keys(counts).length === 0) {
    const total = values.devices === undefined ? 20 : positiveNumber(values.devices, 'devices', true)
    groups.forEach((g, i) => { counts[g] = (counts[g] ?? 0) + Math.floor(total / groups.length) + (i < total % groups.length ? 1 : 0) })
  }
  const intervalMs = parseDuration(values.interval, 'interval')
  if (intervalMs < 10) throw new GridlineError('GRIDLINE_USAGE', '--interval must be at least 10ms.')
  const timeScale = positiveNumber(values['time-scale'], 'time-scale')
  const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration, 'duration')
  const seed = Number(values.seed)
  if (!Number.isInteger(seed)) throw new GridlineError('GRIDLINE_USAGE', '--seed must be a whole number.')
  let simStartMs = Date.now()
  if (values.start !== undefined) {
    simStartMs = Date.parse(values.start)
    if (Number.isNaN(simStartMs)) throw new GridlineError('GRIDLINE_USAGE', `--start "${values.start}" is not a date-time.`)
  } else if (timeScale > 1) {
    simStartMs -= durationMs !== undefined ? durationMs * timeScale : 86_400_000
  }

  const specs = withCityMetadata(planFleet(counts, values.prefix), seed)
  // Registered with where each device stands in Da Nang, so the indicators and the overview can group them.
  const passwords = await resolvePasswords(values, specs.map((s) => ({ id: s.id, domain: DEVICE_KINDS[s.kind!].domain, metadata: s.metadata })), deps)
  for (const spec of specs) {
    const password = passwords?.get(spec.id)
    if (password !== undefined) spec.password = password
  }

  const sim = new Simulator({
    url: values.url,
    devices: specs,
    intervalMs,
    timeScale,
    simStartMs,
    seed,
    qos: qosOf(values.qos),
    faults: parseFaultRates(values.faults),
    bufferSize: positiveNumber(values.buffer, 'buffer', true),
    connectRatePerS: positiveNumber(values['connect-rate'], 'connect-rate'),
  })
  const countText = groups.filter((g) => counts[g]).map((g) => `${counts[g]} ${g}`).join(', ')
  process.stdout.write(`Simulating ${specs.length} devices (${countText}) against ${values.url}; a reading each every ${intervalMs} ms, ` +
    `simulated time from ${new Date(simStartMs).toISOString()} at ${timeScale}x. Ctrl-C stops.\n`)
  await sim.start()
  const reportMs = parseDuration(values['report-every'], 'report-every')
  const memory = values['report-memory'] ? memoryText : () => ''
  const report = reportMs > 0
    ? setInterval(() => process.stdout.write(`${statusLine(sim.stats, sim.connected, specs.length, sim.clock.now())}${memory()}\n`), reportMs)
    : undefined
  await untilStopped(durationMs)
  clearInterval(report)
  process.stdout.write('Stopping: every device publishes its offline status and disconnects ...\n')
  await sim.stop()
  process.stdout.write(summary(sim.stats))
  return 0
}

async function runReplay(args: string[], deps: SimCliDeps): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    mapping: { type: 'string' },
    speed: { type: 'string', default: '1' },
    'as-fast-as-possible': { type: 'boolean', default: false },
    'shift-to-now': { type: 'boolean', default: false },
    'max-gap': { type: 'string' },
    limit: { type: 'string' },
  })
  const path = positionals[0]
  if (!path || !values.mapping) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline sim replay PATH --mapping FILE [--speed X | --as-fast-as-possible] [--shift-to-now]')
  const mapping = loadMapping(values.mapping)
  const dataset = loadDataset(path, mapping, values.limit === undefined ? {} : { maxRows: positiveNumber(values.limit, 'limit', true) })
  const c = dataset.counts
  process.stdout.write(`Read ${c.rows} rows from ${c.files} file(s): ${c.readings} readings for ${dataset.devices.length} device(s).\n`)
  const passwords = await resolvePasswords(values, dataset.devices, deps)
  const speed = positiveNumber(values.speed, 'speed')
  const replayer = new Replayer({
    url: values.url,
    dataset,
    speed,
    asFastAsPossible: values['as-fast-as-possible'],
    shiftToNow: values['shift-to-now'],
    qos: qosOf(values.qos),
    connectRatePerS: positiveNumber(values['connect-rate'], 'connect-rate'),
    ...(passwords ? { passwords } : {}),
    ...(values['max-gap'] !== undefined ? { maxGapMs: parseDuration(values['max-gap'], 'max-gap') } : {}),
  })
  const onSignal = () => replayer.stop()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const report = setInterval(() => process.stdout.write(`sent ${replayer.stats.published}, acknowledged ${replayer.stats.acknowledged}\n`), 5_000)
  try {
    const result = await replayer.run()
    const range = result.firstTs === undefined ? '' : ` recorded ${new Date(result.firstTs).toISOString()} .. ${new Date(result.lastTs ?? result.firstTs).toISOString()}`
    process.stdout.write(`Replayed ${result.rowsSent} rows, ${result.readingsSent} readings${range}${result.shiftMs ? `, shifted by ${Math.round(result.shiftMs / 1000)} s` : ''}.\n`)
  } finally {
    clearInterval(report)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  const unmapped = Object.entries(c.readingsUnmapped).filter(([, n]) => n > 0)
  process.stdout.write(`Not sent: ${unmapped.length ? unmapped.map(([r, n]) => `${n} ${r}`).join(', ') : 'none'}; ` +
    `cells skipped: ${c.valuesMissing} missing, ${c.valuesUnparseable} not a number; ragged rows: ${c.raggedRows}.\n`)
  process.stdout.write(`Local times: ${c.localTimesRepeated} repeated (placed by file order), ${c.localTimesNonexistent} nonexistent; ` +
    `rows out of order ${c.rowsOutOfOrder}, reordered ${c.rowsReordered}; long-row duplicates ${c.pivotDuplicates}.\n`)
  process.stdout.write(summary(replayer.stats))
  return 0
}

async function runAirrohr(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    url: { type: 'string', default: 'http://127.0.0.1:8086/sensor-community' },
    user: { type: 'string' },
    credentials: { type: 'string' },
    chip: { type: 'string' },
    'software-version': { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    limit: { type: 'string' },
  })
  const path = positionals[0]
  if (!path) throw new GridlineError('GRIDLINE_USAGE', 'Usage: gridline sim airrohr PATH --url http://host:8086/sensor-community [--user ID]')
  const archive = loadAirrohrArchive(path, {
    ...(values.chip !== undefined ? { chipId: values.chip } : {}),
    ...(values.limit !== undefined ? { maxRows: positiveNumber(values.limit, 'limit', true) } : {}),
  })
  let password: string | undefined
  if (values.user !== undefined) {
    password = values.credentials ? readCredentials(values.credentials).get(values.user) : process.env.GRIDLINE_SIM_PASSWORD
    if (password === undefined) throw new GridlineError('GRIDLINE_USAGE', `No password for ${values.user}: set GRIDLINE_SIM_PASSWORD or give --credentials FILE with a line for it.`)
  }
  process.stdout.write(`Read ${archive.posts.length} rows of chip ${archive.chipId} from ${archive.files} file(s) (${archive.emptyRows} rows without any value not sent).\n`)
  const result = await replayAirrohr({
    url: values.url,
    archive,
    concurrency: positiveNumber(values.concurrency, 'concurrency', true),
    ...(values.user !== undefined ? { username: values.user, password } : {}),
    ...(values['software-version'] !== undefined ? { softwareVersion: values['software-version'] } : {}),
    onPost: (done) => { if (done % 1_000 === 0) process.stdout.write(`posted ${done} / ${archive.posts.length}\n`) },
  })
  const statuses = Object.entries(result.statuses).map(([code, n]) => `${n} x ${code === '0' ? 'no answer' : code}`).join(', ')
  process.stdout.write(`Posted ${result.posts}: ${result.accepted} accepted, ${result.refused} refused, ${result.failed} failed after retries (${result.retries} retries; answers: ${statuses}).\n`)
  for (const r of result.refusals) process.stdout.write(`  ${r.file}:${r.line}: ${r.status} ${r.body}\n`)
  return result.refused + result.failed > 0 ? 1 : 0
}

/** Resolves on Ctrl-C / SIGTERM, or after `durationMs`. */
function untilStopped(durationMs: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      process.off('SIGINT', done)
      process.off('SIGTERM', done)
      resolve()
    }
    const timer = durationMs === undefined ? undefined : setTimeout(done, durationMs)
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
}

function statusLine(s: SimStats, connected: number, total: number, simNow: number): string {
  return `sim ${new Date(simNow).toISOString().slice(0, 16)}Z  connected ${connected}/${total}  published ${s.published}  acked ${s.acknowledged}  ` +
    `buffered ${s.buffered}  reconnects ${Math.max(0, s.connects - total)}  commands ${s.commandsReceived}  errors ${s.errors}`
}

const MB = 1024 * 1024

/** Resident set, V8 heap in use and Buffer memory, so a long run shows whether memory levels off. */
function memoryText(): string {
  const m = process.memoryUsage()
  return `  rss ${Math.round(m.rss / MB)} MB  heap ${Math.round(m.heapUsed / MB)}/${Math.round(m.heapTotal / MB)} MB  buffers ${Math.round(m.arrayBuffers / MB)} MB`
}

/** `refused 38 (ts_in_future 38)`, or `refused 0`. */
export function refusedLine(refused: Readonly<Record<string, number>>): string {
  const byReason = Object.entries(refused).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1])
  const total = byReason.reduce((sum, [, n]) => sum + n, 0)
  return total === 0 ? 'refused 0' : `refused ${total} (${byReason.map(([r, n]) => `${r} ${n}`).join(', ')})`
}

function summary(s: SimStats): string {
  const faults = FAULT_KINDS.filter((k) => s.faults.started[k] > 0)
    .map((k) => `${k} ${s.faults.started[k]} (${s.faults.readings[k]} readings)`).join(', ')
  const malformed = Object.entries(s.faults.malformed).filter(([, n]) => n > 0).map(([v, n]) => `${v} ${n}`).join(', ')
  return [
    `Published ${s.published}, acknowledged ${s.acknowledged}, errors ${s.errors}, auth failures ${s.authFailures}.`,
    `Connections ${s.connects}, lost ${s.disconnects}; buffered ${s.buffered}, sent after reconnect ${s.bufferFlushed}, resent after a lost PUBACK ${s.requeued}, dropped from full buffers ${s.bufferDropped}.`,
    `Refused by the service after acknowledging: ${refusedLine(s.refused)} (its notices on rejections/{domain}/{deviceId}).`,
    `Commands ${s.commandsReceived}: ok ${s.replies.ok}, rejected ${s.replies.rejected}, failed ${s.replies.failed}.`,
    `Faults: ${faults || 'none'}${malformed ? `; malformed by reason: ${malformed}` : ''}.`,
    '',
  ].join('\n')
}

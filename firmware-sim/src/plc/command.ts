import { format, parseArgs } from 'node:util'
import { setErrorLogger, setWarningLogger } from 'node-opcua'
import { type PumpStationOptions, startPumpStation } from './pump-station.ts'

const USAGE = `Usage: gridline sim plc [options]

Runs a simulated water pumping station PLC as an OPC UA server until Ctrl-C.

Options:
  --port N              TCP port (default 4840; 0 = any free port)
  --host HOST           interface to listen on (default 127.0.0.1)
  --station ID          station id, the first part of every node id (default ps-01)
  --pumps N             number of pumps, 1 to 9 (default 3)
  --interval MS         update interval in milliseconds (default 1000)
  --time-scale X        simulated seconds per real second (default 1)
  --seed N              seed of the random signals (default 1)
  --extra-variables N   extra Load.Vnnnn Double variables for load tests (default 0)
  --pki-dir DIR         certificate folder (default data/plc-pki)
  --secure-only         offer SignAndEncrypt only (no unsecured endpoint)
  --user NAME:PASSWORD  an account for username login (repeatable; or GRIDLINE_PLC_USERS=a:b,c:d)
  --no-anonymous        refuse anonymous sessions
  -h, --help            show this help
`

/**
 * `gridline sim plc`: starts the simulator, prints its endpoint URL and runs until SIGINT or
 * SIGTERM. Resolves with the process exit code.
 */
export async function runPlcCommand(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '4840' },
        host: { type: 'string' },
        station: { type: 'string' },
        pumps: { type: 'string' },
        interval: { type: 'string' },
        'time-scale': { type: 'string' },
        seed: { type: 'string' },
        'extra-variables': { type: 'string' },
        'pki-dir': { type: 'string' },
        'secure-only': { type: 'boolean', default: false },
        user: { type: 'string', multiple: true },
        'no-anonymous': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (error) {
    process.stderr.write(`gridline sim plc: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values } = parsed
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }

  let options: PumpStationOptions
  try {
    const userSpecs = [...(values.user ?? []), ...(process.env.GRIDLINE_PLC_USERS?.split(',').filter(Boolean) ?? [])]
    options = {
      port: integer('--port', values.port),
      host: values.host,
      stationId: values.station,
      pumps: integer('--pumps', values.pumps),
      updateIntervalMs: integer('--interval', values.interval),
      timeScale: number('--time-scale', values['time-scale']),
      seed: integer('--seed', values.seed),
      extraVariables: integer('--extra-variables', values['extra-variables']),
      pkiDir: values['pki-dir'],
      securityModes: values['secure-only'] ? ['SignAndEncrypt'] : ['None', 'SignAndEncrypt'],
      users: userSpecs.map(parseUser),
      allowAnonymous: !values['no-anonymous'],
    }
  } catch (error) {
    process.stderr.write(`gridline sim plc: ${(error as Error).message}\n`)
    return 2
  }

  // node-opcua prints its own warnings to stdout; keep stdout for the endpoint line.
  const toStderr = (...args: unknown[]) => void process.stderr.write(`${format(...args)}\n`)
  setWarningLogger(toStderr)
  setErrorLogger(toStderr)

  let station
  try {
    station = await startPumpStation(options)
  } catch (error) {
    process.stderr.write(`gridline sim plc: ${(error as Error).message}\n`)
    return 1
  }
  process.stdout.write(`PLC simulator ${options.stationId ?? 'ps-01'} listening at ${station.endpointUrl}\n`)
  process.stdout.write(`Node ids: ${station.nodeIds['tankLevel']} ... (see docs/plc-simulator.md). Ctrl-C stops it.\n`)

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  process.stdout.write(`Received ${signal}; stopping the PLC simulator.\n`)
  await station.stop()
  return 0
}

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`${flag} expects a number, got '${text}'.`)
  return value
}

function integer(flag: string, text: string | undefined): number | undefined {
  const value = number(flag, text)
  if (value !== undefined && !Number.isInteger(value)) throw new Error(`${flag} expects a whole number, got '${text}'.`)
  return value
}

function parseUser(spec: string): { username: string; password: string } {
  const colon = spec.indexOf(':')
  if (colon <= 0 || colon === spec.length - 1) {
    // Never echo the spec back: it holds a password.
    throw new Error('--user expects NAME:PASSWORD with both parts non-empty.')
  }
  return { username: spec.slice(0, colon), password: spec.slice(colon + 1) }
}

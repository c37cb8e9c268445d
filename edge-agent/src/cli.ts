import { GridlineError, createLogger } from '@gridline/core'
import { buildEdgeAgent } from './agent.ts'
import { browseVariables } from './browse.ts'
import { loadEdgeConfig } from './config.ts'

const USAGE = `gridline edge: the edge agent for gateways (store-and-forward to the ingest service).

Usage:
  gridline edge --config FILE                 Run the agent (same as: gridline edge run --config FILE).
  gridline edge validate-config FILE          Check a config file and the environment overrides without starting.
  gridline edge browse opc.tcp://HOST:PORT    List the variables of an OPC-UA server, to write a config from.
      [--depth N] [--secure] [--user NAME --password SECRET] [--yaml]
  gridline edge help                          This text.

Documentation: docs/edge-agent.md`

/** `gridline edge ...`. Resolves with the exit code. */
export async function runEdgeCli(argv: string[]): Promise<number> {
  try {
    const [first, ...rest] = argv
    // Every subcommand's --help prints the help, whatever else is on the line.
    if (first !== undefined && rest.slice(0, rest.includes('--') ? rest.indexOf('--') : undefined).some((a) => a === '--help' || a === '-h')) {
      process.stdout.write(`${USAGE}\n`)
      return 0
    }
    switch (first) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`)
        return first === undefined ? 2 : 0
      case 'run': return await run(rest)
      case '--config': return await run(argv)
      case 'validate-config': return validate(rest)
      case 'browse': return await browse(rest)
      default:
        throw new GridlineError('GRIDLINE_USAGE', `Unknown edge command "${first}".\n\n${USAGE}`)
    }
  } catch (err) {
    if (err instanceof GridlineError) {
      process.stderr.write(`gridline edge: ${err.message} [${err.code}]\n`)
      return err.code === 'GRIDLINE_USAGE' ? 2 : 1
    }
    process.stderr.write(`gridline edge: ${(err as Error).message}\n`)
    return 1
  }
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name)
  if (at === -1) return undefined
  const value = args[at + 1]
  if (value === undefined || value.startsWith('--')) throw new GridlineError('GRIDLINE_USAGE', `${name} needs a value.\n\n${USAGE}`)
  return value
}

async function run(args: string[]): Promise<number> {
  const path = option(args, '--config')
  if (!path) throw new GridlineError('GRIDLINE_USAGE', `gridline edge needs --config FILE.\n\n${USAGE}`)
  const config = loadEdgeConfig(path)
  const logger = createLogger({ level: config.log.level })
  const agent = buildEdgeAgent(config, logger)
  await agent.start()
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'Stopping the edge agent.')
      resolve()
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  await agent.stop()
  logger.flush()
  return 0
}

function validate(args: string[]): number {
  const [path] = args
  if (!path) throw new GridlineError('GRIDLINE_USAGE', `validate-config needs a FILE.\n\n${USAGE}`)
  const config = loadEdgeConfig(path)
  const nodes = config.opcua.reduce((n, s) => n + s.nodes.length, 0)
  process.stdout.write(`${path} is valid: gateway ${config.gateway.id}, ${config.opcua.length} OPC-UA server(s) with ${nodes} node(s), ${config.mqtt.length} MQTT source(s).\n`)
  return 0
}

async function browse(args: string[]): Promise<number> {
  const endpointUrl = args.find((a) => a.startsWith('opc.tcp://'))
  if (!endpointUrl) throw new GridlineError('GRIDLINE_USAGE', `browse needs an opc.tcp:// endpoint URL.\n\n${USAGE}`)
  const userName = option(args, '--user')
  const password = option(args, '--password') ?? process.env.GRIDLINE_EDGE_OPCUA_PASSWORD
  const depth = Number(option(args, '--depth') ?? 6)
  if (!Number.isInteger(depth) || depth < 0) throw new GridlineError('GRIDLINE_USAGE', '--depth must be a whole number.')
  const variables = await browseVariables({
    endpointUrl, maxDepth: depth, secure: args.includes('--secure'),
    ...(userName ? { user: { userName, password: password ?? '' } } : {}),
  })
  if (args.includes('--yaml')) {
    process.stdout.write('nodes:\n')
    for (const v of variables) {
      process.stdout.write(`  - nodeId: "${v.nodeId}"   # ${v.path} (${v.dataType})\n    device: CHANGE-ME\n    domain: water\n    metric: CHANGE-ME\n`)
    }
  } else {
    process.stdout.write(`${'node id'.padEnd(48)} ${'data type'.padEnd(10)} browse path\n`)
    for (const v of variables) process.stdout.write(`${v.nodeId.padEnd(48)} ${v.dataType.padEnd(10)} ${v.path}\n`)
  }
  process.stderr.write(`${variables.length} variable(s).\n`)
  return 0
}

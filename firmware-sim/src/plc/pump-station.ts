import { createHash, timingSafeEqual } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy } from 'node-opcua'
import { type StationAddressSpace, buildStationAddressSpace } from './address-space.ts'
import { STATION_ID_PATTERN, pumpStationNodeIds } from './catalogue.ts'
import { LoadSignals } from './load-signals.ts'
import { type PumpStationFault, StationModel } from './station-model.ts'

export type { PumpStationFault } from './station-model.ts'

export interface PumpStationOptions {
  /** TCP port; 0 (default) picks a free one, kept across restart(). */
  port?: number
  /** Interface to listen on and host name in the endpoint URL; default 127.0.0.1. */
  host?: string
  /** Station id, the first segment of every node id; default 'ps-01'. Letters, digits, '-' and '_'. */
  stationId?: string
  /** Number of pumps, 1 to 9; default 3. */
  pumps?: number
  /** Seed of every random signal; the same seed gives the same run. Default 1. */
  seed?: number
  /** Wall-clock time between two updates; default 1000. */
  updateIntervalMs?: number
  /** Simulated seconds per real second (the day cycle and the tank run this much faster); default 1. */
  timeScale?: number
  /** Start of the simulated clock (epoch ms); default now. */
  startTimeMs?: number
  /** Where the server's certificates go (created if missing); default `data/plc-pki` under the cwd. */
  pkiDir?: string
  /** Security modes offered; default both. SignAndEncrypt uses Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss. */
  securityModes?: ('None' | 'SignAndEncrypt')[]
  /** Accounts for username/password login. */
  users?: { username: string; password: string }[]
  /** Anonymous login; default true. */
  allowAnonymous?: boolean
  /** Number of extra `Load.Vnnnn` Double variables that change on every update (load tests); default 0. */
  extraVariables?: number
}

export interface PumpStation {
  /** opc.tcp://<host>:<port>/gridline, the same after restart(). */
  readonly endpointUrl: string
  /** Logical name -> string node id, e.g. 'pump1.running' -> 'ns=1;s=ps-01.Pump1.Running'. */
  readonly nodeIds: Record<string, string>
  /** Stops updates and the server. Safe to call twice. */
  stop(): Promise<void>
  /**
   * Shuts the server down (clients lose their sessions and sockets), waits `downMs`
   * (default 500), then starts it again on the same port with the same node ids.
   * The plant keeps running meanwhile, as a real one would.
   */
  restart(downMs?: number): Promise<void>
  /** Injects a fault (they add up) or clears every fault with null. `pumpIndex` is 1-based, default 1. */
  setFault(fault: PumpStationFault | null, pumpIndex?: number): void
  /** Update rounds done, and those that failed to reach the address space (the last error is kept). */
  readonly stats: { updates: number; failedUpdates: number; lastUpdateError?: Error }
}

const RESOURCE_PATH = '/gridline'
const APPLICATION_URI = 'urn:gridline:plc-simulator'

interface ResolvedOptions {
  port: number
  host: string
  stationId: string
  pumps: number
  extraVariables: number
  pkiDir: string
  securityModes: ('None' | 'SignAndEncrypt')[]
  users: { username: string; password: string }[]
  allowAnonymous: boolean
}

/** Starts a simulated water pumping station PLC as an OPC UA server. Resolves once clients can connect. */
export async function startPumpStation(options: PumpStationOptions = {}): Promise<PumpStation> {
  const config = await resolveOptions(options)
  const updateIntervalMs = options.updateIntervalMs ?? 1000
  if (!Number.isFinite(updateIntervalMs) || updateIntervalMs < 10) {
    throw new RangeError(`updateIntervalMs must be at least 10, got ${options.updateIntervalMs}.`)
  }
  const timeScale = options.timeScale ?? 1
  if (!Number.isFinite(timeScale) || timeScale <= 0) throw new RangeError(`timeScale must be above 0, got ${options.timeScale}.`)

  const model = new StationModel({ pumps: config.pumps, seed: options.seed, startTimeMs: options.startTimeMs })
  const load = new LoadSignals(config.extraVariables, options.seed)
  let running: RunningServer | undefined = await startServer(config, model)
  running.space.publish(model.snapshot(), load.values, new Date())

  const stepS = (updateIntervalMs / 1000) * timeScale
  const stats: PumpStation['stats'] = { updates: 0, failedUpdates: 0 }
  const timer = setInterval(() => {
    // Fixed steps (not measured elapsed time) keep a run reproducible from its seed.
    model.step(stepS)
    load.step(stepS)
    try {
      running?.space.publish(model.snapshot(), load.values, new Date())
      stats.updates++
    } catch (error) {
      // One failed push must not take the simulator down; it is counted and the next one retries.
      stats.failedUpdates++
      stats.lastUpdateError = error as Error
    }
  }, updateIntervalMs)

  // Lifecycle calls run one after another, so a stop during a restart waits for it.
  let lifecycle = Promise.resolve()
  let stopped = false
  const serialise = (task: () => Promise<void>) => {
    const next = lifecycle.then(task)
    lifecycle = next.catch(() => undefined)
    return next
  }

  return {
    endpointUrl: endpointUrlFor(config),
    nodeIds: pumpStationNodeIds(config.stationId, config.pumps, config.extraVariables),
    stop: () =>
      serialise(async () => {
        if (stopped) return
        stopped = true
        clearInterval(timer)
        const current = running
        running = undefined
        await current?.stop()
      }),
    restart: (downMs = 500) =>
      serialise(async () => {
        if (stopped) throw new Error('The pump station was stopped; start a new one instead of restarting it.')
        const current = running
        running = undefined
        await current?.stop()
        await new Promise((resolve) => setTimeout(resolve, downMs))
        const next = await startServer(config, model)
        next.space.publish(model.snapshot(), load.values, new Date())
        running = next
      }),
    setFault: (fault, pumpIndex) => model.setFault(fault, pumpIndex),
    stats,
  }
}

interface RunningServer {
  space: StationAddressSpace
  stop(): Promise<void>
}

async function startServer(config: ResolvedOptions, model: StationModel): Promise<RunningServer> {
  // Fresh managers each start: a shut-down server disposes the ones it was given.
  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(config.pkiDir, 'server'),
    // A simulator trusts any client certificate; a real PLC would be told which ones.
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  })
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(config.pkiDir, 'user'),
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  })
  const modes = config.securityModes.map((mode) => (mode === 'None' ? MessageSecurityMode.None : MessageSecurityMode.SignAndEncrypt))
  const policies = [
    ...(config.securityModes.includes('None') ? [SecurityPolicy.None] : []),
    ...(config.securityModes.includes('SignAndEncrypt')
      ? [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss]
      : []),
  ]
  const server = new OPCUAServer({
    port: config.port,
    host: config.host,
    hostname: advertisedHost(config.host),
    resourcePath: RESOURCE_PATH,
    securityModes: modes,
    securityPolicies: policies,
    allowAnonymous: config.allowAnonymous,
    userManager: { isValidUser: (username: string, password: string) => checkPassword(config.users, username, password) },
    serverCertificateManager,
    userCertificateManager,
    serverInfo: {
      applicationUri: APPLICATION_URI,
      productUri: 'gridline-plc-simulator',
      applicationName: { text: `gridline PLC simulator ${config.stationId}` },
    },
    buildInfo: { productName: 'gridline PLC simulator', manufacturerName: 'gridline', softwareVersion: '0.1.0' },
  })
  try {
    await server.initialize()
    const space = buildStationAddressSpace(server, { stationId: config.stationId, pumps: config.pumps, extraVariables: config.extraVariables, model })
    await server.start()
    return {
      space,
      async stop() {
        // No grace period: the point of a restart is that clients see the server vanish.
        await server.shutdown(0)
        await serverCertificateManager.dispose()
      },
    }
  } catch (error) {
    await server.shutdown(0).catch(() => undefined)
    await serverCertificateManager.dispose().catch(() => undefined)
    throw new Error(`The PLC simulator could not start on ${config.host}:${config.port}: ${(error as Error).message}`, { cause: error })
  }
}

async function resolveOptions(options: PumpStationOptions): Promise<ResolvedOptions> {
  const stationId = options.stationId ?? 'ps-01'
  if (!STATION_ID_PATTERN.test(stationId)) {
    throw new RangeError(`stationId must be 1 to 64 letters, digits, '-' or '_' (it becomes part of node ids), got '${stationId}'.`)
  }
  const pumps = options.pumps ?? 3
  if (!Number.isInteger(pumps) || pumps < 1 || pumps > 9) throw new RangeError(`pumps must be an integer from 1 to 9, got ${options.pumps}.`)
  const extraVariables = options.extraVariables ?? 0
  if (!Number.isInteger(extraVariables) || extraVariables < 0 || extraVariables > 100_000) {
    throw new RangeError(`extraVariables must be an integer from 0 to 100000, got ${options.extraVariables}.`)
  }
  const securityModes = options.securityModes ?? ['None', 'SignAndEncrypt']
  if (securityModes.length === 0) throw new RangeError('securityModes must name at least one mode.')
  for (const mode of securityModes) {
    if (mode !== 'None' && mode !== 'SignAndEncrypt') throw new RangeError(`Unknown security mode '${String(mode)}'; use None or SignAndEncrypt.`)
  }
  const users = options.users ?? []
  const allowAnonymous = options.allowAnonymous ?? true
  if (!allowAnonymous && users.length === 0) throw new RangeError('allowAnonymous is false but no users are given: nobody could log in.')
  const host = options.host ?? '127.0.0.1'
  const requestedPort = options.port ?? 0
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65_535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${options.port}.`)
  }
  // Chosen once here rather than by the server, so restart() can come back on the same port.
  const port = requestedPort === 0 ? await findFreePort(host) : requestedPort
  const pkiDir = path.resolve(options.pkiDir ?? path.join('data', 'plc-pki'))
  await mkdir(pkiDir, { recursive: true })
  return { port, host, stationId, pumps, extraVariables, pkiDir, securityModes, users, allowAnonymous }
}

function endpointUrlFor(config: ResolvedOptions): string {
  const host = advertisedHost(config.host)
  return `opc.tcp://${host.includes(':') ? `[${host}]` : host}:${config.port}${RESOURCE_PATH}`
}

/** A wildcard listen address is no use in a URL: advertise the loopback address instead. */
function advertisedHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

function checkPassword(users: { username: string; password: string }[], username: string, password: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  // Compare digests in constant time so the check does not leak how much of a password matched.
  return users.some((user) => user.username === username && timingSafeEqual(digest(user.password), digest(password)))
}

function findFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.once('error', reject)
    probe.listen(0, host, () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

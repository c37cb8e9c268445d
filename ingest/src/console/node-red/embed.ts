import { EventEmitter } from 'node:events'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import type http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '@gridline/core'
import { type GridlineNodeRedSettings, type GridlineNodeRuntime, nodeRedNodesDir } from '@gridline/dashboards'
import { escapeHtml } from '../../html.ts'

export type { GridlineNodeRuntime }

export interface NodeRedOptions {
  /** Node-RED's own folder (flows, credentials, context): inside the service's data folder. */
  userDir: string
  /** Where the editor is mounted, `/flows`. Flows' http-in endpoints are under `${path}/api`. */
  path: string
  /** The most events per second one `gridline in` node may receive. */
  maxEventsPerSecond: number
  /** The flow file's name in userDir; `flows.json` by default. */
  flowFile?: string
  /** Called once before each start, now or on first use (the console records which database the flows run against). */
  beforeStart?: () => Promise<void>
}

export type ConsoleRole = 'viewer' | 'operator' | 'admin'

export interface NodeRedDeps {
  /** Routes are registered on it, so call embedNodeRed before listen(). */
  app: FastifyInstance
  /** The session cookie check; null without a valid session. Called for every request and websocket upgrade under `path`. */
  authorize(req: IncomingMessage): Promise<{ name: string; role: ConsoleRole } | null>
  /** What the gridline nodes call. */
  runtime: GridlineNodeRuntime
  audit(actor: string, action: string, detail: Record<string, unknown>): void
  logger: Logger
}

export interface EmbeddedNodeRed {
  /** Starts Node-RED on the service's HTTP server (after listen or before). Resolves when the editor answers; flows start right after. */
  start(server: http.Server): Promise<void>
  /**
   * Starts Node-RED on the first admin request under `path` instead of now, so
   * a service whose operators never use flows never pays for Node-RED.
   */
  startOnFirstUse(server: http.Server): void
  /** Stops the flows, closes editor websockets and detaches from the server. Safe to call twice or without start. */
  stop(): Promise<void>
}

/** The gridline node package (a Node-RED module with examples/), loaded through `nodesDir`. */
export const GRIDLINE_NODES_DIR = nodeRedNodesDir

const DEFAULT_RATE = 10
const SECRET_FILE = '.credential-secret'

/** The part of node-red's module API we use (it ships no types). */
interface RedModule {
  init(server: EventEmitter, settings: Record<string, unknown>): void
  start(): Promise<void>
  stop(): Promise<void>
  readonly httpAdmin: (req: IncomingMessage, res: ServerResponse) => void
  readonly httpNode: (req: IncomingMessage, res: ServerResponse) => void
}

interface RedLogMessage {
  level: number
  msg?: unknown
  type?: string
  id?: string
  name?: string
}

/**
 * Node-RED is one module-level singleton per process: at most one gridline
 * service may have it running at a time. It can be initialised and started
 * again after a stop (each start re-reads settings, userDir and nodes), which
 * is what the tests do.
 */
let owner: symbol | null = null

/**
 * Node-RED inside the ingest process at `options.path`, behind the console's
 * admin login (docs/node-red.md). Registers the routes now; Node-RED itself
 * is loaded and started in `start`. Node-RED never sees the real server: it
 * gets a private emitter, and only websocket upgrades that passed the login
 * are forwarded to it.
 */
export async function embedNodeRed(options: NodeRedOptions, deps: NodeRedDeps): Promise<EmbeddedNodeRed> {
  const path = normalisePath(options.path)
  const apiPath = `${path}/api`
  const log = deps.logger.child({ component: 'node-red' })
  const id = Symbol('node-red')
  let red: RedModule | null = null
  let state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle'
  let starting: Promise<void> | null = null
  let server: http.Server | null = null
  let proxy: EventEmitter | null = null
  let attached: http.Server | null = null
  let api: EmbeddedNodeRed | null = null
  const sockets = new Set<Duplex>()
  const guarded = guardRuntime(deps.runtime, options.maxEventsPerSecond)

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (state === 'starting' && starting) await starting.catch(() => undefined)
    const user = await authorizeSafely(req)
    if (!user) {
      if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
        res.writeHead(302, { location: `/#/login?next=${path}` }).end()
      } else {
        sendError(res, 401, 'GRIDLINE_UNAUTHENTICATED', 'Node-RED needs a console login as admin: log in at / first.')
      }
      return
    }
    if (user.role !== 'admin') {
      const role = user.role === 'operator' ? 'an operator' : 'a viewer'
      // A person who typed /flows gets a page that says so and leads back, an API client the JSON error.
      if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) sendForbiddenPage(res, user.name, user.role)
      else sendError(res, 403, 'GRIDLINE_FORBIDDEN', `Only admins may open Node-RED; ${user.name} is ${role}.`)
      return
    }
    if (state === 'idle' && attached && api) {
      try {
        await api.start(attached)
      } catch (err) {
        log.error({ err }, 'Node-RED could not start on first use.')
        sendError(res, 503, 'GRIDLINE_SHUTTING_DOWN', `Node-RED could not start: ${(err as Error).message}`)
        return
      }
    }
    if (state !== 'running' || !red) {
      sendError(res, 503, 'GRIDLINE_SHUTTING_DOWN', 'Node-RED is not running in this service (nodeRed.enabled, or the service is stopping).')
      return
    }
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const pathname = query === -1 ? url : url.slice(0, query)
    if (pathname === path) {
      // The editor loads its assets relative to the page: it must be at `${path}/`.
      res.writeHead(301, { location: `${path}/${query === -1 ? '' : url.slice(query)}` }).end()
      return
    }
    if (req.method === 'POST' && pathname === `${path}/flows`) {
      const deploymentType = String(req.headers['node-red-deployment-type'] ?? 'full')
      res.once('finish', () => {
        deps.audit(user.name, 'flows.deploy', { deploymentType, status: res.statusCode, ok: res.statusCode < 400 })
      })
    }
    // Express apps mounted at a prefix see the URL without it, as app.use(prefix, app) would do.
    if (pathname === apiPath || pathname.startsWith(`${apiPath}/`)) {
      req.url = url.slice(apiPath.length) || '/'
      red.httpNode(req, res)
    } else {
      req.url = url.slice(path.length) || '/'
      red.httpAdmin(req, res)
    }
  }

  const authorizeSafely = async (req: IncomingMessage) => {
    try {
      return await deps.authorize(req)
    } catch (err) {
      // Deny by default: a session store that fails must not open the editor.
      log.error({ err }, 'Checking the session for Node-RED failed; the request is refused.')
      return null
    }
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = (req.url ?? '/').split('?')[0]!
    if (pathname !== path && !pathname.startsWith(`${path}/`)) {
      // With any 'upgrade' listener Node leaves unclaimed sockets open: refuse them when nobody else listens.
      if (server && server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found')
      return
    }
    void authorizeSafely(req).then((user) => {
      if (!user) return refuseUpgrade(socket, 401, 'Unauthorized')
      if (user.role !== 'admin') return refuseUpgrade(socket, 403, 'Forbidden')
      if (state !== 'running' || !proxy) return refuseUpgrade(socket, 503, 'Service Unavailable')
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      proxy.emit('upgrade', req, socket, head)
    })
  }

  deps.app.register(async (scope) => {
    // Node-RED's express apps read the bodies themselves (deploys are JSON up to
    // 5 MB, http-in nodes take anything): fastify must leave the stream unread.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined))
    const handler = (req: FastifyRequest, reply: FastifyReply): void => {
      reply.hijack()
      dispatch(req.raw, reply.raw).catch((err: unknown) => {
        log.error({ err, url: req.raw.url }, 'A Node-RED request failed.')
        if (!reply.raw.headersSent) sendError(reply.raw, 500, 'GRIDLINE_INTERNAL', 'Node-RED could not answer this request; see the service log.')
        else reply.raw.destroy()
      })
    }
    scope.all(path, handler)
    scope.all(`${path}/*`, handler)
  })

  async function startNodeRed(httpServer: http.Server): Promise<void> {
    if (owner !== null && owner !== id) {
      throw new Error('Node-RED is already running for another gridline service in this process (it is a process-wide singleton): stop that service first.')
    }
    owner = id
    await options.beforeStart?.()
    const began = performance.now()
    const heapBefore = process.memoryUsage().heapUsed
    mkdirSync(options.userDir, { recursive: true })
    const credentialSecret = readOrCreateSecret(options.userDir, log)
    // Loaded on first start only: a service with Node-RED disabled never pays for it.
    red = createRequire(import.meta.url)('node-red') as RedModule
    proxy = new EventEmitter()
    const gridline: GridlineNodeRedSettings = { runtime: guarded.runtime, maxEventsPerSecond: options.maxEventsPerSecond }
    red.init(proxy, {
      userDir: options.userDir,
      flowFile: options.flowFile ?? 'flows.json',
      credentialSecret,
      httpAdminRoot: path,
      httpNodeRoot: apiPath,
      nodesDir: [GRIDLINE_NODES_DIR],
      // No adminAuth: the console login in front of every request is the only gate.
      logging: { gridline: { level: nodeRedLevel(log), metrics: false, audit: false, handler: () => (msg: RedLogMessage) => forwardLog(log, msg) } },
      editorTheme: {
        page: { title: 'gridline flows' },
        header: { title: 'gridline flows' },
        palette: { editable: false },
        projects: { enabled: false },
        tours: false,
        multiplayer: { enabled: false },
      },
      externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
      functionExternalModules: false,
      diagnostics: { enabled: false, ui: false },
      telemetry: { enabled: false },
      runtimeState: { enabled: false },
      gridline,
    })
    await red.start()
    server = httpServer
    httpServer.on('upgrade', onUpgrade)
    state = 'running'
    log.info(
      { startupMs: Math.round(performance.now() - began), heapDeltaMb: Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e5) / 10, path },
      'Node-RED started.',
    )
  }

  api = {
    startOnFirstUse(httpServer) {
      attached = httpServer
    },
    async start(httpServer) {
      if (state === 'running' || state === 'starting') return starting ?? undefined
      state = 'starting'
      starting = startNodeRed(httpServer).catch((err: unknown) => {
        state = 'idle'
        if (owner === id) owner = null
        throw new Error(`Node-RED did not start: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      })
      return starting
    },
    async stop() {
      attached = null
      if (state === 'starting' && starting) await starting.catch(() => undefined)
      if (state !== 'running') return
      state = 'stopping'
      server?.off('upgrade', onUpgrade)
      server = null
      guarded.closeAll()
      try {
        await red?.stop()
      } finally {
        for (const socket of sockets) socket.destroy()
        sockets.clear()
        proxy?.removeAllListeners()
        proxy = null
        state = 'idle'
        starting = null
        if (owner === id) owner = null
        log.info('Node-RED stopped.')
      }
    },
  }
  return api
}

/**
 * The runtime as the nodes see it: the rate is clamped here (a flow cannot ask
 * the hub for more than the service allows, nor for 0, which would mean no
 * limit), and open subscriptions are tracked so stop() ends them all.
 */
function guardRuntime(runtime: GridlineNodeRuntime, maxRate: number): { runtime: GridlineNodeRuntime; closeAll(): void } {
  const open = new Set<{ unsubscribe(): void }>()
  return {
    runtime: {
      subscribe(filter, handler, onClose) {
        const asked = Number(filter.maxEventsPerSecond)
        const rate = Math.min(asked > 0 ? asked : DEFAULT_RATE, maxRate)
        let subscription: { unsubscribe(): void } | null = null
        subscription = runtime.subscribe({ ...filter, maxEventsPerSecond: rate }, handler, (reason) => {
          if (subscription) open.delete(subscription)
          onClose(reason)
        })
        const tracked = {
          unsubscribe() {
            open.delete(tracked)
            subscription?.unsubscribe()
          },
        }
        open.add(tracked)
        return tracked
      },
      raiseAlarm: (input, actor) => runtime.raiseAlarm(input, nodeActor(actor)),
      clearAlarm: (input, actor) => runtime.clearAlarm(input, nodeActor(actor)),
      sendCommand: (input, actor) => runtime.sendCommand(input, nodeActor(actor)),
      ...(runtime.lookupDevice ? { lookupDevice: runtime.lookupDevice.bind(runtime) } : {}),
    },
    closeAll() {
      for (const subscription of [...open]) subscription.unsubscribe()
    },
  }
}

/** Whatever a flow passes, the audit log shows it came from Node-RED. */
function nodeActor(actor: string): string {
  return typeof actor === 'string' && actor.startsWith('node-red:') ? actor : `node-red:${String(actor)}`
}

function normalisePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '')
  if (!trimmed.startsWith('/') || trimmed === '') throw new Error(`nodeRed path must start with / and not be the root, got '${path}'.`)
  return trimmed
}

/**
 * Node-RED encrypts flow credentials with this. Without one it generates a key,
 * stores it in .config.runtime.json and prints a warning; a file of our own,
 * readable only by the service's user, keeps it out of logs and settings.
 */
function readOrCreateSecret(userDir: string, log: Logger): string {
  const file = join(userDir, SECRET_FILE)
  try {
    writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 })
    log.info({ file }, 'Created the Node-RED credential secret.')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`Could not create the Node-RED credential secret ${file}: check the data folder's permissions.`, { cause: err })
    if ((statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600)
      log.warn({ file }, 'The Node-RED credential secret was readable by others; its mode is now 0600.')
    }
  }
  const secret = readFileSync(file, 'utf8').trim()
  if (secret.length < 16) throw new Error(`The Node-RED credential secret ${file} is shorter than 16 characters: restore it from a backup (flow credentials are encrypted with it).`)
  return secret
}

function nodeRedLevel(log: Logger): string {
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
  return levels.includes(log.level) ? log.level : 'fatal'
}

function forwardLog(log: Logger, msg: RedLogMessage): void {
  const node = msg.type ? { nodeType: msg.type, nodeId: msg.id, nodeName: msg.name } : {}
  const raw = msg.msg
  const text = raw instanceof Error ? raw.message : typeof raw === 'string' ? raw : JSON.stringify(raw)
  const line = `Node-RED: ${text}`
  const obj = raw instanceof Error ? { ...node, err: raw } : node
  if (msg.level <= 20) log.error(obj, line)
  else if (msg.level <= 30) log.warn(obj, line)
  else if (msg.level <= 40) log.info(obj, line)
  else log.debug(obj, line)
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: { code, message } }))
}

const ROLE_VI: Record<string, string> = { operator: 'người vận hành', viewer: 'người xem' }

/** The 403 page for a console user who is not an admin (English and Vietnamese, as the console speaks both). */
function sendForbiddenPage(res: ServerResponse, name: string, role: string): void {
  const who = escapeHtml(name)
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Node-RED: admins only · gridline</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2933}h1{font-size:1.4rem}a{color:#0b5cad}p.vi{color:#52606d}</style>
</head><body>
<h1>Node-RED is for administrators</h1>
<p>You are logged in as <strong>${who}</strong>, ${role === 'operator' ? 'an operator' : 'a viewer'}. Flows can be opened and changed by admins only; ask one if a flow needs changing.</p>
<p lang="vi" class="vi">Node-RED chỉ dành cho quản trị viên. Bạn đang đăng nhập là <strong>${who}</strong> (${ROLE_VI[role] ?? escapeHtml(role)}).</p>
<p><a href="/">Back to the console</a> · <a href="/" lang="vi">Quay lại bảng điều khiển</a></p>
</body></html>`
  res.writeHead(403, { 'content-type': 'text/html; charset=utf-8' }).end(html)
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  if (!socket.writable) return void socket.destroy()
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

import { type ChildProcess, fork } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/** A request from the bench to one of its child processes. */
export interface Request {
  id: number
  command: string
  body?: unknown
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

/** Every child the bench has started and not yet seen exit, so an abort can end them all. */
const liveChildren = new Set<ChildProcess>()
/** Set once the run is being aborted: no new child may start after that. */
let aborting = false

/**
 * Stops every child still running and refuses new ones: SIGTERM, then
 * SIGKILL for any that has not exited after `graceMs`. Used on abort (Ctrl-C)
 * and as the last step of every run; the normal path stops each child with
 * its own `stop` request first.
 */
export async function killAllChildren(graceMs = 3_000, refuseNew = false): Promise<void> {
  if (refuseNew) aborting = true
  const children = [...liveChildren]
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((child) => waitForExit(child, graceMs).then((exited) => {
    if (!exited) child.kill('SIGKILL')
  })))
}

/** Registers a child spawned elsewhere (psql) so that killAllChildren reaches it too. */
export function trackChild(child: ChildProcess): void {
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
  if (aborting) child.kill('SIGKILL')
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/** Where the children's stderr goes: one log file per run, each line prefixed with the child's name. */
export class ChildLog {
  private readonly stream: WriteStream
  private linesWritten = 0
  /** pino lines at warn (40) or above, per child name, so the report can say whether the service complained. */
  readonly complaints = new Map<string, { warnings: number; errors: number; first: string[] }>()

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'a' })
  }

  attach(name: string, child: ChildProcess): void {
    let partial = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) this.line(name, line)
    })
    child.stderr?.on('end', () => {
      if (partial) this.line(name, partial)
      partial = ''
    })
  }

  /** Counts of complaints logged by children whose name starts with `prefix`. */
  complaintsOf(prefix: string): { warnings: number; errors: number; first: string[] } {
    const total = { warnings: 0, errors: 0, first: [] as string[] }
    for (const [name, c] of this.complaints) {
      if (!name.startsWith(prefix)) continue
      total.warnings += c.warnings
      total.errors += c.errors
      total.first.push(...c.first)
    }
    total.first = total.first.slice(0, 5)
    return total
  }

  /** Closes the file; resolves with false (and removes it) when no child wrote anything. */
  async close(): Promise<boolean> {
    await new Promise<void>((resolve) => this.stream.end(resolve))
    if (this.lines > 0) return true
    await rm(this.path, { force: true })
    return false
  }

  /** Lines written so far, all children together. */
  get lines(): number {
    return this.linesWritten
  }

  private line(name: string, line: string): void {
    this.linesWritten++
    this.stream.write(`[${name}] ${line}\n`)
    const level = pinoLevel(line)
    if (level === undefined || level < 40) return
    let c = this.complaints.get(name)
    if (!c) this.complaints.set(name, (c = { warnings: 0, errors: 0, first: [] }))
    if (level >= 50) c.errors++
    else c.warnings++
    if (c.first.length < 5) c.first.push(line.slice(0, 400))
  }
}

/** The pino level of a JSON log line; lines that are not pino JSON (a stack trace) count as errors. */
function pinoLevel(line: string): number | undefined {
  if (line.trim() === '') return undefined
  if (!line.startsWith('{')) return 50
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level
    return typeof level === 'number' ? level : 50
  } catch {
    return 50
  }
}

/**
 * The children's environment. Under `gridline bench profile` the profiled
 * process runs with clinic's hooks in NODE_OPTIONS; the load generators it
 * starts must not inherit them, or they would be profiled too (and skew the
 * profile with their own CPU).
 */
function childEnv(): NodeJS.ProcessEnv {
  if (process.env.GRIDLINE_BENCH_PROFILE_TARGET !== '1') return process.env
  const { NODE_OPTIONS: _hooks, GRIDLINE_BENCH_PROFILE_TARGET: _flag, ...rest } = process.env
  return rest
}

/**
 * A child process running one of the bench's entry files under tsx, spoken
 * to by request/reply over IPC. Requests time out; a child that exits rejects
 * whatever it still owed.
 */
export class ChildHandle {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  private exitReason: Error | undefined

  private constructor(readonly name: string, private readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id)
      if (!waiter) return
      this.pending.delete(message.id)
      clearTimeout(waiter.timer)
      if (message.ok) waiter.resolve(message.result)
      else waiter.reject(new Error(`${name}: ${message.error}`))
    })
    child.on('exit', (code, signal) => this.fail(new Error(`${name} exited (code ${code}, signal ${signal}); see the run's log file`)))
    // A failed spawn or a write to a child that just died (EPIPE) arrives here, not as an exception.
    child.on('error', (err) => this.fail(new Error(`${name}: ${err.message}`, { cause: err })))
  }

  private fail(reason: Error): void {
    this.exitReason ??= reason
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer)
      waiter.reject(this.exitReason)
    }
    this.pending.clear()
  }

  /** Forks `entry` (a .ts file beside this one) with the tsx loader; stderr goes to `log`. */
  static start(name: string, entry: string, args: string[], log: ChildLog, nodeOptions: string[] = []): ChildHandle {
    if (aborting) throw new Error(`not starting ${name}: the run is being stopped`)
    const file = fileURLToPath(new URL(entry, import.meta.url))
    const child = fork(file, args, {
      execArgv: ['--import', import.meta.resolve('tsx'), ...nodeOptions],
      // Advanced serialization carries typed arrays (latency samples) without a JSON detour.
      serialization: 'advanced',
      env: childEnv(),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    trackChild(child)
    log.attach(name, child)
    return new ChildHandle(name, child)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get exited(): boolean {
    return this.exitReason !== undefined
  }

  request<T>(command: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.exitReason) return Promise.reject(this.exitReason)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name} did not answer "${command}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ id, command, body } satisfies Request, (err) => {
        if (err) this.fail(new Error(`${this.name}: sending "${command}" failed: ${err.message}`, { cause: err }))
      })
    })
  }

  /** Sends the child a signal (SIGKILL: the kill -9 checks) and resolves once it has exited. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    this.child.kill(signal)
    if (!(await waitForExit(this.child, 10_000))) throw new Error(`${this.name} did not exit within 10 s of ${signal}`)
  }

  /** Asks the child to finish (its `stop` handler), then makes sure it has exited. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.exitReason) return
    await this.request('stop', undefined, timeoutMs).catch(() => undefined)
    if (!(await waitForExit(this.child, 2_000))) {
      this.child.kill('SIGKILL')
      await waitForExit(this.child, 2_000)
    }
  }
}

/**
 * The child side: answers requests with `handlers`, and leaves when the bench
 * goes away. Ctrl-C reaches the whole process group; children ignore it and
 * wait for the bench to stop them in order (or for the IPC channel to close).
 */
export function serveRequests(handlers: Record<string, (body: unknown) => Promise<unknown>>, onParentGone: () => Promise<void>): void {
  process.on('SIGINT', () => undefined)
  process.on('message', (message: Request) => {
    const handler = handlers[message.command]
    const answer = handler
      ? handler(message.body)
      : Promise.reject(new Error(`unknown command "${message.command}"`))
    // After answering `stop` the child leaves at once: a library timer left behind must not keep it alive.
    const leaveIfStopped = () => {
      if (message.command === 'stop') process.exit(0)
    }
    answer.then(
      (result) => process.send?.({ id: message.id, ok: true, result } satisfies Reply, leaveIfStopped),
      (err: Error) => process.send?.({ id: message.id, ok: false, error: err.stack ?? String(err) } satisfies Reply, leaveIfStopped),
    )
  })
  process.on('disconnect', () => {
    const forced = setTimeout(() => process.exit(1), 5_000)
    forced.unref()
    onParentGone().finally(() => process.exit(0))
  })
}

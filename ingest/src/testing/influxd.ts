import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A real InfluxDB 1.x (Debian's `influxdb` package, `influxd` 1.6.7) for a
 * test or a benchmark: its own data folder and free ports, so it never meets
 * an influxd the machine already runs. `stop` and `start` again keep its data
 * (an outage); `destroy` removes it.
 */
export interface Influxd {
  url: string
  port: number
  /** POST /query (1.x InfluxQL); resolves with the JSON answer. */
  query(q: string, db?: string): Promise<InfluxQueryResult>
  stop(): Promise<void>
  start(): Promise<void>
  destroy(): Promise<void>
  /** CPU time (user + system, ms) the running influxd has used since it started (Linux /proc); NaN when not running. */
  cpuMs(): number
}

export interface InfluxQueryResult {
  results: { series?: { name: string; columns: string[]; values: unknown[][] }[]; error?: string }[]
}

export const INFLUXD_BIN = process.env.GRIDLINE_INFLUXD ?? 'influxd'

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export async function startInfluxd(): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'gridline-influxd-'))
  const [port, rpc] = [await freePort(), await freePort()]
  writeFileSync(join(dir, 'influxdb.conf'), `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`)
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let output = ''
  const start = async () => {
    child = spawn(INFLUXD_BIN, ['run', '-config', join(dir, 'influxdb.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4_000) })
    child.stderr!.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4_000) })
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`influxd exited with ${code}: ${output}`))))
    const deadline = Date.now() + 20_000
    for (;;) {
      const up = await Promise.race([fetch(`${url}/ping`).then((r) => r.status === 204, () => false), exited])
      if (up) break
      if (Date.now() > deadline) throw new Error(`influxd did not answer /ping within 20 s: ${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    exited.catch(() => undefined)
  }
  const stop = async () => {
    const c = child
    child = undefined
    if (!c || c.exitCode !== null) return
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve())
      c.kill('SIGTERM')
    })
  }
  await start()
  return {
    url,
    port,
    async query(q, db) {
      const body = new URLSearchParams({ q, epoch: 'ms', ...(db ? { db } : {}) })
      const res = await fetch(`${url}/query`, { method: 'POST', body })
      return await res.json() as InfluxQueryResult
    },
    stop,
    start,
    cpuMs() {
      if (!child?.pid) return NaN
      try {
        // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime and stime, in clock ticks (100 a second).
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
        return (Number(fields[11]) + Number(fields[12])) * 10
      } catch {
        return NaN
      }
    },
    async destroy() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

import { spawn } from 'node:child_process'
import { type AddressInfo, createServer } from 'node:net'
import type { Pool } from 'pg'

// Shared by this folder's integration tests: a free port for a broker of
// their own, mosquitto_pub as the publisher gridline did not write, and
// polling the telemetry table.

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** mosquitto_pub at QoS 1 (`args`: host, port, version, TLS, login), each of `lines` one message (-l). */
export async function mosquittoPub(args: string[], topic: string, lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('mosquitto_pub', ['-q', '1', '-t', topic, '-l', ...args])
    let err = ''
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}: ${err}`))))
    child.stdin.end(lines.join('\n') + '\n')
  })
}

/** The device's telemetry rows once there are `atLeast` (or what there is after `ms`). */
export async function storedRows(pool: Pool, device: string, atLeast: number, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    const n = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [device])).rows[0]!.n)
    if (n >= atLeast || Date.now() > deadline) return n
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

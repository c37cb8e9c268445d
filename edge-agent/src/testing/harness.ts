import { mkdtemp, rm } from 'node:fs/promises'
import { type Server, type Socket, createServer, connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestDatabase } from '../../../test/support.ts'

export { type CapturedReading, startCaptureBroker } from './capture-broker.ts'
export { openssl } from './openssl.ts'

/**
 * The password tests give the gateway when they register it with the ingest
 * service (cli/src/edge-testing.ts: the agent never imports the service).
 */
export const GATEWAY_PASSWORD = 'gateway secret for tests'

/**
 * A TCP proxy between the agent and the ingest service that a test can cut
 * (every connection is destroyed and new ones are closed at once) and
 * restore, and point at another port (a restarted service).
 */
export class CuttableProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private cut = false
  port = 0

  constructor(private targetPort: number) {}

  async start(): Promise<number> {
    const server = createServer((inbound) => {
      if (this.cut) return inbound.destroy()
      const outbound = netConnect(this.targetPort, '127.0.0.1')
      this.sockets.add(inbound)
      this.sockets.add(outbound)
      const close = () => {
        inbound.destroy()
        outbound.destroy()
        this.sockets.delete(inbound)
        this.sockets.delete(outbound)
      }
      inbound.on('error', close).on('close', close)
      outbound.on('error', close).on('close', close)
      inbound.pipe(outbound)
      outbound.pipe(inbound)
    })
    this.server = server
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    this.port = (server.address() as { port: number }).port
    return this.port
  }

  cutLink(): void {
    this.cut = true
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
  }

  restore(): void {
    this.cut = false
  }

  retarget(port: number): void {
    this.targetPort = port
  }

  async stop(): Promise<void> {
    this.cutLink()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

export async function temporaryDir(prefix = 'gridline-edge-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** A minimal valid agent config; tests override what they need. */
export function baseConfig(dataDir: string, uplinkPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gateway: { id: 'gw-edge-1' },
    dataDir,
    uplink: { url: `mqtt://127.0.0.1:${uplinkPort}`, password: GATEWAY_PASSWORD, reconnectMinMs: 50, reconnectMaxMs: 300, keepaliveSec: 5, connectTimeoutMs: 2000 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    ...extra,
  }
}

/** Rows per device: count, distinct seqs, lowest and highest seq, and whether time order equals seq order. */
export async function deviceRows(db: TestDatabase, device: string): Promise<{ rows: number; distinctSeq: number; minSeq: number; maxSeq: number; backfilled: number; ordered: boolean }> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS rows, count(DISTINCT seq)::int AS distinct_seq, min(seq)::int AS min_seq, max(seq)::int AS max_seq,
            count(*) FILTER (WHERE flags & 2 = 2)::int AS backfilled
       FROM telemetry WHERE device_id = $1`, [device])
  const order = await db.pool.query(
    `SELECT count(*)::int AS out_of_order FROM (
       SELECT seq, lag(seq) OVER (PARTITION BY metric ORDER BY time) AS previous FROM telemetry WHERE device_id = $1
     ) t WHERE previous IS NOT NULL AND seq <= previous`, [device])
  const r = rows[0]
  return { rows: r.rows, distinctSeq: r.distinct_seq, minSeq: r.min_seq, maxSeq: r.max_seq, backfilled: r.backfilled, ordered: order.rows[0].out_of_order === 0 }
}

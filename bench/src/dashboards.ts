import pg from 'pg'
import { UserStore, pgSqlClient } from '@gridline/ingest'

export const BENCH_VIEWER = { name: 'bench-viewer', password: 'bench-viewer-password' } as const

/** Adds the console login the dashboards use (a viewer, as an operation centre's wall screens are). */
export async function addBenchViewer(databaseUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  try {
    await new UserStore(pgSqlClient(pool)).add({ name: BENCH_VIEWER.name, password: BENCH_VIEWER.password, role: 'viewer' }, { replace: true })
  } finally {
    await pool.end()
  }
}

export interface DashboardStats {
  dashboards: number
  streams: number
  /** Server-sent events received over all streams. */
  events: number
  bytes: number
  /** Streams that ended before stop() (dropped by the server or failed). */
  ended: number
}

/**
 * Open operator dashboards, as the web app opens them: each one an overview
 * page (GET /api/overview, then the `overview,alarm` stream) and a device page
 * following one device (GET /api/devices/:id and its hour of pm25, then the
 * `reading,command` stream at 10 points per second). Every event is read and
 * counted, as a browser would; nothing is drawn.
 */
export function openDashboards(httpPort: number, count: number, deviceIds: readonly string[]): Promise<{ stop(): Promise<DashboardStats> }> {
  return openConsoleClients(httpPort, count, (i) => {
    const device = deviceIds[i % deviceIds.length]!
    return {
      gets: ['/api/overview', `/api/devices/${device}`, `/api/devices/${device}/series?metric=temperature&range=1h`],
      streams: ['/api/live?kinds=overview,alarm', `/api/live?kinds=reading,command&devices=${encodeURIComponent(device)}&rate=10`],
    }
  })
}

/**
 * Open map pages (`#/map`), as the web app opens one: GET /api/map (every
 * placed device, the snapshot), then the `map` stream, read throughout. The
 * service refreshes the map's rows once a second while any map stream is open.
 */
export function openMapPages(httpPort: number, count: number): Promise<{ stop(): Promise<DashboardStats> }> {
  return openConsoleClients(httpPort, count, () => ({ gets: ['/api/map'], streams: ['/api/live?kinds=map'] }))
}

/** Logs in as the bench viewer; each client makes its requests (read whole), then follows its streams until stop(). */
async function openConsoleClients(httpPort: number, count: number, clientOf: (i: number) => { gets: string[]; streams: string[] }): Promise<{ stop(): Promise<DashboardStats> }> {
  const base = `http://127.0.0.1:${httpPort}`
  const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ username: BENCH_VIEWER.name, password: BENCH_VIEWER.password }) })
  if (!login.ok) throw new Error(`dashboards: login failed with ${login.status}: ${await login.text()}`)
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
  const headers = { cookie }
  const stats: DashboardStats = { dashboards: count, streams: 0, events: 0, bytes: 0, ended: 0 }
  const controller = new AbortController()
  const readers: Promise<void>[] = []
  const follow = async (path: string): Promise<void> => {
    const res = await fetch(`${base}${path}`, { headers, signal: controller.signal })
    if (!res.ok || !res.body) throw new Error(`dashboards: ${path} answered ${res.status}`)
    stats.streams++
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        stats.bytes += chunk.byteLength
        // One event per blank line; "data:" lines start each one.
        for (let i = 0; i + 1 < chunk.length; i++) if (chunk[i] === 10 && chunk[i + 1] === 10) stats.events++
      }
      stats.ended++
    } catch (err) {
      if (!controller.signal.aborted) {
        stats.ended++
        throw err
      }
    }
  }
  for (let i = 0; i < count; i++) {
    const { gets, streams } = clientOf(i)
    for (const path of gets) {
      const res = await fetch(`${base}${path}`, { headers })
      if (!res.ok) throw new Error(`dashboards: GET ${path} answered ${res.status}`)
      await res.arrayBuffer()
    }
    for (const path of streams) readers.push(follow(path))
  }
  return {
    async stop() {
      controller.abort()
      await Promise.allSettled(readers)
      return stats
    },
  }
}

import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { GridlineError } from '@gridline/core'

/**
 * Reads device passwords: lines `id,password` (blank lines and # comments
 * ignored), or JSON, either `{"id": "password"}` or `[{"id": ..., "password": ...}]`.
 */
export function readCredentials(path: string): Map<string, string> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GridlineError('GRIDLINE_USAGE', `Cannot read the credentials file ${path}: ${(err as Error).message}`, { cause: err })
  }
  const credentials = new Map<string, string>()
  const trimmed = text.trim()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const data = JSON.parse(trimmed) as unknown
    const pairs = Array.isArray(data)
      ? data.map((d: { id?: unknown; password?: unknown }) => [d.id, d.password])
      : Object.entries(data as Record<string, unknown>)
    for (const [id, password] of pairs) {
      if (typeof id !== 'string' || typeof password !== 'string') throw new GridlineError('GRIDLINE_USAGE', `${path}: every entry needs a string id and password.`)
      credentials.set(id, password)
    }
    return credentials
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim()
    if (!l || l.startsWith('#')) return
    const comma = l.indexOf(',')
    if (comma <= 0) throw new GridlineError('GRIDLINE_USAGE', `${path} line ${i + 1}: expected "id,password".`)
    credentials.set(l.slice(0, comma).trim(), l.slice(comma + 1))
  })
  return credentials
}

/** Writes `id,password` lines readable only by the owner. */
export function writeCredentials(path: string, credentials: ReadonlyMap<string, string>): void {
  const lines = ['# gridline sim credentials: id,password', ...[...credentials].map(([id, pw]) => `${id},${pw}`)]
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 })
}

export const generatePassword = (): string => randomBytes(18).toString('base64url')

/**
 * Registers devices in the `devices` table (DeviceStore.addMany), giving
 * existing ids the new password. Hashing is scrypt, tens of milliseconds per
 * device by design, so large fleets go in chunks with progress.
 */
export async function registerDevices(
  databaseUrl: string,
  devices: { id: string; domain: string; password: string; metadata?: Record<string, unknown> }[],
  onProgress: (done: number) => void = () => undefined,
): Promise<void> {
  const [{ DeviceStore, pgSqlClient }, { default: pg }] = await Promise.all([import('@gridline/ingest'), import('pg')])
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  try {
    const store = new DeviceStore(pgSqlClient(pool))
    for (let i = 0; i < devices.length; i += 200) {
      await store.addMany(devices.slice(i, i + 200), { replaceCredentials: true })
      onProgress(Math.min(devices.length, i + 200))
    }
  } catch (err) {
    if (err instanceof GridlineError) throw err
    throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', `Registering the devices failed: ${(err as Error).message}`, { cause: err })
  } finally {
    await pool.end()
  }
}

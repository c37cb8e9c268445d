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

/** A device to register, with the password it will log in with. */
export interface DeviceRegistration {
  id: string
  domain: string
  password: string
  metadata?: Record<string, unknown>
}

/**
 * Registers devices in the ingest service's `devices` table, giving existing
 * ids the new password; `onProgress` gets the count done so far. The
 * simulator cannot register devices itself (it depends only on the wire
 * contract): its caller, the `gridline` command, passes the implementation
 * (cli/src/register-devices.ts, over ingest's DeviceStore).
 */
export type RegisterDevices = (
  databaseUrl: string,
  devices: DeviceRegistration[],
  onProgress?: (done: number) => void,
) => Promise<void>

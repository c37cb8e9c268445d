import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type pg from 'pg'

/**
 * Which database a Node-RED user folder's flows were made for, kept beside
 * the flows as `.gridline-database.json`. Flows act on one city's devices,
 * alarms and commands: a service that finds flows made against another
 * database (the demo's, say) does not start them by itself.
 */
export interface DatabaseIdentity {
  /** PostgreSQL's cluster identifier (`pg_control_system()`): differs between servers, stays across restarts and port changes. */
  systemIdentifier: string
  /** The database's name in that cluster. */
  database: string
}

export const IDENTITY_FILE = '.gridline-database.json'

/** The identity of the database `pool` is connected to. */
export async function databaseIdentity(pool: pg.Pool): Promise<DatabaseIdentity> {
  const { rows } = await pool.query<{ system_identifier: string; database: string }>(
    'SELECT system_identifier::text AS system_identifier, current_database() AS database FROM pg_control_system()',
  )
  return { systemIdentifier: rows[0]!.system_identifier, database: rows[0]!.database }
}

/** The identity recorded in `userDir`; undefined when none was recorded (or it cannot be read). */
export function readIdentity(userDir: string): DatabaseIdentity | undefined {
  const file = join(userDir, IDENTITY_FILE)
  if (!existsSync(file)) return undefined
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<DatabaseIdentity>
    if (typeof v.systemIdentifier === 'string' && typeof v.database === 'string') return { systemIdentifier: v.systemIdentifier, database: v.database }
  } catch {
    // An unreadable file is treated as a foreign one by the caller (it does not match).
    return { systemIdentifier: 'unreadable', database: 'unreadable' }
  }
  return { systemIdentifier: 'unreadable', database: 'unreadable' }
}

/** Records that the flows in `userDir` belong to `identity`. */
export function writeIdentity(userDir: string, identity: DatabaseIdentity): void {
  mkdirSync(userDir, { recursive: true })
  writeFileSync(join(userDir, IDENTITY_FILE), `${JSON.stringify(identity)}\n`)
}

export function sameIdentity(a: DatabaseIdentity, b: DatabaseIdentity): boolean {
  return a.systemIdentifier === b.systemIdentifier && a.database === b.database
}

export function describeIdentity(i: DatabaseIdentity): string {
  return `database "${i.database}" on the PostgreSQL cluster ${i.systemIdentifier}`
}

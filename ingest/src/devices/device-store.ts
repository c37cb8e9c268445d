import { GridlineError, type Principal } from '@gridline/core'
import { DEVICE_ID_PATTERN, defaultCatalogue } from '@gridline/schemas'
import type { SqlClient } from '../storage/sql-client.ts'
import { locationProblem } from './location.ts'
import { generatePassword, hashPassword } from './passwords.ts'

/**
 * device: publishes its own telemetry; gateway: publishes for devices behind
 * it; integration: a login for systems that subscribe to event topics
 * (alarms) and publish nothing.
 */
export type DeviceKind = 'device' | 'gateway' | 'integration'
export const DEVICE_KINDS: readonly DeviceKind[] = ['device', 'gateway', 'integration']

/**
 * How a device logs in over MQTT: `password` (username + password), `cert`
 * (a client certificate naming it, over TLS; no password), or `both` (either).
 */
export type DeviceAuth = 'password' | 'cert' | 'both'
export const DEVICE_AUTHS: readonly DeviceAuth[] = ['password', 'cert', 'both']

export interface DeviceRecord {
  id: string
  kind: DeviceKind
  auth: DeviceAuth
  domain: string | null
  gateway: string | null
  credentialsHash: string | null
  metadata: Record<string, unknown>
  createdAt: Date
}

/** The principal a registered login acts as, for every source. */
export function principalOf(device: DeviceRecord): Principal {
  return device.kind === 'device'
    ? { kind: 'device', id: device.id, domain: device.domain ?? '' }
    : { kind: device.kind, id: device.id }
}

export interface AddDeviceInput {
  id: string
  kind?: DeviceKind
  domain?: string
  gateway?: string
  /** Default `password`. A `cert` device has no password. */
  auth?: DeviceAuth
  /** Generated (and returned once) when absent, unless `auth` is `cert`. */
  password?: string
  metadata?: Record<string, unknown>
}

interface DeviceRow {
  id: string
  kind: DeviceKind
  auth: DeviceAuth
  domain: string | null
  gateway: string | null
  credentials_hash: string | null
  metadata: Record<string, unknown>
  created_at: Date
}

const toRecord = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  kind: r.kind,
  auth: r.auth,
  domain: r.domain,
  gateway: r.gateway,
  credentialsHash: r.credentials_hash,
  metadata: r.metadata,
  createdAt: r.created_at,
})

/** The `devices` table: registration, listing and removal of devices and gateways. */
export class DeviceStore {
  constructor(private readonly db: SqlClient) {}

  /** Registers a device and returns the plain password (null for `auth: cert`), which is shown once and never stored. */
  async add(input: AddDeviceInput): Promise<{ device: DeviceRecord; password: string | null }> {
    const kind = input.kind ?? 'device'
    const auth = input.auth ?? 'password'
    if (!DEVICE_AUTHS.includes(auth)) throw new GridlineError('GRIDLINE_USAGE', `--auth must be one of ${DEVICE_AUTHS.join(', ')}.`)
    if (auth === 'cert' && input.password !== undefined) {
      throw new GridlineError('GRIDLINE_USAGE', 'A device with --auth cert logs in with its certificate and has no password; use --auth both for either.')
    }
    if (!DEVICE_ID_PATTERN.test(input.id)) {
      throw new GridlineError('GRIDLINE_USAGE', `Device id "${input.id}" must match ${DEVICE_ID_PATTERN.source}.`)
    }
    if (kind === 'device') {
      if (!input.domain) throw new GridlineError('GRIDLINE_USAGE', 'A device needs --domain.')
      if (!defaultCatalogue().hasDomain(input.domain)) {
        const known = [...defaultCatalogue().domains.keys()].join(', ')
        throw new GridlineError('GRIDLINE_USAGE', `Domain "${input.domain}" is not in the catalogue (${known}).`)
      }
    }
    const where = input.metadata ? locationProblem(input.metadata) : null
    if (where) throw new GridlineError('GRIDLINE_USAGE', `${where}.`)
    if (kind !== 'device' && input.gateway !== undefined) {
      throw new GridlineError('GRIDLINE_USAGE', `A ${kind} cannot sit behind a gateway.`)
    }
    if (input.gateway !== undefined) {
      const gw = await this.get(input.gateway)
      if (!gw || gw.kind !== 'gateway') {
        throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `Gateway "${input.gateway}" is not registered; add it first with --kind gateway.`)
      }
    }
    const password = auth === 'cert' ? null : input.password ?? generatePassword()
    const hash = password === null ? null : await hashPassword(password)
    try {
      const { rows } = await this.db.query<DeviceRow>(
        `INSERT INTO devices (id, kind, domain, gateway, credentials_hash, metadata, auth)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [input.id, kind, input.domain ?? null, input.gateway ?? null, hash, JSON.stringify(input.metadata ?? {}), auth],
      )
      return { device: toRecord(rows[0]!), password }
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new GridlineError('GRIDLINE_DEVICE_EXISTS', `Device "${input.id}" is already registered.`, { cause: err })
      }
      throw err
    }
  }

  /**
   * Registers many devices in one statement (simulated fleets, bulk imports).
   * Every device gets its own hash. Existing ids are left untouched unless
   * `replaceCredentials` is set, which gives them the new password and merges
   * the given metadata into theirs (the given keys win).
   */
  async addMany(inputs: (AddDeviceInput & { password: string })[], options: { replaceCredentials?: boolean } = {}): Promise<number> {
    if (inputs.length === 0) return 0
    const hashes = await Promise.all(inputs.map((d) => hashPassword(d.password)))
    const { rows } = await this.db.query<{ n: string }>(
      `WITH ins AS (
         INSERT INTO devices (id, kind, domain, gateway, credentials_hash, metadata)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
         ON CONFLICT (id) DO ${options.replaceCredentials ? 'UPDATE SET credentials_hash = EXCLUDED.credentials_hash, metadata = devices.metadata || EXCLUDED.metadata' : 'NOTHING'}
         RETURNING 1)
       SELECT count(*) AS n FROM ins`,
      [
        inputs.map((d) => d.id),
        inputs.map((d) => d.kind ?? 'device'),
        inputs.map((d) => d.domain ?? null),
        inputs.map((d) => d.gateway ?? null),
        hashes,
        inputs.map((d) => JSON.stringify(d.metadata ?? {})),
      ],
    )
    return Number(rows[0]?.n ?? 0)
  }

  /**
   * Registers devices that write only through a gateway (a source's
   * `autoRegister`): no password of their own, so they cannot log in, and
   * behind `gateway`, which must be registered. Ids already registered are
   * left as they are. Returns the ids this call registered.
   */
  async addBehindGateway(devices: { id: string; metadata?: Record<string, unknown> }[], domain: string, gateway: string): Promise<string[]> {
    if (devices.length === 0) return []
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO devices (id, kind, domain, gateway, credentials_hash, metadata, auth)
       SELECT d.id, 'device', $2, $3, NULL, d.metadata, 'password'
       FROM unnest($1::text[], $4::jsonb[]) AS d(id, metadata)
       WHERE EXISTS (SELECT 1 FROM devices g WHERE g.id = $3 AND g.kind = 'gateway')
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [devices.map((d) => d.id), domain, gateway, devices.map((d) => JSON.stringify(d.metadata ?? {}))],
    )
    return rows.map((r) => r.id)
  }

  async get(id: string): Promise<DeviceRecord | undefined> {
    const { rows } = await this.db.query<DeviceRow>('SELECT * FROM devices WHERE id = $1', [id])
    return rows[0] ? toRecord(rows[0]) : undefined
  }

  async list(): Promise<DeviceRecord[]> {
    const { rows } = await this.db.query<DeviceRow>('SELECT * FROM devices ORDER BY id')
    return rows.map(toRecord)
  }

  /**
   * Sets a device's metadata (district, road segment, metered area, circuit,
   * free-flow speed: docs/indicators.md). Merges into what is there unless
   * `replace`; a key set to null is removed. Connections stay open: metadata
   * is not part of what authorizes them.
   */
  async setMetadata(id: string, metadata: Record<string, unknown>, options: { replace?: boolean } = {}): Promise<DeviceRecord> {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new GridlineError('GRIDLINE_USAGE', 'Device metadata must be a JSON object.')
    }
    const where = locationProblem(metadata)
    if (where) throw new GridlineError('GRIDLINE_USAGE', `${where}.`)
    const { rows } = await this.db.query<DeviceRow>(
      `UPDATE devices SET metadata = jsonb_strip_nulls(CASE WHEN $3 THEN $2::jsonb ELSE metadata || $2::jsonb END)
       WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(metadata), options.replace === true],
    )
    if (!rows[0]) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `Device "${id}" is not registered.`)
    return toRecord(rows[0])
  }

  async remove(id: string): Promise<void> {
    let rows: unknown[]
    try {
      rows = (await this.db.query('DELETE FROM devices WHERE id = $1 RETURNING id', [id])).rows
    } catch (err) {
      if ((err as { code?: string }).code === '23503') {
        throw new GridlineError('GRIDLINE_USAGE', `Gateway "${id}" still has devices behind it; remove or move them first.`, { cause: err })
      }
      throw err
    }
    if (rows.length === 0) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `Device "${id}" is not registered.`)
  }
}

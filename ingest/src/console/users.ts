import { createHash, randomBytes } from 'node:crypto'
import { GridlineError } from '@gridline/core'
import { hashPassword, verifyPassword } from '../devices/passwords.ts'
import type { SqlClient } from '../storage/sql-client.ts'

export type Role = 'viewer' | 'operator' | 'admin'
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin']
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** True when `role` may do what `needed` may (viewer < operator < admin). */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed]
}

export interface ConsoleUser {
  name: string
  role: Role
  createdAt: Date
  lastLoginAt: Date | null
}

export const USER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
export const MIN_PASSWORD_LENGTH = 10

interface UserRow {
  name: string
  password_hash: string
  role: Role
  created_at: Date
  last_login_at: Date | null
}

const toUser = (r: UserRow): ConsoleUser => ({ name: r.name, role: r.role, createdAt: r.created_at, lastLoginAt: r.last_login_at })

/**
 * Console users (operators and their roles). Passwords are kept as scrypt
 * hashes, as device secrets are; the plain password is never stored or logged.
 */
export class UserStore {
  constructor(private readonly db: SqlClient) {}

  /** Adds a user, or with `replace` sets an existing user's password and role. */
  async add(input: { name: string; password: string; role: Role }, options: { replace?: boolean } = {}): Promise<ConsoleUser> {
    if (!USER_NAME_PATTERN.test(input.name)) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', `User name "${input.name}" must be 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.`)
    }
    if (!ROLES.includes(input.role)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `Role must be one of ${ROLES.join(', ')}.`)
    if (typeof input.password !== 'string' || input.password.length < MIN_PASSWORD_LENGTH) {
      throw new GridlineError('GRIDLINE_BAD_REQUEST', `A password needs at least ${MIN_PASSWORD_LENGTH} characters.`)
    }
    const hash = await hashPassword(input.password)
    if (options.replace) {
      const existing = await this.get(input.name)
      if (existing?.role === 'admin' && input.role !== 'admin') await this.assertAnotherAdmin(input.name)
      const { rows } = await this.db.query<UserRow>(
        `INSERT INTO console_users (name, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role RETURNING *`,
        [input.name, hash, input.role],
      )
      // New credentials end the sessions opened with the old ones.
      await this.db.query('DELETE FROM console_sessions WHERE user_name = $1', [input.name])
      return toUser(rows[0]!)
    }
    try {
      const { rows } = await this.db.query<UserRow>('INSERT INTO console_users (name, password_hash, role) VALUES ($1, $2, $3) RETURNING *', [input.name, hash, input.role])
      return toUser(rows[0]!)
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new GridlineError('GRIDLINE_USER_EXISTS', `User "${input.name}" already exists.`, { cause: err })
      throw err
    }
  }

  async get(name: string): Promise<ConsoleUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM console_users WHERE name = $1', [name])
    return rows[0] ? toUser(rows[0]) : undefined
  }

  async list(): Promise<ConsoleUser[]> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM console_users ORDER BY name')
    return rows.map(toUser)
  }

  /** Removes a user and, by cascade, their sessions. The last admin stays. */
  async remove(name: string): Promise<void> {
    const user = await this.get(name)
    if (!user) throw new GridlineError('GRIDLINE_USER_NOT_FOUND', `No user is named "${name}".`)
    if (user.role === 'admin') await this.assertAnotherAdmin(name)
    await this.db.query('DELETE FROM console_users WHERE name = $1', [name])
  }

  /** The user when the password is right; undefined otherwise (also for an unknown name, after the same work). */
  async verify(name: string, password: string): Promise<ConsoleUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM console_users WHERE name = $1', [name])
    const row = rows[0]
    // Hash even for an unknown name, so the answer's timing does not tell which names exist.
    const ok = await verifyPassword(password, row?.password_hash ?? await unknownUserHash())
    if (!row || !ok) return undefined
    await this.db.query('UPDATE console_users SET last_login_at = now() WHERE name = $1', [name])
    return toUser(row)
  }

  private async assertAnotherAdmin(name: string): Promise<void> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM console_users WHERE role = 'admin' AND name <> $1`, [name])
    if (Number(rows[0]!.n) === 0) throw new GridlineError('GRIDLINE_LAST_ADMIN', `"${name}" is the last admin; add another admin first.`)
  }
}

/** A valid scrypt hash of a random secret, checked against when a name is unknown; made on first use. */
let dummyHash: Promise<string> | undefined
const unknownUserHash = (): Promise<string> => (dummyHash ??= hashPassword(randomBytes(16).toString('hex')))

export interface Session {
  user: { name: string; role: Role }
  expiresAt: number
}

export interface SessionOptions {
  /** A session ends this long after its last use. */
  idleTtlMs: number
  /** ... and at the latest this long after login. */
  maxAgeMs: number
}

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

/**
 * Login sessions: a random 32-byte token in an HttpOnly cookie, its SHA-256
 * in `console_sessions`. Lookups are cached for a second, so a burst of API
 * calls from one page costs one query; removing a user or logging out is
 * therefore seen by other processes within a second.
 */
export class SessionStore {
  private readonly cache = new Map<string, { session: Session | null; until: number }>()
  private lastSweep = 0

  constructor(private readonly db: SqlClient, private readonly options: SessionOptions) {}

  async open(user: ConsoleUser): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url')
    const now = Date.now()
    const expiresAt = Math.min(now + this.options.idleTtlMs, now + this.options.maxAgeMs)
    await this.db.query(
      `INSERT INTO console_sessions (token_hash, user_name, created_at, last_used_at, expires_at)
       VALUES ($1, $2, to_timestamp($3 / 1000.0), to_timestamp($3 / 1000.0), to_timestamp($4 / 1000.0))`,
      [hashToken(token), user.name, now, expiresAt],
    )
    await this.sweep(now)
    return { token, session: { user: { name: user.name, role: user.role }, expiresAt } }
  }

  /** The session for a token, sliding its expiry; null when unknown or expired. */
  async resolve(token: string | undefined): Promise<Session | null> {
    if (!token || token.length > 100) return null
    const now = Date.now()
    const key = hashToken(token)
    const cached = this.cache.get(key)
    if (cached && cached.until > now) return cached.session && cached.session.expiresAt > now ? cached.session : null
    const { rows } = await this.db.query<{ name: string; role: Role; created_at: Date; expires_at: Date }>(
      `UPDATE console_sessions s
          SET last_used_at = now(),
              expires_at = LEAST(now() + make_interval(secs => $2 / 1000.0), s.created_at + make_interval(secs => $3 / 1000.0))
         FROM console_users u
        WHERE s.token_hash = $1 AND u.name = s.user_name AND s.expires_at > now()
        RETURNING u.name, u.role, s.created_at, s.expires_at`,
      [key, this.options.idleTtlMs, this.options.maxAgeMs],
    )
    const row = rows[0]
    const session = row ? { user: { name: row.name, role: row.role }, expiresAt: row.expires_at.getTime() } : null
    if (this.cache.size > 10_000) this.cache.clear()
    this.cache.set(key, { session, until: now + 1_000 })
    return session
  }

  async close(token: string | undefined): Promise<void> {
    if (!token) return
    const key = hashToken(token)
    this.cache.delete(key)
    await this.db.query('DELETE FROM console_sessions WHERE token_hash = $1', [key])
  }

  /** Forgets cached lookups (after a user was removed or changed in this process). */
  forget(): void {
    this.cache.clear()
  }

  private async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < 60_000) return
    this.lastSweep = now
    await this.db.query('DELETE FROM console_sessions WHERE expires_at < now()')
  }
}

export interface LoginThrottlePolicy {
  /** The sliding window the limits count in. */
  windowMs: number
  /** Failed logins for one name from one address (the main limit: a stranger elsewhere cannot use it up). */
  perPair: number
  /** Failed logins from one address, whatever the names (password spraying). */
  perAddress: number
  /** Failed logins for one name from all addresses (many addresses guessing one password); addresses this name logged in from before are exempt. */
  perAccount: number
}

export const LOGIN_THROTTLE_DEFAULTS: LoginThrottlePolicy = { windowMs: 5 * 60_000, perPair: 5, perAddress: 20, perAccount: 100 }

/** One login being checked: its slot in each count, given back if the password was right. */
export interface LoginAttempt {
  readonly name: string
  readonly address: string
  readonly at: number
}

export type LoginAdmission = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfterMs: number; scope: 'pair' | 'address' | 'account' }

const MAX_KEYS = 10_000

/**
 * Failed console logins, counted per (name, address), per address and per
 * name in a sliding window (docs/dashboards.md#login-throttle). `admit` counts
 * the attempt before the password is checked, synchronously, so concurrent
 * guesses cannot all pass the gate: at most the limit are ever checked. A
 * login that succeeds gives its slots back and makes its address known for
 * the name; a known address is not held to the per-name limit, so a flood of
 * guesses for an operator's name from elsewhere does not lock the operator
 * out on their own machine.
 */
export class LoginThrottle {
  private readonly pairs = new Map<string, number[]>()
  private readonly addresses = new Map<string, number[]>()
  private readonly accounts = new Map<string, number[]>()
  private readonly known = new Map<string, number>()
  private readonly policy: LoginThrottlePolicy

  constructor(policy: Partial<LoginThrottlePolicy> = {}) {
    this.policy = { ...LOGIN_THROTTLE_DEFAULTS, ...policy }
  }

  /** Counts one attempt for `name` from `address`, or says how long to wait. */
  admit(name: string, address: string, now = Date.now()): LoginAdmission {
    const pair = `${address} ${name}`
    const { perPair, perAddress, perAccount } = this.policy
    const checks: Array<[Map<string, number[]>, string, number, 'pair' | 'address' | 'account']> = [
      [this.pairs, pair, perPair, 'pair'],
      [this.addresses, address, perAddress, 'address'],
    ]
    if (!this.known.has(pair)) checks.push([this.accounts, name, perAccount, 'account'])
    for (const [map, key, limit, scope] of checks) {
      const recent = this.recent(map, key, now)
      if (recent.length >= limit) return { ok: false, retryAfterMs: Math.max(1, recent[recent.length - limit]! + this.policy.windowMs - now), scope }
    }
    for (const [map, key] of [[this.pairs, pair], [this.addresses, address], [this.accounts, name]] as const) this.push(map, key, now)
    return { ok: true, attempt: { name, address, at: now } }
  }

  /** The password was right: the attempt's slots are given back, the pair's failures forgotten, the address known for the name. */
  succeeded(attempt: LoginAttempt): void {
    const pair = `${attempt.address} ${attempt.name}`
    this.pairs.delete(pair)
    this.release(this.addresses, attempt.address, attempt.at)
    this.release(this.accounts, attempt.name, attempt.at)
    this.known.delete(pair)
    this.known.set(pair, attempt.at)
    if (this.known.size > MAX_KEYS) this.known.delete(this.known.keys().next().value!)
  }

  /** Milliseconds until `name` may try again from `address` without counting an attempt; 0 when it may now. */
  retryAfterMs(name: string, address: string, now = Date.now()): number {
    const pair = `${address} ${name}`
    const waits = [
      this.wait(this.pairs, pair, this.policy.perPair, now),
      this.wait(this.addresses, address, this.policy.perAddress, now),
      this.known.has(pair) ? 0 : this.wait(this.accounts, name, this.policy.perAccount, now),
    ]
    return Math.max(...waits)
  }

  private wait(map: Map<string, number[]>, key: string, limit: number, now: number): number {
    const recent = this.recent(map, key, now)
    return recent.length >= limit ? Math.max(1, recent[recent.length - limit]! + this.policy.windowMs - now) : 0
  }

  private recent(map: Map<string, number[]>, key: string, now: number): number[] {
    const times = map.get(key)
    if (!times) return []
    const kept = times.filter((t) => now - t < this.policy.windowMs)
    if (kept.length === 0) map.delete(key)
    else if (kept.length !== times.length) map.set(key, kept)
    return kept
  }

  private push(map: Map<string, number[]>, key: string, now: number): void {
    const times = this.recent(map, key, now)
    times.push(now)
    map.set(key, times)
    if (map.size > MAX_KEYS) map.delete(map.keys().next().value!)
  }

  private release(map: Map<string, number[]>, key: string, at: number): void {
    const times = map.get(key)
    const i = times?.indexOf(at) ?? -1
    if (times && i >= 0) times.splice(i, 1)
  }
}

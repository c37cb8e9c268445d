import type { IncomingMessage } from 'node:http'
import type { Principal } from '@gridline/core'
import { AuthThrottle, DEFAULT_AUTH_THROTTLE } from '../../devices/auth-throttle.ts'
import { type DeviceRecord, principalOf } from '../../devices/device-store.ts'
import type { LiveDeviceDirectory } from '../../devices/directory.ts'
import { type TokenVerifier, looksLikeToken } from '../../devices/tokens.ts'
import { certificateLogin } from '../../transport/certificate-identity.ts'

/** What a request presented. */
export type Credentials =
  | { kind: 'password'; user: string; secret: string }
  | { kind: 'token'; token: string; user?: string }
  | { kind: 'none' }

/** How a login attempt ended: the principal, or why not (the answer's status and text). */
export type AuthOutcome =
  | { ok: true; principal: Principal | null; login: string }
  | { ok: false; status: 401 | 429; reason: 'missing_credentials' | 'bad_credentials' | 'throttled' | 'certificate_mismatch' | 'certificate_unregistered' | 'password_not_allowed'; retryAfterMs?: number }

/**
 * The credentials of a request, as InfluxDB clients and the airrohr firmware
 * send them: `Authorization: Token <t>` (InfluxDB 1.x and 2.x), `Bearer <t>`,
 * `Basic <id:password>` (a password that is a token is taken as one), or the
 * 1.x query parameters `u` and `p`.
 */
export function credentialsOf(req: IncomingMessage, query: URLSearchParams, allowQuery: boolean): Credentials {
  const header = req.headers.authorization
  if (header) {
    const space = header.indexOf(' ')
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase()
    const value = space < 0 ? '' : header.slice(space + 1).trim()
    if ((scheme === 'token' || scheme === 'bearer') && value) return { kind: 'token', token: value }
    if (scheme === 'basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon > 0) return secretOf(decoded.slice(0, colon), decoded.slice(colon + 1))
    }
    return { kind: 'none' }
  }
  if (allowQuery) {
    const u = query.get('u')
    const p = query.get('p')
    if (u && p) return secretOf(u, p)
  }
  return { kind: 'none' }
}

/**
 * An API token in a header of the configured name (The Things Stack's webhook
 * "additional headers", for a sender that cannot set Authorization): the
 * token alone, or `Bearer <token>` / `Token <token>`.
 */
export function tokenInHeader(req: IncomingMessage, name: string): Credentials {
  const raw = req.headers[name.toLowerCase()]
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim()
  if (!value) return { kind: 'none' }
  const token = value.replace(/^(?:bearer|token)\s+/i, '').trim()
  return token ? { kind: 'token', token } : { kind: 'none' }
}

function secretOf(user: string, secret: string): Credentials {
  return looksLikeToken(secret) ? { kind: 'token', token: secret, user } : { kind: 'password', user, secret }
}

/**
 * Logins over HTTP: a device's id and password (checked by the registry,
 * which skips scrypt for a secret that verified before, so a device posting
 * every few seconds costs a hash), or an API token. Failures go through the
 * same guessing throttle as MQTT logins (per id and address, per address,
 * per id), so a throttled guess is refused before any check.
 */
export class HttpAuth {
  private readonly throttle = new AuthThrottle(DEFAULT_AUTH_THROTTLE)

  constructor(
    private readonly mode: 'devices' | 'none',
    private readonly registry: LiveDeviceDirectory,
    private readonly tokens: TokenVerifier,
  ) {}

  /**
   * `certificate`: the device ids a verified client certificate names (over
   * TLS with `tls.caFile`), or null. With one, a request with no credentials
   * logs in as the certificate's device (registered for `cert` or `both`
   * login), and a Basic login must be a device the certificate names, as over
   * MQTT (docs/protocol.md#connecting-over-tls). An API token is its own login.
   */
  async login(credentials: Credentials, address: string, certificate: string[] | null = null): Promise<AuthOutcome> {
    if (this.mode === 'none') return { ok: true, principal: null, login: credentials.kind === 'password' ? credentials.user : address }
    if (certificate !== null && credentials.kind !== 'token') {
      const decided = certificateLogin(certificate, credentials.kind === 'password' ? credentials.user : undefined, credentials.kind === 'password', (id) => this.registry.get(id))
      if (decided.outcome === 'accept') return { ok: true, principal: principalOf(decided.device), login: decided.device.id }
      if (decided.outcome === 'refuse') return { ok: false, status: 401, reason: decided.reason }
    }
    if (credentials.kind === 'none') return { ok: false, status: 401, reason: 'missing_credentials' }
    // A token is counted under its public part, a password under the id it claims.
    const key = credentials.kind === 'token' ? `token:${credentials.token.slice(0, 16)}` : credentials.user
    const verdict = this.throttle.admit(key, address)
    if (!verdict.allowed) return { ok: false, status: 429, reason: 'throttled', retryAfterMs: verdict.retryInMs }
    let device: DeviceRecord | undefined
    if (credentials.kind === 'token') {
      const login = await this.tokens.verify(credentials.token)
      device = login === undefined || (credentials.user !== undefined && credentials.user !== '' && credentials.user !== login) ? undefined : this.registry.get(login)
    } else {
      device = await this.registry.authenticate(credentials.user, credentials.secret)
    }
    if (!device) {
      this.throttle.failure(key, address, verdict)
      return { ok: false, status: 401, reason: 'bad_credentials' }
    }
    this.throttle.success(key, address)
    return { ok: true, principal: principalOf(device), login: device.id }
  }
}

/**
 * Requests per second per login (a token bucket each), bounded in memory:
 * the least recently refilled logins go first past `maxEntries`.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly maxEntries = 100_000, private readonly now: () => number = Date.now) {}

  /** 0 when the request may go ahead, else the milliseconds until it could. */
  take(login: string): number {
    if (this.perSecond <= 0) return 0
    const now = this.now()
    let bucket = this.buckets.get(login)
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond)
      bucket.at = now
      // Most recently used last, so the oldest is first to go.
      this.buckets.delete(login)
      this.buckets.set(login, bucket)
    } else {
      bucket = { tokens: this.burst, at: now }
      if (this.buckets.size >= this.maxEntries) this.buckets.delete(this.buckets.keys().next().value!)
      this.buckets.set(login, bucket)
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - bucket.tokens) / this.perSecond) * 1000)
  }
}

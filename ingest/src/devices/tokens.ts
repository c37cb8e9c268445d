import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { GridlineError, type SqlClient } from '@gridline/core'

/**
 * API tokens (docs/http-ingest.md#api-tokens): a gateway or integration
 * login writes over HTTP with a token instead of its password, the way
 * InfluxDB clients send `Authorization: Token ...`. A token is
 * `glt_<id>_<secret>`: the id is public (listed, revoked by), the secret is
 * 192 random bits, shown once and stored only as its SHA-256 digest. A slow
 * hash buys nothing for a secret with that much entropy (as GitHub's and
 * InfluxDB's tokens); it would only make every request pay for it.
 */
export const TOKEN_MIGRATIONS = [{
  version: 42,
  name: 'api tokens',
  sql: `
CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  login text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  digest bytea NOT NULL,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_tokens_login_idx ON api_tokens (login);
`,
}]

export interface TokenRecord {
  id: string
  login: string
  description: string
  createdAt: Date
  revokedAt: Date | null
}

const TOKEN_PATTERN = /^glt_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/

/** Whether a secret has a token's shape (so a password field holding one is taken as a token). */
export const looksLikeToken = (secret: string): boolean => secret.startsWith('glt_')

const digestOf = (secret: string): Buffer => createHash('sha256').update(secret).digest()

/** The `api_tokens` table: create (the token shown once), list, revoke. */
export class TokenStore {
  constructor(private readonly db: SqlClient) {}

  async create(login: string, description = ''): Promise<{ token: string; record: TokenRecord }> {
    const { rows: logins } = await this.db.query<{ kind: string }>('SELECT kind FROM devices WHERE id = $1', [login])
    if (logins.length === 0) throw new GridlineError('GRIDLINE_DEVICE_NOT_FOUND', `No login "${login}" is registered; add it first (gridline devices add ${login} --kind gateway).`)
    const id = randomBytes(6).toString('hex')
    const secret = randomBytes(24).toString('base64url')
    const { rows } = await this.db.query<TokenRow>(
      'INSERT INTO api_tokens (id, login, digest, description) VALUES ($1, $2, $3, $4) RETURNING id, login, description, created_at, revoked_at',
      [id, login, digestOf(secret), description],
    )
    return { token: `glt_${id}_${secret}`, record: toRecord(rows[0]!) }
  }

  async list(): Promise<TokenRecord[]> {
    const { rows } = await this.db.query<TokenRow>('SELECT id, login, description, created_at, revoked_at FROM api_tokens ORDER BY login, created_at')
    return rows.map(toRecord)
  }

  /** Revokes a token; it is refused everywhere within TOKEN_CACHE_MS. */
  async revoke(id: string): Promise<void> {
    const { rows } = await this.db.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id', [id])
    if (rows.length === 0) throw new GridlineError('GRIDLINE_USAGE', `No live token with id "${id}" (gridline tokens list).`)
  }

  /** The stored digest and login of a live token, for the verifier. */
  async find(id: string): Promise<{ login: string; digest: Buffer } | undefined> {
    const { rows } = await this.db.query<{ login: string; digest: Buffer }>('SELECT login, digest FROM api_tokens WHERE id = $1 AND revoked_at IS NULL', [id])
    return rows[0]
  }
}

/** How long a token's lookup (found or not) is trusted; a revocation takes effect within it. */
export const TOKEN_CACHE_MS = 10_000
const MAX_CACHED = 10_000

/**
 * Checks tokens on the request path: one query per token id per
 * TOKEN_CACHE_MS at most, then a digest comparison in constant time. Ids not
 * found are cached too, so a flood of made-up tokens costs no queries beyond
 * the first of each id (and the throttle in front counts them as failures).
 */
export class TokenVerifier {
  private readonly cache = new Map<string, { entry: { login: string; digest: Buffer } | undefined; at: number }>()

  constructor(private readonly store: Pick<TokenStore, 'find'>, private readonly now: () => number = Date.now) {}

  /** The login a token belongs to, or undefined (malformed, unknown, revoked, wrong secret). */
  async verify(token: string): Promise<string | undefined> {
    const match = TOKEN_PATTERN.exec(token)
    const given = digestOf(match?.[2] ?? token)
    if (!match) return undefined
    const id = match[1]!
    let cached = this.cache.get(id)
    if (!cached || this.now() - cached.at > TOKEN_CACHE_MS) {
      cached = { entry: await this.store.find(id), at: this.now() }
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!)
      this.cache.set(id, cached)
    }
    const entry = cached.entry
    if (!entry || !timingSafeEqual(entry.digest, given)) return undefined
    return entry.login
  }
}

interface TokenRow {
  id: string
  login: string
  description: string
  created_at: Date
  revoked_at: Date | null
}

const toRecord = (r: TokenRow): TokenRecord => ({ id: r.id, login: r.login, description: r.description, createdAt: r.created_at, revokedAt: r.revoked_at })

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

// scrypt parameters [RFC 7914]: N=2^14, r=8, p=1 costs ~16 MiB and tens of
// milliseconds per check, which is what a device connect can afford.
const N = 16_384
const R = 8
const P = 1
const KEY_BYTES = 32

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/** Hashes a device secret as `scrypt$N$r$p$salt$key` (base64). The secret itself is never stored. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scryptAsync(password, salt, N, R, P)
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** Constant-time check of a secret against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  const salt = Buffer.from(parts[4]!, 'base64')
  const expected = Buffer.from(parts[5]!, 'base64')
  const actual = await scryptAsync(password, salt, n, r, p)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

let dummy: Promise<string> | undefined

/**
 * A hash of a random secret, made once, with the same parameters as real
 * ones: checking an unknown id against it costs what a known id costs.
 */
export function dummyHash(): Promise<string> {
  return (dummy ??= hashPassword(randomBytes(24).toString('base64url')))
}

/** Shortest device password accepted by `gridline devices add --password` (docs/protocol.md#passwords). */
export const MIN_PASSWORD_LENGTH = 12

/**
 * Why a device password chosen by hand is too weak, or null when it is strong
 * enough: at least MIN_PASSWORD_LENGTH characters, and not a single repeated
 * character. Length is what counts against guessing; the generated default
 * (32 random URL-safe characters, 192 bits) passes.
 */
export function passwordWeakness(password: string): string | null {
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH) return `a device password needs at least ${MIN_PASSWORD_LENGTH} characters (this one has ${length}); leave out --password to get a random one`
  if (new Set(password).size < 4) return 'a device password needs at least 4 different characters; leave out --password to get a random one'
  return null
}

/** A random secret for a device: 24 bytes, URL-safe. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url')
}

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

/** A random secret for a device: 24 bytes, URL-safe. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url')
}

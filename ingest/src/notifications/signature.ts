import { createHmac, timingSafeEqual } from 'node:crypto'

/** The header that signs a webhook body (docs/notifications.md#signature). */
export const SIGNATURE_HEADER = 'x-gridline-signature'
/** How old a signature's timestamp may be before a receiver should refuse it. */
export const DEFAULT_TOLERANCE_SECONDS = 300

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the scheme Stripe
 * uses: the timestamp is signed with the body, so a captured request cannot
 * be replayed once the receiver's window has passed. Each attempt is signed
 * afresh, with the time it is sent.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmacHex(secret, unixSeconds, body)}`
}

function hmacHex(secret: string, unixSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')
}

/**
 * What a receiver does (and the tests do): true when one v1 value is the
 * HMAC of `t.body` and t is within `toleranceSeconds` of now.
 */
export function verifySignature(secret: string, body: string, header: string | undefined, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): boolean {
  if (!header) return false
  let t: number | undefined
  const v1: string[] = []
  for (const part of header.split(',')) {
    const [k, v] = part.split('=', 2)
    if (k === 't' && v && /^\d+$/.test(v)) t = Number(v)
    else if (k === 'v1' && v) v1.push(v)
  }
  if (t === undefined || Math.abs(nowSeconds - t) > toleranceSeconds) return false
  const expected = Buffer.from(hmacHex(secret, t, body), 'hex')
  return v1.some((v) => {
    const got = Buffer.from(v, 'hex')
    return got.length === expected.length && timingSafeEqual(got, expected)
  })
}

import http from 'node:http'
import https from 'node:https'
import { AddressRefused, checkLiteralHost, guardedLookup } from './address-guard.ts'
import type { WebhookEndpoint } from './config.ts'
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts'

/** The outcome of one attempt: delivered, or why not (kept on the delivery as its last error). */
export type AttemptResult = { ok: true; status: number } | { ok: false; status?: number; reason: string; retryAfterMs?: number }

const MAX_RESPONSE_BYTES = 64 * 1024

/**
 * POSTs one signed body. 2xx is delivered; anything else (3xx included:
 * redirects are not followed, they could lead to an internal address), a
 * refused connection, a refused address or the timeout is a failed attempt.
 */
export function postWebhook(endpoint: WebhookEndpoint, secret: string, body: string, idempotencyKey: string, deliveryId: string, now = Date.now()): Promise<AttemptResult> {
  const url = new URL(endpoint.url)
  try {
    checkLiteralHost(url, endpoint.allowPrivateNetwork)
  } catch (err) {
    return Promise.resolve({ ok: false, reason: `address_refused: ${(err as Error).message}` })
  }
  const headers: Record<string, string> = {
    ...endpoint.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'user-agent': 'gridline-notifications/1',
    'idempotency-key': idempotencyKey,
    'x-gridline-delivery': deliveryId,
    [SIGNATURE_HEADER]: signatureHeader(secret, body, Math.floor(now / 1000)),
  }
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve) => {
    let settled = false
    const done = (r: AttemptResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(r)
    }
    const req = client.request(url, { method: 'POST', headers, lookup: guardedLookup(endpoint.allowPrivateNetwork) as never, agent: false }, (res) => {
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_RESPONSE_BYTES) res.destroy()
      })
      const finish = () => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) return done({ ok: true, status })
        const retryAfter = Number(res.headers['retry-after'])
        done({ ok: false, status, reason: `http_${status}`, ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}) })
      }
      res.on('end', finish)
      res.on('close', finish)
      res.on('error', finish)
    })
    const timer = setTimeout(() => {
      req.destroy()
      done({ ok: false, reason: `timeout: no complete response within ${endpoint.timeoutMs} ms` })
    }, endpoint.timeoutMs)
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof AddressRefused) return done({ ok: false, reason: `address_refused: ${err.message}` })
      done({ ok: false, reason: `${err.code ?? 'error'}: ${err.message}`.slice(0, 500) })
    })
    req.end(body)
  })
}

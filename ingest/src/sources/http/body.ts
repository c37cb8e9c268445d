import type { IncomingMessage } from 'node:http'
import { createGunzip } from 'node:zlib'

/** Why a body could not be read; each is answered with its own status. */
export class BodyError extends Error {
  constructor(readonly status: 400 | 408 | 413 | 415, readonly code: 'invalid' | 'request too large' | 'unsupported media type' | 'request timeout', message: string) {
    super(message)
  }
}

/**
 * Reads a request body into one Buffer, undoing `Content-Encoding: gzip`,
 * never holding more than `maxBytes` of it: a Content-Length over the limit
 * is refused before a byte is read, and a body (or a gzip bomb) that grows
 * past it while arriving is cut there. Bad gzip is a 400, another encoding a
 * 415. A body cut by the server's request timeout rejects with 408.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > maxBytes && encodingOf(req) === 'identity') {
      return reject(new BodyError(413, 'request too large', `the body is ${declared} bytes, the limit is ${maxBytes} (maxBodyBytes)`))
    }
    const encoding = encodingOf(req)
    if (encoding !== 'identity' && encoding !== 'gzip') {
      return reject(new BodyError(415, 'unsupported media type', `Content-Encoding "${encoding.slice(0, 40)}" is not supported; send gzip or none`))
    }
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const fail = (err: BodyError) => {
      if (settled) return
      settled = true
      chunks.length = 0
      reject(err)
    }
    const source = encoding === 'gzip' ? req.pipe(createGunzip()) : req
    source.on('data', (chunk: Buffer) => {
      if (settled) return
      size += chunk.length
      if (size > maxBytes) {
        fail(new BodyError(413, 'request too large', `the body is over ${maxBytes} bytes${encoding === 'gzip' ? ' once gunzipped' : ''} (maxBodyBytes)`))
        if (source !== req) source.destroy()
        return
      }
      chunks.push(chunk)
    })
    source.on('end', () => {
      if (settled) return
      settled = true
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    })
    source.on('error', (err: NodeJS.ErrnoException) => {
      fail(source !== req && err.code?.startsWith('Z_') ? new BodyError(400, 'invalid', `the body is not valid gzip: ${err.message}`) : new BodyError(400, 'invalid', `the body could not be read: ${err.message}`))
    })
    req.on('aborted', () => fail(new BodyError(408, 'request timeout', 'the body did not arrive in time')))
    req.on('close', () => {
      if (!req.complete) fail(new BodyError(408, 'request timeout', 'the connection closed before the body was complete'))
    })
  })
}

function encodingOf(req: IncomingMessage): string {
  const value = req.headers['content-encoding']
  return value === undefined || value === '' ? 'identity' : value.trim().toLowerCase()
}

import { type Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import { type ExportRequest, exportCopySql } from './export-query.ts'

/**
 * RFC 4180 ends records with CRLF; PostgreSQL's CSV writer ends them with LF.
 * Turns every LF outside a quoted field into CRLF (a newline inside a quoted
 * cell stays as it is), carrying the quote state across chunks.
 */
export function crlfRecords(): Transform {
  let quoted = false
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let start = 0
      const parts: Buffer[] = []
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]
        if (b === 0x22) quoted = !quoted // "" inside a field toggles twice
        else if (b === 0x0a && !quoted) {
          parts.push(chunk.subarray(start, i), CRLF)
          start = i + 1
        }
      }
      parts.push(chunk.subarray(start))
      done(null, Buffer.concat(parts))
    },
  })
}
const CRLF = Buffer.from('\r\n')

/** A pool's connection to stream from: `release(err)` throws the connection away after an aborted COPY. */
export interface ExportSource {
  connect(): Promise<pg.PoolClient>
}

/**
 * Streams one export into `out` (an HTTP response, stdout, a file) straight from
 * `COPY (SELECT ...) TO STDOUT`: rows flow as PostgreSQL sends them, and when
 * `out` is slow the socket to PostgreSQL is paused (pipeline's backpressure), so
 * memory stays bounded whatever the export's size. If `out` goes away, the
 * COPY's connection is destroyed rather than returned half-read to the pool.
 */
export async function streamExport(pool: ExportSource, req: ExportRequest, out: Writable): Promise<void> {
  const client = await pool.connect()
  let failed: Error | undefined
  try {
    const copy: Readable = client.query(copyTo(exportCopySql(req)))
    await (req.format === 'csv' ? pipeline(copy, crlfRecords(), out) : pipeline(copy, out))
  } catch (err) {
    failed = err as Error
    throw err
  } finally {
    client.release(failed)
  }
}

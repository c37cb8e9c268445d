import type { Envelope } from '../../pipeline/envelope.ts'

/** Column order of the COPY text produced by encodeTelemetry. */
export const TELEMETRY_COPY_COLUMNS = 'time, device_id, metric, value, quality, seq, received_at, flags'

/**
 * Encodes the rows of a batch in PostgreSQL COPY text format [PostgreSQL 15
 * COPY, "Text Format"]. No escaping is needed: device ids and metric names are
 * validated to [A-Za-z0-9_.-], numbers and timestamps never hold tabs,
 * newlines or backslashes.
 */
export function encodeTelemetry(envelopes: readonly Envelope[]): string {
  let out = ''
  let lastTime = NaN
  let lastIso = ''
  for (const e of envelopes) {
    const rows = e.decoded.rows
    const n = rows.length
    if (n === 0) continue
    const received = new Date(e.receivedAt).toISOString()
    const { time, deviceId, metric, value, quality, seq, flags } = rows
    for (let i = 0; i < n; i++) {
      const t = time[i]!
      // Readings carry several metrics at one instant: format each instant once.
      if (t !== lastTime) {
        lastTime = t
        lastIso = new Date(t).toISOString()
      }
      const s = seq[i]!
      out += `${lastIso}\t${deviceId[i]}\t${metric[i]}\t${value[i]}\t${quality[i]}\t${s < 0 ? '\\N' : s}\t${received}\t${flags[i]}\n`
    }
  }
  return out
}

import { type DeviceLookup, ROW_STRIDE, ReadingBatch } from '@gridline/processors'
import type { Envelope } from '../pipeline/envelope.ts'

/**
 * Turns a committed batch of messages into one ReadingBatch, the columns the
 * after-commit processors read (no object per reading). Runs once per
 * commit, off the per-message path. The domain comes from the registry, or
 * from the decoder for devices publishing for themselves with `auth: none`
 * (an unregistered device behind a gateway gets "unknown").
 */
export function committedBatch(batch: readonly Envelope[], lookup: DeviceLookup): ReadingBatch {
  let rows = 0
  for (const envelope of batch) rows += envelope.decoded.rows.data.length / ROW_STRIDE
  const out = new ReadingBatch(rows)
  for (const envelope of batch) {
    const data = envelope.decoded.rows.data
    if (data.length === 0) continue
    const messageDomain = envelope.decoded.domain
    const receivedAt = envelope.receivedAt
    let lastDevice = ''
    let lastDomain = 'unknown'
    for (let i = 0; i < data.length; i += ROW_STRIDE) {
      const deviceId = data[i + 1] as string
      if (deviceId !== lastDevice) {
        lastDevice = deviceId
        lastDomain = lookup(deviceId)?.domain ?? messageDomain ?? 'unknown'
      }
      out.push(data[i] as number, receivedAt, deviceId, lastDomain, data[i + 2] as string, data[i + 3] as number, data[i + 4] as number, data[i + 5] as number, data[i + 6] as number)
    }
  }
  return out
}

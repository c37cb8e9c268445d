import { type DeviceLookup, ROW_STRIDE, type ReadingEvent } from '@gridline/processors'
import type { Envelope } from '../pipeline/envelope.ts'

/**
 * Turns a committed batch into the Reading objects the processors consume
 * (as ReadingEvents, so the live stream hub passes them on without a copy).
 * Runs once per commit, off the per-message path. The domain comes from the
 * registry, or from the decoder for devices publishing for themselves with
 * `auth: none` (an unregistered device behind a gateway gets "unknown").
 */
export function committedReadings(batch: readonly Envelope[], lookup: DeviceLookup): ReadingEvent[] {
  const out: ReadingEvent[] = []
  for (const envelope of batch) {
    const data = envelope.decoded.rows.data
    if (data.length === 0) continue
    const messageDomain = envelope.decoded.domain
    let lastDevice = ''
    let lastDomain = 'unknown'
    for (let i = 0; i < data.length; i += ROW_STRIDE) {
      const deviceId = data[i + 1] as string
      if (deviceId !== lastDevice) {
        lastDevice = deviceId
        lastDomain = lookup(deviceId)?.domain ?? messageDomain ?? 'unknown'
      }
      out.push({
        kind: 'reading',
        time: data[i] as number,
        receivedAt: envelope.receivedAt,
        deviceId,
        domain: lastDomain,
        metric: data[i + 2] as string,
        value: data[i + 3] as number,
        quality: data[i + 4] as number,
        seq: data[i + 5] as number,
        flags: data[i + 6] as number,
      })
    }
  }
  return out
}

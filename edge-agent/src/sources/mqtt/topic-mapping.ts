import type { MqttSourceConfig } from '../../config.ts'
import type { Reading, ReadingQuality } from '../../reading.ts'

type Subscription = MqttSourceConfig['subscriptions'][number]

/** MQTT topic filter matching, the wire contract's (one copy for the edge agent and ingest's mqtt_client source). */
export { topicMatches } from '@gridline/schemas'

/** A reading, or the reason the message could not become one (counted as a source error). */
export type MappingResult = { reading: Reading } | { error: string }

/** Maps one local MQTT message to a reading with the subscription's rules. */
export function mapMessage(subscription: Subscription, topic: string, payload: Buffer, receivedAt: number): MappingResult {
  const levels = topic.split('/')
  const device = subscription.device.replace(/\{(\d+)\}/g, (_, n: string) => levels[Number(n)] ?? '')
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(device)) return { error: 'mqtt_device_invalid' }
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch {
    return { error: 'mqtt_payload_not_json' }
  }
  if (typeof body !== 'object' || body === null) return { error: 'mqtt_payload_not_object' }
  const values: Record<string, number | boolean> = {}
  for (const [metric, path] of Object.entries(subscription.values)) {
    const value = lookup(body, path)
    if (value === undefined) continue
    if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) values[metric] = value
    else return { error: 'mqtt_value_invalid' }
  }
  if (Object.keys(values).length === 0) return { error: 'mqtt_values_missing' }
  let ts = receivedAt
  if (subscription.ts) {
    const raw = lookup(body, subscription.ts)
    const parsed = typeof raw === 'number' && Number.isInteger(raw) ? raw : typeof raw === 'string' ? Date.parse(raw) : Number.NaN
    if (!Number.isFinite(parsed)) return { error: 'mqtt_ts_invalid' }
    ts = parsed
  }
  let quality: ReadingQuality = 'good'
  if (subscription.quality) {
    const raw = lookup(body, subscription.quality)
    if (raw === 'good' || raw === 'uncertain' || raw === 'bad') quality = raw
    else if (raw !== undefined) return { error: 'mqtt_quality_invalid' }
  }
  return { reading: { device, domain: subscription.domain, ts, values, quality } }
}

function lookup(body: unknown, path: string): unknown {
  let node = body
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined
    node = (node as Record<string, unknown>)[key]
  }
  return node
}

import { DEVICE_ID_PATTERN } from './limits.ts'

/** What a PUBLISH topic addresses, per the wire contract. */
export type TopicTarget =
  | { kind: 'device'; domain: string; deviceId: string }
  | { kind: 'gateway'; gatewayId: string }
  | { kind: 'invalid'; reason: 'topic_invalid' | 'device_id_invalid' }

export const deviceTopic = (domain: string, deviceId: string): string => `telemetry/${domain}/${deviceId}`
/** Where a device reports online/offline (retained; its MQTT will says offline). */
export const statusTopic = (domain: string, deviceId: string): string => `status/${domain}/${deviceId}`
export const gatewayTopic = (gatewayId: string): string => `gateways/${gatewayId}/telemetry`

/**
 * Parses `telemetry/{domain}/{deviceId}` and `gateways/{gatewayId}/telemetry`.
 * The domain is checked against the catalogue by the caller.
 */
export function parseTopic(topic: string): TopicTarget {
  const parts = topic.split('/')
  if (parts.length === 3 && parts[0] === 'telemetry' && parts[1] && parts[2] !== undefined) {
    if (!DEVICE_ID_PATTERN.test(parts[2])) return { kind: 'invalid', reason: 'device_id_invalid' }
    return { kind: 'device', domain: parts[1], deviceId: parts[2] }
  }
  if (parts.length === 3 && parts[0] === 'gateways' && parts[2] === 'telemetry' && parts[1] !== undefined) {
    if (!DEVICE_ID_PATTERN.test(parts[1])) return { kind: 'invalid', reason: 'device_id_invalid' }
    return { kind: 'gateway', gatewayId: parts[1] }
  }
  return { kind: 'invalid', reason: 'topic_invalid' }
}

/** Parses `status/{domain}/{deviceId}`; null when the topic is not a status topic at all. */
export function parseStatusTopic(topic: string): { domain: string; deviceId: string } | { invalid: 'topic_invalid' | 'device_id_invalid' } | null {
  if (!topic.startsWith('status/')) return null
  const parts = topic.split('/')
  if (parts.length !== 3 || !parts[1]) return { invalid: 'topic_invalid' }
  if (!DEVICE_ID_PATTERN.test(parts[2]!)) return { invalid: 'device_id_invalid' }
  return { domain: parts[1], deviceId: parts[2]! }
}

/**
 * Whether an MQTT topic filter matches a topic [MQTT-4.7]: `+` is one level,
 * `#` (last) the parent and every level below; a filter starting with a
 * wildcard does not match topics starting with `$` ($SYS and the like).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!
    if (level === '#') return i === f.length - 1
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

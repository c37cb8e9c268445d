import { isUtf8 } from 'node:buffer'
import { type Catalogue, MAX_TIMESTAMP_MS, parseRfc3339, parseStatusTopic } from '@gridline/schemas'
import { type Principal, type Rejection, type StatusChange, rejection } from '@gridline/core'
import { renderJson } from './render.ts'

export type { DeviceState, StatusChange } from '@gridline/core'

export interface DecodedStatus {
  change: StatusChange | null
  rejections: Rejection[]
}

/** True for topics the status decoder handles rather than the telemetry decoder. */
export const isStatusTopic = (topic: string): boolean => topic.startsWith('status/')

/**
 * Decodes a PUBLISH on `status/{domain}/{deviceId}`. Like decodeMessage it
 * never throws: every problem is a Rejection with a stable reason, and a
 * failure of the decoder itself is decode_failed.
 * A device may report only its own status; `principal` null means auth is off.
 */
export function decodeStatus(
  topic: string,
  payload: Buffer,
  receivedAt: number,
  principal: Principal | null,
  options: { catalogue: Catalogue; rejectedPayloadMaxBytes: number },
): DecodedStatus {
  try {
    return decodeStatusUnguarded(topic, payload, receivedAt, principal, options)
  } catch (err) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : 'a non-error value was thrown'
    return { change: null, rejections: [rejection('decode_failed', `the status message could not be decoded (${what.slice(0, 200)})`, principal?.id ?? null, payload, options.rejectedPayloadMaxBytes)] }
  }
}

function decodeStatusUnguarded(
  topic: string,
  payload: Buffer,
  receivedAt: number,
  principal: Principal | null,
  options: { catalogue: Catalogue; rejectedPayloadMaxBytes: number },
): DecodedStatus {
  const refuse = (reason: Rejection['reason'], detail: string, deviceId: string | null): DecodedStatus =>
    ({ change: null, rejections: [rejection(reason, detail, deviceId, payload, options.rejectedPayloadMaxBytes)] })

  const target = parseStatusTopic(topic)
  if (target === null || 'invalid' in target) {
    return refuse(target?.invalid ?? 'topic_invalid', `"${topic}" is not status/{domain}/{deviceId}`, null)
  }
  const { domain, deviceId } = target
  if (principal !== null && (principal.kind !== 'device' || principal.id !== deviceId || principal.domain !== domain)) {
    return refuse('topic_not_authorized', `client "${principal.id}" may not report the status of ${domain}/${deviceId}`, deviceId)
  }
  if (!options.catalogue.domains.has(domain)) return refuse('domain_unknown', `domain "${domain}" is not in the catalogue`, deviceId)
  if (payload.length === 0) return refuse('payload_empty', 'the status message has no bytes', deviceId)
  if (payload.length > 1024) return refuse('payload_too_large', `a status message may be at most 1024 bytes, got ${payload.length}`, deviceId)
  if (!isUtf8(payload)) return refuse('payload_not_utf8', 'the status message is not valid UTF-8', deviceId)
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return refuse('json_malformed', `the status message is not JSON: ${(err as Error).message}`, deviceId)
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return refuse('status_invalid', 'the status message must be a JSON object like {"state":"online"}', deviceId)
  }
  const { state, ts, ...rest } = body as Record<string, unknown>
  const extra = Object.keys(rest)
  if (extra.length > 0) return refuse('status_invalid', `unknown field "${extra[0]}" in the status message`, deviceId)
  if (state !== 'online' && state !== 'offline') {
    return refuse('status_invalid', `state must be "online" or "offline", got ${state === undefined ? 'nothing' : renderJson(state, 64, 2)}`, deviceId)
  }
  let time = receivedAt
  if (ts !== undefined) {
    const parsed = typeof ts === 'number' && Number.isInteger(ts) && ts >= 0 && ts <= MAX_TIMESTAMP_MS ? ts
      : typeof ts === 'string' ? parseRfc3339(ts) : Number.NaN
    if (Number.isNaN(parsed)) return refuse('ts_invalid', `ts ${renderJson(ts, 64, 2)} is neither RFC 3339 with offset nor epoch milliseconds`, deviceId)
    time = parsed
  }
  return { change: { deviceId, domain, state, time, receivedAt }, rejections: [] }
}

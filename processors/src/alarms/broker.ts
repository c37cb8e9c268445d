import type { AlarmEvent } from '../stream/events.ts'

/** Root of every alarm topic (docs/alarms.md#on-the-broker). */
export const ALARM_TOPIC_ROOT = 'alarms'

export interface AlarmBrokerMessage {
  topic: string
  payload: string
  qos: 1
  retain: boolean
}

/**
 * Escapes what MQTT gives a meaning in topics (`/`, `+`, `#`, and `%` so the
 * escape is reversible) and NUL [MQTT-4.7.3-2]; an indicator key such as a
 * district name may contain them. Decode a segment with decodeURIComponent.
 */
export function topicSegment(text: string): string {
  return text.replace(/[%/+#\u0000]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)
}

/** `alarms/events/{severity}/{ruleId}/{subject}`: every change, not retained. */
export function alarmTopic(event: AlarmEvent): string {
  return `${ALARM_TOPIC_ROOT}/events/${event.severity}/${event.ruleId}/${topicSegment(event.subject)}`
}

/** `alarms/active/{ruleId}/{subject}`: the current state of an alarm that is not cleared, retained. */
export function activeAlarmTopic(event: AlarmEvent): string {
  return `${ALARM_TOPIC_ROOT}/active/${event.ruleId}/${topicSegment(event.subject)}`
}

/** The AlarmEvent as JSON, times as epoch milliseconds (the same object subscribers get in-process). */
export function alarmPayload(event: AlarmEvent): string {
  return JSON.stringify(event)
}

/**
 * Everything to publish for one alarm change: the event (QoS 1, not retained)
 * and the retained current state, which an empty retained payload deletes once
 * the alarm is cleared, so a dashboard that subscribes to `alarms/active/#`
 * gets exactly the active alarms at once.
 */
export function alarmBrokerMessages(event: AlarmEvent): AlarmBrokerMessage[] {
  const payload = alarmPayload(event)
  const active = (event as { active?: boolean }).active ?? event.state !== 'cleared'
  return [
    { topic: alarmTopic(event), payload, qos: 1, retain: false },
    { topic: activeAlarmTopic(event), payload: active ? payload : '', qos: 1, retain: true },
  ]
}

import type { AlarmEventDetail } from '@gridline/processors'

/** Version of the body's shape; a change that removes or renames a field raises it. */
export const BODY_VERSION = 1

/** What a webhook receives, and what an email describes (docs/notifications.md#the-body). */
export interface NotificationBody {
  /** The idempotency key: one per alarm event, the same for every endpoint and every retry. */
  id: string
  /** `alarm.raised`, `alarm.acknowledged`, `alarm.cleared`, `alarm.shelved`, `alarm.unshelved` or `alarm.escalated`. */
  type: `alarm.${AlarmEventDetail['state']}`
  version: typeof BODY_VERSION
  /** When the event was queued, ISO 8601. */
  createdAt: string
  alarm: {
    id: string
    ruleId: string
    subject: string
    severity: AlarmEventDetail['severity']
    state: AlarmEventDetail['state']
    active: boolean
    flapping: boolean
    /** When the change happened (ISO 8601), and as epoch ms. */
    time: string
    timeMs: number
    raisedAt: string
    message: string
    value?: number
    deviceId?: string
    domain?: string
    district?: string
    metric?: string
    acknowledgedBy?: string
    comment?: string
    /** While shelved (the `alarm.shelved` body): until when, by whom, why. */
    shelvedUntil?: string
    shelvedBy?: string
    shelveReason?: string
    /** Once escalated. */
    escalatedAt?: string
  }
}

export function notificationBody(event: AlarmEventDetail, id: string, createdAt: number, district: string | undefined): NotificationBody {
  return {
    id,
    type: `alarm.${event.state}`,
    version: BODY_VERSION,
    createdAt: new Date(createdAt).toISOString(),
    alarm: {
      id: event.alarmId,
      ruleId: event.ruleId,
      subject: event.subject,
      severity: event.severity,
      state: event.state,
      active: event.active,
      flapping: event.flapping,
      time: new Date(event.time).toISOString(),
      timeMs: event.time,
      raisedAt: new Date(event.raisedAt).toISOString(),
      message: event.message,
      ...(event.value === undefined ? {} : { value: event.value }),
      ...(event.deviceId === undefined ? {} : { deviceId: event.deviceId }),
      ...(event.domain === undefined ? {} : { domain: event.domain }),
      ...(district === undefined ? {} : { district }),
      ...(event.metric === undefined ? {} : { metric: event.metric }),
      ...(event.acknowledgedBy === undefined ? {} : { acknowledgedBy: event.acknowledgedBy }),
      ...(event.comment === undefined ? {} : { comment: event.comment }),
      ...(event.shelvedUntil === undefined ? {} : { shelvedUntil: new Date(event.shelvedUntil).toISOString(), shelvedBy: event.shelvedBy!, shelveReason: event.shelveReason! }),
      ...(event.escalatedAt === undefined ? {} : { escalatedAt: new Date(event.escalatedAt).toISOString() }),
    },
  }
}

/** The email for a body: a subject line with severity, state and rule, and the details as plain text. */
export function emailText(body: NotificationBody, prefix: string): { subject: string; text: string } {
  const a = body.alarm
  const subject = `${prefix ? `${prefix} ` : ''}${a.severity.toUpperCase()} ${a.state}: ${a.ruleId} on ${a.subject}`.slice(0, 250)
  const lines = [
    a.message,
    '',
    `Alarm:     ${a.id}`,
    `Rule:      ${a.ruleId}`,
    `Subject:   ${a.subject}`,
    `Severity:  ${a.severity}`,
    `Change:    ${a.state}${a.active ? '' : ' (closed)'}${a.flapping ? ', flapping' : ''}`,
    `Time:      ${a.time}`,
    `Raised at: ${a.raisedAt}`,
    ...(a.value === undefined ? [] : [`Value:     ${a.value}`]),
    ...(a.metric === undefined ? [] : [`Metric:    ${a.metric}`]),
    ...(a.deviceId === undefined ? [] : [`Device:    ${a.deviceId}`]),
    ...(a.domain === undefined ? [] : [`Domain:    ${a.domain}`]),
    ...(a.district === undefined ? [] : [`District:  ${a.district}`]),
    ...(a.acknowledgedBy === undefined ? [] : [`Acknowledged by: ${a.acknowledgedBy}${a.comment ? ` (${a.comment})` : ''}`]),
    ...(a.shelvedUntil === undefined ? [] : [`Shelved by ${a.shelvedBy} until ${a.shelvedUntil}: ${a.shelveReason}`]),
    ...(a.escalatedAt === undefined ? [] : [`Escalated: ${a.escalatedAt}`]),
    '',
    `Event id (idempotency key): ${body.id}`,
  ]
  return { subject, text: lines.join('\n') }
}

import type { AlarmChange, AlarmEvent, AlarmSeverity, AlarmState } from '../stream/events.ts'

/**
 * What the engine emits: the shared AlarmEvent plus what a dashboard needs to
 * draw it without a query. `state` names the change (raised, acknowledged,
 * cleared, shelved, unshelved, escalated); `active` says whether the condition
 * still holds, so an acknowledgement of an already cleared alarm reads state
 * `acknowledged`, active false.
 */
export interface AlarmEventDetail extends AlarmEvent {
  active: boolean
  /** Held raised by flapping suppression (docs/alarms.md#flapping). */
  flapping: boolean
  raisedAt: number
  /** The device the alarm is about (absent for alarms on district-wide indicators). */
  deviceId?: string
  domain?: string
  /** The metric, or the indicator name, the rule watches. */
  metric?: string
  /** While the alarm is shelved (docs/alarms.md#shelving): until when (epoch ms), by whom, and why. */
  shelvedUntil?: number
  shelvedBy?: string
  shelveReason?: string
  /** When the alarm was escalated (docs/alarms.md#escalation); absent until then. */
  escalatedAt?: number
}

/** One alarm as the engine and the `alarms` table hold it. */
export interface AlarmRecord {
  id: string
  ruleId: string
  subject: string
  severity: AlarmSeverity
  /** The last lifecycle state: raised, acknowledged, or cleared (cleared wins over acknowledged). */
  state: AlarmState
  flapping: boolean
  message: string
  raisedAt: number
  raisedValue?: number
  lastValue?: number
  clearedAt?: number
  acknowledgedAt?: number
  acknowledgedBy?: string
  comment?: string
  deviceId?: string
  domain?: string
  metric?: string
  /** Set while shelved; cleared when the shelve ends (expiry, unshelve, or the alarm clearing). */
  shelvedAt?: number
  shelvedUntil?: number
  shelvedBy?: string
  shelveReason?: string
  /** Set once, when the alarm was escalated. */
  escalatedAt?: number
}

/** A row of the alarm history (`alarm_events`). */
export interface AlarmHistoryEntry {
  eventId: string
  alarmId: string
  ruleId: string
  subject: string
  severity: AlarmSeverity
  /** raised, acknowledged, cleared, shelved, unshelved, escalated, or flapping (the alarm was held raised). */
  transition: AlarmChange | 'flapping'
  time: number
  value?: number
  /** Who acknowledged, shelved or unshelved; absent for changes the engine made. */
  actor?: string
  comment?: string
  message: string
}

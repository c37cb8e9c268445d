import { describe, expect, test } from 'vitest'
import type { AlarmEventDetail } from './alarm-event.ts'
import { alarmBrokerMessages, alarmPayload, alarmTopic, topicSegment } from './broker.ts'
import { renderTemplate } from './template.ts'

const raised: AlarmEventDetail = {
  kind: 'alarm', alarmId: '5d7c1c1e-8f2b-4c56-9d43-0d6f3f0c2a11', ruleId: 'aqi-unhealthy', subject: 'district:Quận 7/Nhà Bè', severity: 'major',
  state: 'raised', time: 1_764_302_400_000, value: 163, message: 'VN_AQI 163', active: true, flapping: false, raisedAt: 1_764_302_400_000,
}

describe('alarm topics and payloads', () => {
  test('topics escape what MQTT reserves, reversibly', () => {
    expect(alarmTopic(raised)).toBe('alarms/events/major/aqi-unhealthy/district:Quận 7%2FNhà Bè')
    expect(decodeURIComponent(topicSegment('a/b+c#d%e'))).toBe('a/b+c#d%e')
    expect(topicSegment('a/b+c#d%e')).not.toMatch(/[/+#]/)
  })

  test('a change goes to the event topic, and the retained active topic follows the state', () => {
    const [event, retained] = alarmBrokerMessages(raised)
    expect(event).toEqual({ topic: 'alarms/events/major/aqi-unhealthy/district:Quận 7%2FNhà Bè', payload: alarmPayload(raised), qos: 1, retain: false })
    expect(retained).toEqual({ topic: 'alarms/active/aqi-unhealthy/district:Quận 7%2FNhà Bè', payload: alarmPayload(raised), qos: 1, retain: true })
    expect(JSON.parse(event!.payload)).toEqual(raised)
    const cleared = alarmBrokerMessages({ ...raised, state: 'cleared', active: false } as AlarmEventDetail)
    expect(cleared[1]).toMatchObject({ payload: '', retain: true })
    const ackAfterClear = alarmBrokerMessages({ ...raised, state: 'acknowledged', active: false } as AlarmEventDetail)
    expect(ackAfterClear[1]).toMatchObject({ payload: '', retain: true })
  })

  test('message templates fill known placeholders and keep unknown ones', () => {
    expect(renderTemplate('{metric} on {subject} is {value} ({nope})', { metric: 'pm25', subject: 'aq-1', value: 55.123456789 })).toBe('pm25 on aq-1 is 55.1235 ({nope})')
  })
})

test('a shelved alarm stays retained on alarms/active/..., its payload carrying the shelve', () => {
  const shelved = { kind: 'alarm', alarmId: 'a1', ruleId: 'pm25-high', subject: 'aq-1', severity: 'major', state: 'shelved', time: 2, message: 'm', active: true, shelvedUntil: 3, shelvedBy: 'olly', shelveReason: 'r' } as const
  const [event, retained] = alarmBrokerMessages(shelved)
  expect(event).toMatchObject({ topic: 'alarms/events/major/pm25-high/aq-1', retain: false })
  expect(retained).toMatchObject({ topic: 'alarms/active/pm25-high/aq-1', retain: true })
  expect(JSON.parse(retained!.payload)).toMatchObject({ state: 'shelved', shelvedBy: 'olly', shelvedUntil: 3 })
})

import { describe, expect, test } from 'vitest'
import { mapMessage, topicMatches } from './topic-mapping.ts'

const subscription = { topic: 'sensors/+/state', device: '{1}', domain: 'water', values: { ph: 'ph', chlorine: 'chlorine.free' }, ts: 'time', quality: 'status' }
const json = (v: unknown) => Buffer.from(JSON.stringify(v))

describe('local MQTT mapping', () => {
  test.each([
    ['sensors/+/state', 'sensors/wq-1/state', true],
    ['sensors/#', 'sensors/wq-1/state', true],
    ['sensors/+/state', 'sensors/wq-1/other', false],
    ['sensors/+', 'sensors/wq-1/state', false],
  ])('filter %s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected)
  })

  test('a payload becomes a reading with device from the topic, nested values, ts and quality', () => {
    expect(mapMessage(subscription, 'sensors/wq-1/state', json({ time: '2026-11-28T10:00:00Z', ph: 7.1, chlorine: { free: 0.4 }, status: 'uncertain' }), 5)).toEqual({
      reading: { device: 'wq-1', domain: 'water', ts: Date.parse('2026-11-28T10:00:00Z'), values: { ph: 7.1, chlorine: 0.4 }, quality: 'uncertain' },
    })
  })

  test.each([
    ['not json', Buffer.from('{'), 'mqtt_payload_not_json'],
    ['no mapped value', json({ time: 1 }), 'mqtt_values_missing'],
    ['a string value', json({ time: 1, ph: '7.1' }), 'mqtt_value_invalid'],
    ['a bad ts', json({ time: 'yesterday', ph: 7 }), 'mqtt_ts_invalid'],
    ['a bad quality', json({ time: 1, ph: 7, status: 'meh' }), 'mqtt_quality_invalid'],
  ])('%s is counted with its reason', (_what, payload, reason) => {
    expect(mapMessage(subscription, 'sensors/wq-1/state', payload, 5)).toEqual({ error: reason })
  })
})

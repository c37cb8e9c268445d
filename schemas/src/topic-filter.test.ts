import { expect, test } from 'vitest'
import { topicMatches } from './topics.ts'

test.each([
  ['telemetry/#', 'telemetry/water/wm-1', true],
  ['telemetry/#', 'telemetry', true],
  ['telemetry/+/+', 'telemetry/water/wm-1', true],
  ['telemetry/+/+', 'telemetry/water', false],
  ['telemetry/+/+', 'telemetry/water/wm-1/x', false],
  ['application/+/device/+/event/up', 'application/1/device/0004a30b001c0530/event/up', true],
  ['application/+/device/+/event/up', 'application/1/device/0004a30b001c0530/event/join', false],
  ['#', '$SYS/broker/uptime', false],
  ['+/broker/uptime', '$SYS/broker/uptime', false],
  ['$SYS/#', '$SYS/broker/uptime', true],
  ['a/b', 'a/b', true],
  ['a/b', 'a/c', false],
  ['a/+', 'a/', true],
])('%s matches %s: %s', (filter, topic, expected) => {
  expect(topicMatches(filter, topic)).toBe(expected)
})

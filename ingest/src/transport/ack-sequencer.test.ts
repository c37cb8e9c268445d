import { expect, test } from 'vitest'
import { AckGate, AckSequencer } from './ack-sequencer.ts'

test('acknowledgements are released in arrival order whatever order they settle in [MQTT-4.6.0-2]', () => {
  const released: string[] = []
  let acknowledged = 0
  const sequencer = new AckSequencer(() => acknowledged++)
  const a = sequencer.enqueue(() => released.push('a'))
  const b = sequencer.enqueue((err) => released.push(err ? `b:${err.message}` : 'b'))
  const c = sequencer.enqueue(() => released.push('c'))
  c.settle()
  expect(released).toEqual([])
  b.settle('errored', new Error('gave up'))
  expect(released).toEqual([])
  a.settle()
  expect(released).toEqual(['a', 'b:gave up', 'c'])
  expect(acknowledged).toBe(2)
  a.settle()
  expect(released).toHaveLength(3)
  expect(sequencer.waiting).toBe(0)
})

test('a closed gate holds settled acknowledgements, in order, until it opens', () => {
  const gate = new AckGate()
  const released: string[] = []
  const one = new AckSequencer(undefined, gate)
  const two = new AckSequencer(undefined, gate)
  const a = one.enqueue(() => released.push('a'))
  const b = one.enqueue(() => released.push('b'))
  const c = two.enqueue(() => released.push('c'))
  gate.close()
  b.settle()
  a.settle()
  c.settle()
  expect(released).toEqual([])
  gate.open()
  expect(released.sort()).toEqual(['a', 'b', 'c'])
  expect(released.indexOf('a')).toBeLessThan(released.indexOf('b'))
})

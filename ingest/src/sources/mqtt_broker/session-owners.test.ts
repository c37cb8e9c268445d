import { expect, test } from 'vitest'
import { SessionOwners } from './session-owners.ts'

test('a client id is held by its login while connected, and after that only with a persistent session', () => {
  const owners = new SessionOwners()
  owners.claim('lamp-2', 'lamp-2', true)
  expect(owners.mayUse('lamp-2', 'aq-1')).toBe(false)
  expect(owners.mayUse('lamp-2', 'lamp-2')).toBe(true)
  owners.release('lamp-2', 'lamp-2')
  expect(owners.mayUse('lamp-2', 'aq-1')).toBe(true)
  expect(owners.size).toBe(0)

  owners.claim('lamp-2', 'lamp-2', false)
  owners.release('lamp-2', 'lamp-2')
  expect(owners.holder('lamp-2')).toBe('lamp-2')
  // The same login connecting with clean session on discards the session [MQTT-3.1.2-6].
  owners.claim('lamp-2', 'lamp-2', true)
  owners.release('lamp-2', 'lamp-2')
  expect(owners.holder('lamp-2')).toBeUndefined()
})

test('a takeover by the same login keeps the id held by the new connection', () => {
  const owners = new SessionOwners()
  owners.claim('lamp-3', 'lamp-3', true)
  owners.claim('lamp-3', 'lamp-3', true) // the new connection claims before the old one closed
  owners.release('lamp-3', 'lamp-3')
  expect(owners.mayUse('lamp-3', 'aq-1')).toBe(false)
  owners.release('lamp-3', 'lamp-3')
  expect(owners.mayUse('lamp-3', 'aq-1')).toBe(true)
  // Another login's release changes nothing.
  owners.claim('lamp-3', 'lamp-3', true)
  owners.release('lamp-3', 'aq-1')
  expect(owners.holder('lamp-3')).toBe('lamp-3')
})

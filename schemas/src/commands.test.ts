import { describe, expect, test } from 'vitest'
import {
  COMMAND_CATALOGUE,
  CommandReplySchema,
  DeviceCommandSchema,
  commandTopic,
  commandsFor,
  parseReplyTopic,
  replyTopic,
  validateCommand,
} from './commands.ts'

describe('the command catalogue', () => {
  test('lists each domain\'s commands with their params and a description', () => {
    expect(commandsFor('lighting').map((c) => c.action)).toEqual(['switch', 'dim', 'schedule'])
    expect(commandsFor('water').map((c) => c.action)).toEqual(['pump', 'schedule'])
    expect(commandsFor('lighting')[1]).toEqual({ action: 'dim', params: { level: expect.stringMatching(/0 to 100/) }, description: expect.any(String) })
    expect(commandsFor('water')[1]!.params).toEqual({})
    for (const domain of ['environment', 'traffic', 'energy', 'no-such-domain', 'constructor', '__proto__']) expect(commandsFor(domain)).toEqual([])
  })

  test('every catalogued action describes each parameter its schema accepts', () => {
    for (const [domain, definitions] of Object.entries(COMMAND_CATALOGUE)) {
      for (const d of definitions) {
        expect(d.description.length, `${domain}/${d.action}`).toBeGreaterThan(10)
        // The strict schema rejects any key it does not declare; each declared one is described.
        const shape = Object.keys((d.schema as unknown as { shape: Record<string, unknown> }).shape)
        expect(shape.sort(), `${domain}/${d.action}`).toEqual(Object.keys(d.params).sort())
      }
    }
  })
})

describe('validateCommand', () => {
  test.each([
    ['lighting', 'switch', { on: true }],
    ['lighting', 'switch', { on: false }],
    ['lighting', 'dim', { level: 0 }],
    ['lighting', 'dim', { level: 100 }],
    ['lighting', 'dim', { level: 37.5 }],
    ['lighting', 'schedule', {}],
    ['water', 'pump', { running: true }],
    ['water', 'schedule', {}],
  ])('%s %s %j is accepted', (domain, action, params) => {
    expect(validateCommand(domain, action, params)).toEqual({ ok: true, params })
  })

  test.each([
    ['environment', 'switch', { on: true }, /Devices of domain "environment" accept no commands/],
    ['__proto__', 'switch', { on: true }, /accept no commands/],
    ['lighting', 'pump', { running: true }, /"pump" is not a lighting command; lighting devices accept "switch", "dim", "schedule"/],
    ['water', 'dim', { level: 3 }, /"dim" is not a water command; water devices accept "pump", "schedule"/],
    ['lighting', 'switch', {}, /^params\.on: .*; "switch" takes \{"on": boolean/],
    ['lighting', 'switch', { on: 'yes' }, /^params\.on: .*boolean/],
    ['lighting', 'dim', { level: 101 }, /^params\.level: .*100.*; "dim" takes \{"level": number from 0 to 100/],
    ['lighting', 'dim', { level: -1 }, /^params\.level: /],
    ['lighting', 'dim', { level: Number.NaN }, /^params\.level: /],
    ['lighting', 'dim', { level: '50' }, /^params\.level: .*number/],
    ['lighting', 'dim', { level: 50, fade: 3 }, /fade/],
    ['lighting', 'schedule', { now: true }, /now.*"schedule" takes no params/],
    ['water', 'pump', null, /^params must be an object; "pump" takes \{"running": boolean/],
    ['water', 'pump', [true], /^params must be an object/],
  ])('%s %s %j is refused', (domain, action, params, message) => {
    const result = validateCommand(domain, action, params)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error).toMatch(message)
  })
})

describe('wire shapes', () => {
  const id = '7d4a3f5e-2b1c-4c8e-9f6a-0b1d2e3f4a5b'

  test('a command needs a uuid, an action, params and an RFC 3339 ts', () => {
    expect(DeviceCommandSchema.safeParse({ id, action: 'dim', params: { level: 5 }, ts: '2026-11-28T10:00:00Z', expiresAt: '2026-11-28T10:00:10Z' }).success).toBe(true)
    expect(DeviceCommandSchema.safeParse({ id: 'c-1', action: 'dim', params: {}, ts: '2026-11-28T10:00:00Z' }).success).toBe(false)
    expect(DeviceCommandSchema.safeParse({ id, action: 'dim', params: {}, ts: '2026-11-28T10:00:00' }).success).toBe(false)
  })

  test.each([
    ['minimal', { id, status: 'ok' }, true],
    ['every field', { id, status: 'failed', detail: 'Lamp fault.', ts: '2026-11-28T10:00:00.123+07:00' }, true],
    ['unknown status', { id, status: 'done' }, false],
    ['no id', { status: 'ok' }, false],
    ['empty id', { id: '', status: 'ok' }, false],
    ['extra field', { id, status: 'ok', extra: 1 }, false],
    ['bad ts', { id, status: 'ok', ts: 'yesterday' }, false],
    ['detail too long', { id, status: 'ok', detail: 'x'.repeat(1001) }, false],
  ])('reply, %s: valid %s', (_, reply, valid) => {
    expect(CommandReplySchema.safeParse(reply).success).toBe(valid)
  })

  test('topics', () => {
    expect(commandTopic('lighting', 'lamp-1')).toBe('commands/lighting/lamp-1')
    expect(replyTopic('water', 'pump-1')).toBe('replies/water/pump-1')
    expect(parseReplyTopic('replies/water/pump-1')).toEqual({ domain: 'water', deviceId: 'pump-1' })
    expect(parseReplyTopic('telemetry/water/pump-1')).toBeNull()
    expect(parseReplyTopic('replies/water')).toEqual({ invalid: 'topic_invalid' })
    expect(parseReplyTopic('replies//pump-1')).toEqual({ invalid: 'topic_invalid' })
    expect(parseReplyTopic('replies/water/pump-1/x')).toEqual({ invalid: 'topic_invalid' })
    expect(parseReplyTopic('replies/water/-pump')).toEqual({ invalid: 'device_id_invalid' })
  })
})

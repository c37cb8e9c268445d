import { describe, expect, test } from 'vitest'
import { MqttClientSourceSchema } from './config.ts'

// The mqtt_client keys of ChirpStack downlinks and autoRegister: defaults and
// refusals, each by its path.

const base = { type: 'mqtt_client', url: 'mqtt://127.0.0.1:1883' }
const chirp = (downlinks: unknown) => ({ ...base, subscriptions: [{ filter: 'application/+/device/+/event/+', decoder: 'chirpstack', chirpstack: { downlinks } }] })
const problems = (input: unknown) => {
  const parsed = MqttClientSourceSchema.safeParse(input)
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('mqtt_client config', () => {
  test('downlinks by <domain>.<action>, confirmed false by default; none by default', () => {
    const parsed = MqttClientSourceSchema.parse(chirp({ 'lighting.dim': { fPort: 10, confirmed: true }, 'water.pump': { fPort: 3 } }))
    expect(parsed.subscriptions[0]!.chirpstack.downlinks).toEqual({ 'lighting.dim': { fPort: 10, confirmed: true }, 'water.pump': { fPort: 3, confirmed: false } })
    expect(MqttClientSourceSchema.parse({ ...base, subscriptions: [{ filter: 'x/#' }] }).subscriptions[0]!.chirpstack.downlinks).toEqual({})
    expect(MqttClientSourceSchema.parse({ ...base, subscriptions: [{ filter: 'x/#' }] }).autoRegister).toBeUndefined()
  })

  test.each([
    ['an action the catalogue lacks', chirp({ 'lighting.blink': { fPort: 10 } }), /downlinks\.lighting\.blink: expected <domain>\.<action>/],
    ['a domain with no commands', chirp({ 'environment.switch': { fPort: 10 } }), /expected <domain>\.<action>/],
    ['fPort 0', chirp({ 'lighting.dim': { fPort: 0 } }), /downlinks\.lighting\.dim\.fPort/],
    ['fPort 224 (reserved)', chirp({ 'lighting.dim': { fPort: 224 } }), /fPort/],
    ['an unknown key', chirp({ 'lighting.dim': { fPort: 10, port: 1 } }), /lighting\.dim/],
    ['downlinks on a gridline subscription', { ...base, subscriptions: [{ filter: 'x/#', chirpstack: { downlinks: { 'lighting.dim': { fPort: 1 } } } }] }, /subscriptions\.0\.chirpstack\.downlinks: downlinks need decoder: chirpstack/],
    ['autoRegister without a gateway', { ...base, subscriptions: [{ filter: 'x/#' }], autoRegister: { domain: 'environment' } }, /autoRegister\.gateway/],
    ['autoRegister maxPerHour 0', { ...base, subscriptions: [{ filter: 'x/#' }], autoRegister: { domain: 'environment', gateway: 'gw-1', maxPerHour: 0 } }, /autoRegister\.maxPerHour/],
  ])('refuses %s', (_name, input, message) => {
    expect(problems(input).join('\n')).toMatch(message)
  })
})

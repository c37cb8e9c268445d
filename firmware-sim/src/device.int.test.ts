import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { waitFor } from '../../test/support.ts'
import { Simulator } from './simulator.ts'
import { type TestBroker, startTestBroker } from './test-support/broker.ts'

let broker: TestBroker
let sim: Simulator | undefined

beforeEach(async () => {
  broker = await startTestBroker()
})
afterEach(async () => {
  await sim?.stop()
  sim = undefined
  await broker.close()
})

const NOON_DANANG = Date.UTC(2026, 10, 25, 5)
const on = (topic: string) => broker.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as Record<string, unknown>)

async function startOne(kind: 'street_light' | 'pump' | 'air_quality', id: string, intervalMs = 50): Promise<Simulator> {
  sim = new Simulator({ url: broker.url, devices: [{ id, kind }], intervalMs, simStartMs: NOON_DANANG, reconnectMinMs: 50, reconnectMaxMs: 200 })
  await sim.start()
  await sim.allConnected(5_000)
  return sim
}

describe('a simulated device on a real broker', () => {
  test('announces itself online (retained), and the broker publishes its will when the connection is cut', async () => {
    const s = await startOne('air_quality', 'aq-will')
    await waitFor(() => on('status/environment/aq-will').length >= 1, 5_000, 'the online status')
    expect(on('status/environment/aq-will')[0]).toMatchObject({ state: 'online', ts: expect.any(String) })
    s.devices[0]!.dropConnection(60_000)
    await waitFor(() => on('status/environment/aq-will').some((m) => m.state === 'offline'), 5_000, 'the will')
    expect(on('status/environment/aq-will').at(-1)).toEqual({ state: 'offline' })
  })

  test('after a reconnect it delivers the readings it buffered, with no seq missing', async () => {
    const s = await startOne('air_quality', 'aq-buffer')
    await waitFor(() => on('telemetry/environment/aq-buffer').length >= 3, 5_000, 'first readings')
    s.devices[0]!.dropConnection(400)
    await waitFor(() => s.stats.buffered >= 3, 5_000, 'readings buffered while offline')
    await waitFor(() => s.stats.bufferFlushed >= 3, 5_000, 'the buffer flushed after the reconnect')
    const flushedUpTo = s.stats.buffered
    await waitFor(() => on('telemetry/environment/aq-buffer').length >= flushedUpTo + 5, 5_000, 'readings after the burst')
    await s.stop()
    const seqs = on('telemetry/environment/aq-buffer').map((m) => m.seq as number)
    const unique = [...new Set(seqs)].sort((a, b) => a - b)
    expect(unique).toEqual(Array.from({ length: unique.length }, (_, i) => i))
    expect(s.stats.disconnects).toBe(1)
    expect(s.stats.connects).toBe(2)
  })

  test('a command gets a reply and the next telemetry shows the change; unknown actions are rejected', async () => {
    await startOne('street_light', 'lamp-cmd')
    await waitFor(() => on('telemetry/lighting/lamp-cmd').length >= 1, 5_000, 'a reading')
    expect(on('telemetry/lighting/lamp-cmd')[0]!.values).toMatchObject({ lamp_on: false, power: 0 })
    await broker.observer.publishAsync('commands/lighting/lamp-cmd', JSON.stringify({ id: 'c-1', action: 'switch', params: { on: true } }), { qos: 1 })
    await broker.observer.publishAsync('commands/lighting/lamp-cmd', JSON.stringify({ id: 'c-2', action: 'dim', params: { level: 40 } }), { qos: 1 })
    await broker.observer.publishAsync('commands/lighting/lamp-cmd', JSON.stringify({ id: 'c-3', action: 'fly', params: {} }), { qos: 1 })
    await waitFor(() => on('replies/lighting/lamp-cmd').length >= 3, 5_000, 'three replies')
    const replies = on('replies/lighting/lamp-cmd')
    expect(replies.map((r) => [r.id, r.status])).toEqual([['c-1', 'ok'], ['c-2', 'ok'], ['c-3', 'rejected']])
    expect(replies[2]!.detail).toMatch(/Unknown action "fly"/)
    expect(replies[0]!.ts).toEqual(expect.any(String))
    const count = on('telemetry/lighting/lamp-cmd').length
    await waitFor(() => on('telemetry/lighting/lamp-cmd').length > count + 1, 5_000, 'the next readings')
    expect(on('telemetry/lighting/lamp-cmd').at(-1)!.values).toMatchObject({ lamp_on: true, dim_level: 40 })
  })

  test('a pump stops on command and its flow drops to zero', async () => {
    await startOne('pump', 'pump-cmd')
    await waitFor(() => on('telemetry/water/pump-cmd').length >= 1, 5_000, 'a reading')
    expect(on('telemetry/water/pump-cmd')[0]!.values).toMatchObject({ pump_on: true })
    await broker.observer.publishAsync('commands/water/pump-cmd', JSON.stringify({ id: 'p-1', action: 'pump', params: { running: false } }), { qos: 1 })
    await waitFor(() => on('replies/water/pump-cmd').length >= 1, 5_000, 'the reply')
    expect(on('replies/water/pump-cmd')[0]).toMatchObject({ id: 'p-1', status: 'ok' })
    const count = on('telemetry/water/pump-cmd').length
    await waitFor(() => on('telemetry/water/pump-cmd').length > count + 1, 5_000, 'the next readings')
    expect(on('telemetry/water/pump-cmd').at(-1)!.values).toMatchObject({ pump_on: false, flow: 0 })
  })

  test('a command delivered twice is answered twice and carried out once; an expired one is rejected', async () => {
    const s = await startOne('street_light', 'lamp-twice')
    await waitFor(() => on('telemetry/lighting/lamp-twice').length >= 1, 5_000, 'a reading')
    const dim = JSON.stringify({ id: 'd-1', action: 'dim', params: { level: 30 } })
    await broker.observer.publishAsync('commands/lighting/lamp-twice', dim, { qos: 1 })
    await broker.observer.publishAsync('commands/lighting/lamp-twice', dim, { qos: 1 })
    await broker.observer.publishAsync('commands/lighting/lamp-twice', JSON.stringify({ id: 'd-2', action: 'dim', params: { level: 90 }, expiresAt: new Date(Date.now() - 1000).toISOString() }), { qos: 1 })
    await waitFor(() => on('replies/lighting/lamp-twice').length >= 3, 5_000, 'three replies')
    const replies = on('replies/lighting/lamp-twice')
    expect(replies.map((r) => [r.id, r.status])).toEqual([['d-1', 'ok'], ['d-1', 'ok'], ['d-2', 'rejected']])
    expect(replies[1]).toEqual(replies[0])
    expect(replies[2]!.detail).toMatch(/expired/)
    expect(s.stats.replies.ok).toBe(1)
  })

  test('a clean stop publishes the offline status with a time', async () => {
    const s = await startOne('air_quality', 'aq-stop')
    await waitFor(() => on('status/environment/aq-stop').length >= 1, 5_000, 'the online status')
    await s.stop()
    await waitFor(() => on('status/environment/aq-stop').length >= 2, 5_000, 'the offline status')
    expect(on('status/environment/aq-stop').at(-1)).toMatchObject({ state: 'offline', ts: expect.any(String) })
  })
})

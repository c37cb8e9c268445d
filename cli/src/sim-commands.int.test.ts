import { DeviceCommandSchema } from '@gridline/schemas'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase, silentLogger, waitFor } from '../../test/support.ts'
// Not yet exported by @gridline/ingest's index; the dependency still points firmware-sim -> ingest.
import { COMMAND_MIGRATIONS, CommandService } from '@gridline/ingest'
import { Simulator } from '@gridline/firmware-sim'
import { type TestBroker, startTestBroker } from '@gridline/firmware-sim/testing'

// The operator side (CommandService, real PostgreSQL) against real simulated
// devices on a real broker: the command the service publishes is one the
// firmware obeys, and the replies the firmware sends are ones the service
// accepts. The broker's observer hands replies to the service, as the ingest
// MQTT source does (its own checks are in ingest/src/commands/command-service.int.test.ts).

const NOON_DANANG = Date.UTC(2026, 10, 25, 5)
const TIMEOUT_MS = 1_000
const registered: Record<string, { domain: string; kind: string }> = {
  'sim-lamp-ok': { domain: 'lighting', kind: 'device' },
  'sim-lamp-failed': { domain: 'lighting', kind: 'device' },
  'sim-pump': { domain: 'water', kind: 'device' },
  'sim-main': { domain: 'water', kind: 'device' },
  'sim-lamp-offline': { domain: 'lighting', kind: 'device' },
}

let db: TestDatabase
let broker: TestBroker
let commands: CommandService
const sims: Simulator[] = []

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  // Until schema.ts applies COMMAND_MIGRATIONS itself; then this finds them applied.
  const { rows: applied } = await db.pool.query('SELECT version FROM gridline_migrations')
  for (const m of COMMAND_MIGRATIONS) if (!applied.some((r) => r.version === m.version)) await db.pool.query(m.sql)
  broker = await startTestBroker()
  commands = new CommandService({
    pool: db.pool,
    publish: (topic, payload) => broker.observer.publish(topic, payload, { qos: 1 }),
    lookup: (id) => registered[id],
    logger: silentLogger(),
    timeoutMs: TIMEOUT_MS,
  })
  await commands.start()
  broker.observer.on('message', (topic, payload) => {
    const [kind, domain, deviceId] = topic.split('/')
    if (kind !== 'replies') return
    const result = commands.onReply(deviceId!, domain!, payload)
    // Every reply the firmware sends must be well-formed.
    expect(result).toEqual({ ok: true })
  })
  const start = async (options: ConstructorParameters<typeof Simulator>[0]) => {
    const sim = new Simulator({ simStartMs: NOON_DANANG, reconnectMinMs: 50, reconnectMaxMs: 200, ...options })
    sims.push(sim)
    await sim.start()
    await sim.allConnected(5_000)
    return sim
  }
  await start({ url: broker.url, intervalMs: 50, devices: [{ id: 'sim-lamp-ok', kind: 'street_light' }, { id: 'sim-pump', kind: 'pump' }, { id: 'sim-main', kind: 'water_main' }] })
  // Every reading is a chance for the lamp to fail: it fails on the first.
  await start({ url: broker.url, intervalMs: 50, devices: [{ id: 'sim-lamp-failed', kind: 'street_light' }], faults: { lamp_failure: 1 } })
  // The devices subscribe to their command topics right after connecting; wait for the first readings.
  await waitFor(() => ['sim-lamp-ok', 'sim-pump', 'sim-lamp-failed'].every((id) => broker.messages.some((m) => m.topic.endsWith(`/${id}`) && m.topic.startsWith('telemetry/'))), 5_000, 'first readings')
})

afterAll(async () => {
  await Promise.all(sims.map((s) => s.stop()))
  await commands?.stop()
  await broker?.close()
  await db?.drop()
})

const readings = (topic: string) => broker.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as { values: Record<string, unknown> })

test('a street light obeys dim and switch, and its next readings show it', async () => {
  const dim = await commands.send({ deviceId: 'sim-lamp-ok', action: 'dim', params: { level: 40 } }, 'alice')
  const on = await commands.send({ deviceId: 'sim-lamp-ok', action: 'switch', params: { on: true } }, 'alice')
  expect(await commands.waitForResult(dim.id)).toMatchObject({ status: 'ok', detail: 'Dim level set to 40 %.' })
  expect(await commands.waitForResult(on.id)).toMatchObject({ status: 'ok', detail: 'Lamp switched on.' })
  // At noon the lamp is off by schedule; now it is on at 40 %.
  const seen = readings('telemetry/lighting/sim-lamp-ok').length
  await waitFor(() => readings('telemetry/lighting/sim-lamp-ok').length > seen, 5_000, 'a reading after the commands')
  expect(readings('telemetry/lighting/sim-lamp-ok').at(-1)!.values).toMatchObject({ lamp_on: true, dim_level: 40 })
  // What the service published is the contract's command.
  const published = broker.messages.filter((m) => m.topic === 'commands/lighting/sim-lamp-ok').map((m) => DeviceCommandSchema.parse(JSON.parse(m.payload)))
  expect(published.map((c) => c.id)).toEqual([dim.id, on.id])

  const back = await commands.send({ deviceId: 'sim-lamp-ok', action: 'schedule', params: {} }, 'alice')
  expect(await commands.waitForResult(back.id)).toMatchObject({ status: 'ok' })
})

test('a pump running on its schedule stops on command', async () => {
  const stop = await commands.send({ deviceId: 'sim-pump', action: 'pump', params: { running: false } }, 'bob')
  expect(await commands.waitForResult(stop.id)).toMatchObject({ status: 'ok', detail: 'Pump stopped.' })
  const seen = readings('telemetry/water/sim-pump').length
  await waitFor(() => readings('telemetry/water/sim-pump').length > seen, 5_000, 'a reading after the command')
  expect(readings('telemetry/water/sim-pump').at(-1)!.values).toMatchObject({ pump_on: false })
})

test('switching on a failed lamp fails; a water main refuses a pump command', async () => {
  const on = await commands.send({ deviceId: 'sim-lamp-failed', action: 'switch', params: { on: true } }, 'alice')
  expect(await commands.waitForResult(on.id)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/lamp has failed/) })
  // The catalogue is per domain; this water device has no pump, and says so.
  const pump = await commands.send({ deviceId: 'sim-main', action: 'pump', params: { running: true } }, 'alice')
  expect(await commands.waitForResult(pump.id)).toMatchObject({ status: 'rejected', detail: expect.stringMatching(/Unknown action "pump"/) })
})

test('a device that is not connected never replies: timeout', async () => {
  const sent = await commands.send({ deviceId: 'sim-lamp-offline', action: 'switch', params: { on: false } }, 'alice')
  expect(await commands.waitForResult(sent.id)).toMatchObject({ status: 'timeout', repliedAt: null })
  const { rows } = await db.pool.query('SELECT status FROM device_commands WHERE id = $1', [sent.id])
  expect(rows[0].status).toBe('timeout')
  expect(commands.stats()).toMatchObject({ sent: 7, ok: 4, failed: 1, rejected: 1, timeout: 1, pending: 0, lateReplies: 0, unknownReplies: 0 })
})

import { randomBytes, randomUUID } from 'node:crypto'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { until } from '../../../../test/support.ts'
import { type TestService, startTestService } from '../../testing/index.ts'
import { mosquittoPub } from './test-helpers.ts'

// autoRegister on the mqtt_client source, against the machine's Mosquitto
// (127.0.0.1:1883) with mosquitto_pub publishing: messages whose device
// mapping names no registered device (a topic level, a line protocol device
// tag, a ChirpStack uplink's DevEUI) register it behind the configured
// gateway and are stored; past maxPerHour they are dead-lettered as before;
// a registry that cannot be written leaves the message unacknowledged, so
// the broker sends it again. Topics and client ids are unique per run.

const RUN = `ar${randomBytes(4).toString('hex')}`
const APP = randomUUID()
const GW = `gw-${RUN}`
const T0 = Date.parse('2026-12-07T01:00:00Z')
let t: TestService

const publish = (topic: string, lines: string[]) => mosquittoPub(['-h', '127.0.0.1', '-p', '1883', '-i', `${RUN}-pub-${randomBytes(2).toString('hex')}`], topic, lines)

async function device(id: string) {
  const { rows } = await t.db.pool.query('SELECT kind, domain, gateway, credentials_hash, metadata FROM devices WHERE id = $1', [id])
  return rows[0] as { kind: string; domain: string; gateway: string; credentials_hash: string | null; metadata: Record<string, unknown> } | undefined
}

const stored = async (id: string): Promise<number> =>
  Number((await t.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [id])).rows[0]!.n)

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
  return line ? Number(line.split(' ').pop()) : 0
}
const registered = (outcome: string) => metric('gridline_mqtt_client_auto_registered_total', `component_id="city",outcome="${outcome}"`)

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: GW, kind: 'gateway' }],
    config: {
      sources: {
        city: {
          type: 'mqtt_client',
          url: 'mqtt://127.0.0.1:1883',
          protocolVersion: 5,
          clientId: RUN,
          sessionExpirySeconds: 60,
          reconnect: { initialMs: 100, maxMs: 400 },
          autoRegister: { domain: 'environment', gateway: GW, maxPerHour: 8 },
          subscriptions: [
            { filter: `${RUN}/sensors/+/data`, device: { topicLevel: 2 } },
            { filter: `${RUN}/telegraf/#`, decoder: 'line_protocol' },
            { filter: `application/${APP}/device/+/event/+`, decoder: 'chirpstack' },
          ],
        },
      },
      processors: { onSecondInstance: 'warn' },
    },
  })
}, 30_000)

afterAll(async () => {
  await t?.stop()
  const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${RUN}-0`, clean: true, protocolVersion: 5, reconnectPeriod: 0 })
  await c.endAsync()
})

describe('mqtt_client autoRegister', () => {
  test('a topic level naming a new device registers it behind the gateway (no password); 20 quick messages register it once and are all stored', async () => {
    const id = `aq-${RUN}`
    await publish(`${RUN}/sensors/${id}/data`, Array.from({ length: 20 }, (_, i) => JSON.stringify({ ts: T0 + i * 1_000, values: { pm25: i } })))
    expect(await until(() => stored(id), (n) => n >= 20)).toBe(20)
    expect(await device(id)).toMatchObject({ kind: 'device', domain: 'environment', gateway: GW, credentials_hash: null })
    expect(await registered('registered')).toBe(1)
  })

  test('line protocol naming two new hosts registers both and stores every point', async () => {
    await publish(`${RUN}/telegraf/cabinet-1`, [`env,host=tg1-${RUN} pm25=11 ${BigInt(T0) * 1_000_000n}\nenv,host=tg2-${RUN} pm25=12 ${BigInt(T0) * 1_000_000n}`])
    expect(await until(() => stored(`tg2-${RUN}`), (n) => n >= 1)).toBe(1)
    expect(await stored(`tg1-${RUN}`)).toBe(1)
    expect(await device(`tg1-${RUN}`)).toMatchObject({ gateway: GW })
  })

  test('a ChirpStack uplink from a new DevEUI registers its device name with devEui and its application; without a name, eui-<DevEUI>', async () => {
    const named = randomBytes(8).toString('hex')
    const nameless = randomBytes(8).toString('hex')
    const up = (eui: string, deviceName?: string) => JSON.stringify({ time: new Date(T0).toISOString(), deviceInfo: { applicationId: APP, devEui: eui, ...(deviceName ? { deviceName } : {}) }, fCnt: 1, fPort: 2, object: { pm25: 7.5 } })
    await publish(`application/${APP}/device/${named}/event/up`, [up(named, `cs-${RUN}`)])
    await publish(`application/${APP}/device/${nameless}/event/up`, [up(nameless)])
    expect(await until(() => stored(`cs-${RUN}`), (n) => n >= 1)).toBe(1)
    expect(await device(`cs-${RUN}`)).toMatchObject({ gateway: GW, domain: 'environment', metadata: { devEui: named, chirpstackApplicationId: APP } })
    expect(await until(() => stored(`eui-${nameless}`), (n) => n >= 1)).toBe(1)
  })

  test('when the registry cannot be written the message is not acknowledged; the broker sends it again and once it can, it is stored', async () => {
    // A real failure in PostgreSQL: a trigger refuses this id.
    await t.db.pool.query(`CREATE FUNCTION refuse_ar() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`)
    await t.db.pool.query(`CREATE TRIGGER refuse_ar BEFORE INSERT ON devices FOR EACH ROW WHEN (NEW.id LIKE 'aq-fail%') EXECUTE FUNCTION refuse_ar()`)
    const id = `aq-fail-${RUN}`
    const before = await metric('gridline_mqtt_client_redeliveries_total', 'component_id="city"')
    await publish(`${RUN}/sensors/${id}/data`, [JSON.stringify({ ts: T0, values: { pm25: 3 } })])
    expect(await until(() => metric('gridline_mqtt_client_redeliveries_total', 'component_id="city"'), (n) => n >= before + 2)).toBeGreaterThanOrEqual(before + 2)
    expect(await device(id)).toBeUndefined()
    await t.db.pool.query('DROP TRIGGER refuse_ar ON devices; DROP FUNCTION refuse_ar()')
    expect(await until(() => stored(id), (n) => n >= 1)).toBe(1)
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM rejected WHERE topic LIKE $1', [`%${id}%`])
    expect(rows[0]).toEqual({ n: 0 })
  })

  test('past maxPerHour new devices are dead-lettered as device_unknown and counted over_limit; known ones still stored', async () => {
    // 6 of the 8 are spent above (the refused attempts were given back); this message names 4 new hosts.
    const hosts = [1, 2, 3, 4].map((i) => `lim${i}-${RUN}`)
    await publish(`${RUN}/telegraf/cabinet-2`, [hosts.map((h) => `env,host=${h} pm25=1 ${BigInt(T0) * 1_000_000n}`).join('\n')])
    const unknown = await until(async () => (await t.db.pool.query<{ detail: string }>(`SELECT detail FROM rejected WHERE reason = 'device_unknown' AND topic = $1`, [`${RUN}/telegraf/cabinet-2`])).rows, (r) => r.length >= 2)
    expect(unknown.map((r) => r.detail).join('\n')).toMatch(new RegExp(`lim3-${RUN}[\\s\\S]*lim4-${RUN}`))
    expect(await stored(hosts[0]!)).toBe(1)
    expect(await stored(hosts[1]!)).toBe(1)
    expect(await device(hosts[2]!)).toBeUndefined()
    expect(await registered('over_limit')).toBe(2)
    expect(await registered('registered')).toBe(8)
  })
})

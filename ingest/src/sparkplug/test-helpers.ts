import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import sparkplugClient from 'sparkplug-client'
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js'
import { expect } from 'vitest'
import { until } from '../../../test/support.ts'
import type { TestService } from '../testing/index.ts'

// What the Sparkplug tests share: Eclipse Tahu's JavaScript edge node (npm
// sparkplug-client, not gridline's code) set up as a pumping station PLC's
// gateway, its births, and reads of what gridline stored.

export type EdgeNode = ReturnType<typeof sparkplugClient.newClient>

/** The edge node's MQTT connection (mqtt.js), private in the typings: to see it reconnect and to cut it. */
export const mqttOf = (node: EdgeNode): MqttClient => (node as unknown as { client: MqttClient }).client

/** An edge node of `group` on `serverUrl`, resolved once connected (before any birth). */
export async function edgeNode(serverUrl: string, group: string, edgeNodeId: string, login?: { username: string; password: string }): Promise<EdgeNode> {
  const node = sparkplugClient.newClient({
    serverUrl,
    username: login?.username ?? '',
    password: login?.password ?? '',
    groupId: group,
    edgeNode: edgeNodeId,
    clientId: `${edgeNodeId}-${randomBytes(2).toString('hex')}`,
    version: 'spBv1.0',
    publishDeath: true,
  })
  await new Promise<void>((resolve, reject) => {
    node.once('birth', () => resolve())
    node.once('error', reject)
  })
  return node
}

/** A pump PLC's DBIRTH: three measurements by alias, a string and a control metric (neither stored). */
export const plcBirth = (ts: number): UPayload => ({
  timestamp: ts,
  metrics: [
    { name: 'Inputs/Flow', alias: 1, type: 'Double', value: 120.5, timestamp: ts },
    { name: 'Inputs/Discharge Pressure', alias: 2, type: 'Float', value: 3.25, timestamp: ts },
    { name: 'Outputs/Pump Running', alias: 3, type: 'Boolean', value: true, timestamp: ts },
    { name: 'Info/Firmware', alias: 4, type: 'String', value: 'v2.1', timestamp: ts },
    { name: 'Device Control/Rebirth', alias: 5, type: 'Boolean', value: false, timestamp: ts },
  ],
})

export const nodeBirth = (ts: number): UPayload => ({ timestamp: ts, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'Properties/Hardware Make', type: 'String', value: 'Tahu' }] })

/** Births as a real edge node sends them on connect, and again on each rebirth request (NCMD Node Control/Rebirth). */
export function bornOnRequest(node: EdgeNode, device: string, ts: () => number): void {
  const births = () => {
    node.publishNodeBirth(nodeBirth(ts()))
    node.publishDeviceBirth(device, plcBirth(ts()))
  }
  node.on('ncmd', (payload: UPayload) => {
    if (payload.metrics?.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) births()
  })
  births()
}

/** Reads of the test service's database and metrics. */
export function storedBy(t: () => TestService) {
  return {
    rows: async (device: string) =>
      (await t().db.pool.query<{ metric: string; value: number; ms: string }>('SELECT metric, value, (extract(epoch FROM time) * 1000)::bigint AS ms FROM telemetry WHERE device_id = $1 ORDER BY time, metric', [device])).rows.map((r) => ({ metric: r.metric, value: r.value, ts: Number(r.ms) })),
    status: async (device: string) =>
      (await t().db.pool.query<{ state: string }>('SELECT state FROM device_status WHERE device_id = $1', [device])).rows[0]?.state ?? null,
    rejected: async (reason: string) =>
      (await t().db.pool.query<{ topic: string; detail: string }>('SELECT topic, detail FROM rejected WHERE reason = $1 ORDER BY id', [reason])).rows,
    metric: async (name: string, labels: string) => {
      const text = await (await fetch(`${t().httpUrl}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
      return line ? Number(line.split(' ').pop()) : 0
    },
  }
}

/** `until`, failing the test when `done` is still false at the timeout (with the last value in the message). */
export async function soon<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs?: number): Promise<T> {
  const v = await until(read, done, timeoutMs)
  expect(v).toSatisfy(done)
  return v
}

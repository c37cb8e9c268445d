import '@gridline/edge-agent/testing/quiet-opcua'
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { stringify } from 'yaml'
import { type TestDatabase, createTestDatabase, waitFor } from '../../test/support.ts'
import { CuttableProxy, baseConfig, temporaryDir } from '@gridline/edge-agent/testing'
import { registerGateway, startIngest } from './edge-testing.ts'

// Proof 2: `kill -9` of the agent process while it is sending; after a
// restart nothing it acknowledged to a device is lost, and nothing is stored twice.

const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
const TOTAL = 3_000

let db: TestDatabase
let ingest: Awaited<ReturnType<typeof startIngest>>
let proxy: CuttableProxy
let data: Awaited<ReturnType<typeof temporaryDir>>
let configPath: string
const children: ChildProcess[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  ingest = await startIngest(db)
  await registerGateway(db, 'gw-edge-1', [{ id: 'kill-1', domain: 'water' }])
  proxy = new CuttableProxy(ingest.mqttPort)
  await proxy.start()
  data = await temporaryDir()
  configPath = join(data.dir, 'edge.yaml')
  writeFileSync(configPath, stringify(baseConfig(join(data.dir, 'agent'), proxy.port, {
    log: { level: 'info' },
    mqtt: [{ name: 'lan', broker: { type: 'embedded', host: '127.0.0.1', port: 0 }, subscriptions: [{ topic: 'lan/+/state', device: '{1}', domain: 'water', values: { level: 'level' }, ts: 'ts' }] }],
  })))
})

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await proxy?.stop()
  await ingest?.service.stop()
  await db?.drop()
  await data?.remove()
})

/** Starts `gridline edge --config` as its own process; resolves with the port of its embedded broker once it runs. */
async function startAgentProcess(): Promise<{ child: ChildProcess; brokerPort: number }> {
  const child = spawn(process.execPath, [BIN, 'edge', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let buffer = ''
  child.stderr!.on('data', (chunk: Buffer) => { buffer += chunk.toString() })
  const brokerPort = await new Promise<number>((resolve, reject) => {
    let port = 0
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (const line of buffer.split('\n')) {
        if (line.includes('embedded MQTT broker for local devices is listening')) port = JSON.parse(line).port
        if (line.includes('The edge agent is running') && port) resolve(port)
      }
    })
    child.once('exit', (code) => reject(new Error(`gridline edge exited with ${code}: ${buffer.slice(-2000)}`)))
  })
  return { child, brokerPort }
}

/** A LAN device sending readings 0..TOTAL-1 with 50 in flight; unacknowledged ones are sent again after a reconnect. */
class LanDevice {
  readonly acked = new Set<number>()
  private next = 0
  private readonly unacked = new Set<number>()
  private client: MqttClient | undefined
  readonly base = Date.now() - 3_600_000

  connect(port: number): void {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'kill-1', protocolVersion: 4, reconnectPeriod: 0 })
    this.client = client
    client.on('error', () => undefined)
    client.on('connect', () => {
      const resend = [...this.unacked]
      this.unacked.clear()
      for (const n of resend) this.send(client, n)
      for (let i = this.unacked.size; i < 50; i++) this.sendNext(client)
    })
  }

  private sendNext(client: MqttClient): void {
    if (this.next >= TOTAL) return
    this.send(client, this.next++)
  }

  private send(client: MqttClient, n: number): void {
    this.unacked.add(n)
    client.publish('lan/kill-1/state', JSON.stringify({ ts: this.base + n, level: n % 40 }), { qos: 1 }, (err) => {
      if (err || client !== this.client) return
      this.unacked.delete(n)
      this.acked.add(n)
      setTimeout(() => this.sendNext(client), 1)
    })
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined)
  }
}

describe('kill -9 of the agent in the middle of sending', () => {
  test('after a restart every reading it acknowledged is stored, and none twice', async () => {
    const device = new LanDevice()
    const first = await startAgentProcess()
    device.connect(first.brokerPort)
    await waitFor(async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'kill-1'`)
      return device.acked.size > 800 && rows[0].n > 200
    }, 20_000, 'readings to flow through the agent')
    first.child.kill('SIGKILL')
    await new Promise((resolve) => first.child.once('exit', resolve))
    const ackedBeforeKill = [...device.acked]
    await device.close()

    const second = await startAgentProcess()
    device.connect(second.brokerPort)
    await waitFor(() => device.acked.size === TOTAL, 20_000, 'the device to have every reading acknowledged')
    await waitFor(async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'kill-1'`)
      return rows[0].n >= TOTAL
    }, 20_000, 'every reading to be stored')
    await device.close()
    second.child.kill('SIGTERM')

    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT time)::int AS times, count(DISTINCT seq)::int AS seqs FROM telemetry WHERE device_id = 'kill-1'`)
    expect(rows[0]).toEqual({ n: TOTAL, times: TOTAL, seqs: TOTAL })
    const stored = await db.pool.query(`SELECT (extract(epoch FROM time) * 1000)::bigint AS ms FROM telemetry WHERE device_id = 'kill-1'`)
    const storedSet = new Set(stored.rows.map((r) => Number(r.ms) - device.base))
    expect(ackedBeforeKill.filter((n) => !storedSet.has(n))).toEqual([])
  })
})

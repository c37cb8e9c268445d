import '@gridline/edge-agent/testing/quiet-opcua'
import { readdir, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase, silentLogger, waitFor } from '../../test/support.ts'
import { type EdgeAgent, buildEdgeAgent, edgeConfig } from '@gridline/edge-agent'
import { CuttableProxy, baseConfig, deviceRows, temporaryDir } from '@gridline/edge-agent/testing'
import { registerGateway, startIngest } from './edge-testing.ts'

// Proof 4 (disk quota reached during a long outage) and proof 6 (a corrupted
// tail record in the queue file), with the real ingest service and PostgreSQL.

let db: TestDatabase
let ingest: Awaited<ReturnType<typeof startIngest>>
let proxy: CuttableProxy
let data: Awaited<ReturnType<typeof temporaryDir>>
const agents: EdgeAgent[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  ingest = await startIngest(db)
  await registerGateway(db, 'gw-edge-1', [{ id: 'quota-1', domain: 'water' }, { id: 'torn-1', domain: 'water' }])
  proxy = new CuttableProxy(ingest.mqttPort)
  await proxy.start()
  data = await temporaryDir()
})

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => undefined)
  await proxy?.stop()
  await ingest?.service.stop()
  await db?.drop()
  await data?.remove()
})

async function startAgent(dir: string, queue: Record<string, unknown> = {}): Promise<{ agent: EdgeAgent; httpPort: number }> {
  const agent = buildEdgeAgent(edgeConfig(baseConfig(dir, proxy.port, { queue })), silentLogger())
  agents.push(agent)
  const { httpPort } = await agent.start()
  return { agent, httpPort }
}

describe('disk quota during a long outage', () => {
  test('drop_oldest applies, drops are counted and reported, the agent keeps running and sends the newest readings', async () => {
    proxy.cutLink()
    const { agent, httpPort } = await startAgent(join(data.dir, 'quota'), { maxBytes: 256 * 1024, segmentBytes: 32 * 1024 })
    const base = Date.now() - 3_600_000
    const total = 10_000
    for (let start = 0; start < total; start += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => agent.accept({ device: 'quota-1', domain: 'water', ts: base + (start + i) * 10, values: { level: 1 }, quality: 'good' })))
    }
    const health = agent.health()
    expect(health.queue.bytes).toBeLessThanOrEqual(256 * 1024)
    const dropped = health.queue.dropped.queue_full!
    expect(dropped).toBeGreaterThan(0)
    expect(health.queue.readings + dropped).toBe(total)
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    expect(metrics).toContain(`gridline_edge_readings_dropped_total{reason="queue_full"} ${dropped}`)
    const healthz = await fetch(`http://127.0.0.1:${httpPort}/healthz`)
    expect(healthz.status).toBe(503)

    proxy.restore()
    await waitFor(() => agent.health().queue.readings === 0, 15_000, 'the queue to drain')
    const r = await deviceRows(db, 'quota-1')
    // The oldest readings went; what is stored is exactly the newest ones, once each.
    expect(r.rows).toBe(total - dropped)
    expect([r.minSeq, r.maxSeq]).toEqual([dropped, total - 1])
    expect(r.distinctSeq).toBe(r.rows)
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200)
  })
})

describe('a corrupted tail record in the queue file', () => {
  test('start-up detects it, reports it and delivers the rest', async () => {
    const dir = join(data.dir, 'torn')
    proxy.cutLink()
    const first = await startAgent(dir)
    const base = Date.now() - 3_600_000
    await Promise.all(Array.from({ length: 100 }, (_, i) => first.agent.accept({ device: 'torn-1', domain: 'water', ts: base + i * 1000, values: { level: 2 }, quality: 'good' })))
    await first.agent.stop()
    const queueDir = join(dir, 'queue')
    const segments = (await readdir(queueDir)).filter((n) => n.endsWith('.log')).sort()
    let last = ''
    for (const s of segments) if ((await stat(join(queueDir, s))).size > 0) last = s
    // Power lost in the middle of the last record: its tail never reached the disk.
    await truncate(join(queueDir, last), (await stat(join(queueDir, last))).size - 5)

    proxy.restore()
    const second = await startAgent(dir)
    expect(second.agent.health().queue.corruptAtStart).toBe(1)
    await waitFor(() => second.agent.health().queue.readings === 0, 15_000, 'the queue to drain')
    const r = await deviceRows(db, 'torn-1')
    expect(r.rows).toBe(99)
    expect([r.minSeq, r.maxSeq]).toEqual([0, 98])
    const metrics = await (await fetch(`http://127.0.0.1:${second.httpPort}/metrics`)).text()
    expect(metrics).toContain('gridline_edge_readings_dropped_total{reason="corrupt"} 1')
  })
})

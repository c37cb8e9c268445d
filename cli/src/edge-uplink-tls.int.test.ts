import '@gridline/edge-agent/testing/quiet-opcua'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { makeDevDeviceCert, makeDevServerCert } from '@gridline/ingest'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import { silentLogger, waitFor } from '../../test/support.ts'
import { buildEdgeAgent, edgeConfig } from '@gridline/edge-agent'
import { baseConfig, deviceRows, temporaryDir } from '@gridline/edge-agent/testing'

// The agent's uplink against the real ingest service over TLS only
// (mqtt.port: false): the gateway is registered for certificate login and
// sends no password; its certificate is made by `gridline certs`'s code.

let t: TestService
let db: TestDatabase
let pki: Awaited<ReturnType<typeof temporaryDir>>
let tlsPort: number

beforeAll(async () => {
  pki = await temporaryDir('gridline-edge-tls-gridline-')
  const server = makeDevServerCert(pki.dir)
  makeDevDeviceCert(pki.dir, 'gw-cert-1')
  t = await startTestService({
    devices: [
      { id: 'gw-cert-1', kind: 'gateway', auth: 'cert' },
      { id: 'tank-1', domain: 'water', gateway: 'gw-cert-1', password: 'unused device password' },
    ],
    config: { mqtt: { port: false, tls: { port: 0, ...server } } },
  })
  db = t.db
  tlsPort = t.mqttTlsPort!
})

afterAll(async () => {
  await t?.stop()
  await pki?.remove()
})

describe('uplink to gridline over TLS with a client certificate', () => {
  test('a gateway registered with --auth cert delivers its batches without a password', async () => {
    const data = await temporaryDir()
    const raw = baseConfig(data.dir, 0)
    const { password: _none, ...uplink } = raw.uplink as Record<string, unknown>
    const agent = buildEdgeAgent(edgeConfig({
      ...raw,
      gateway: { id: 'gw-cert-1' },
      uplink: { ...uplink, url: `mqtts://127.0.0.1:${tlsPort}`, tls: { caFile: join(pki.dir, 'ca.pem'), certFile: join(pki.dir, 'devices', 'gw-cert-1.pem'), keyFile: join(pki.dir, 'devices', 'gw-cert-1.key') } },
    }), silentLogger())
    try {
      await agent.start()
      for (let i = 0; i < 20; i++) await agent.accept({ device: 'tank-1', domain: 'water', ts: Date.now() - 1_000 + i, values: { level: i / 10 }, quality: 'good' })
      await waitFor(() => agent.counters.sentLive + agent.counters.sentBackfill === 20, 10_000, '20 readings acknowledged over TLS')
      expect((await deviceRows(db, 'tank-1')).rows).toBe(20)
      expect(agent.health().uplink.lastError).toBeUndefined()
    } finally {
      await agent.stop()
      await data.remove()
    }
  })
})

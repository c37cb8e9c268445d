import '@gridline/edge-agent/testing/quiet-opcua'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PumpStation, startPumpStation } from '@gridline/firmware-sim/plc'
import { silentLogger, waitFor } from '../../test/support.ts'
import { type EdgeAgent, buildEdgeAgent, edgeConfig } from '@gridline/edge-agent'
import { startCaptureBroker, openssl, baseConfig, temporaryDir } from '@gridline/edge-agent/testing'

// OPC-UA security: the PLC simulator offers only SignAndEncrypt and refuses
// anonymous sessions; the agent connects with its own certificate (made in
// its data folder) and logs in with a username and password, or with a user
// certificate; readings flow to the uplink. A wrong password is refused with
// a clear error and the agent keeps trying.

const USER = { username: 'edge', password: 'pump station secret' }

let data: Awaited<ReturnType<typeof temporaryDir>>
let station: PumpStation
let broker: Awaited<ReturnType<typeof startCaptureBroker>>

beforeAll(async () => {
  data = await temporaryDir('gridline-edge-opcua-sec-')
  station = await startPumpStation({
    port: 0, pkiDir: join(data.dir, 'plc-pki'), updateIntervalMs: 100, seed: 5, stationId: 'ps-03',
    securityModes: ['SignAndEncrypt'], users: [USER], allowAnonymous: false,
  })
  broker = await startCaptureBroker()
})

afterAll(async () => {
  await station?.stop()
  await broker?.stop()
  await data?.remove()
})

function agentWith(opcua: Record<string, unknown>): EdgeAgent {
  return buildEdgeAgent(edgeConfig(baseConfig(join(data.dir, 'agent'), broker.port, {
    opcua: [{
      name: 'ps-03',
      endpointUrl: station.endpointUrl,
      securityMode: 'SignAndEncrypt',
      publishingIntervalMs: 100,
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
      defaults: { samplingIntervalMs: 100 },
      nodes: [
        { nodeId: station.nodeIds.tankLevel!, device: 'ps-03', domain: 'water', metric: 'level' },
        { nodeId: station.nodeIds.inflow!, device: 'ps-03', domain: 'water', metric: 'inflow' },
      ],
      ...opcua,
    }],
  })), silentLogger())
}

function opcuaHealth(agent: EdgeAgent): { up: boolean; lastError?: string } {
  return agent.health().sources['opcua:ps-03'] as { up: boolean; lastError?: string }
}

/** Readings of both metrics reach the uplink after `from` readings were already there. */
async function readingsFlow(from: number): Promise<void> {
  await waitFor(() => {
    const fresh = broker.readings().slice(from)
    return fresh.some((r) => 'level' in r.values) && fresh.some((r) => 'inflow' in r.values) && fresh.length >= 10
  }, 15_000, 'readings from the secure session to reach the uplink')
}

describe('OPC-UA SignAndEncrypt', () => {
  test('username and password: the session is up, readings flow, certificates are in the data folder', async () => {
    const agent = agentWith({ auth: { type: 'username', ...USER } })
    try {
      await agent.start()
      await readingsFlow(0)
      expect(opcuaHealth(agent).up).toBe(true)
      const pki = join(data.dir, 'agent', 'pki')
      expect(readdirSync(join(pki, 'own', 'certs')).some((f) => f.endsWith('.pem'))).toBe(true)
      expect(readdirSync(join(pki, 'own', 'private'))).toContain('private_key.pem')
      // Trusted on first use: the PLC's certificate is now in the agent's trust list.
      expect(readdirSync(join(pki, 'trusted', 'certs')).length).toBe(1)
    } finally {
      await agent.stop()
    }
  })

  test('a wrong password is refused with a clear error in /healthz, and nothing is read', async () => {
    const agent = agentWith({ auth: { type: 'username', username: USER.username, password: 'wrong' } })
    try {
      await agent.start()
      await waitFor(() => (opcuaHealth(agent).lastError ?? '').length > 0, 15_000, 'the login to be refused')
      expect(opcuaHealth(agent).up).toBe(false)
      expect(opcuaHealth(agent).lastError).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/)
      expect(agent.counters.accepted).toBe(0)
      expect(JSON.stringify(agent.health())).not.toContain('wrong')
    } finally {
      await agent.stop()
    }
  })

  test('a user certificate (X509 identity token) from the data folder: the session is up and readings flow', async () => {
    const userDir = join(data.dir, 'agent', 'pki', 'user')
    mkdirSync(userDir, { recursive: true })
    openssl(userDir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gridline-edge-user',
      '-keyout', 'edge-user.key', '-out', 'edge-user.pem',
      '-addext', 'keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment',
      '-addext', 'subjectAltName=URI:urn:gridline:edge-user')
    const agent = agentWith({ auth: { type: 'certificate', certFile: 'user/edge-user.pem', keyFile: 'user/edge-user.key' } })
    try {
      const before = broker.readings().length
      await agent.start()
      await readingsFlow(before)
      expect(opcuaHealth(agent).up).toBe(true)
    } finally {
      await agent.stop()
    }
  })
})

import './testing/quiet-opcua.ts'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { silentLogger, waitFor } from '../../test/support.ts'
import { buildEdgeAgent } from './agent.ts'
import { edgeConfig } from './config.ts'
import type { Reading } from './reading.ts'
import { startCaptureBroker } from './testing/capture-broker.ts'
import { openssl as runOpenssl } from './testing/openssl.ts'
import { baseConfig, temporaryDir } from './testing/harness.ts'

// Northbound over TLS: the agent sends gateway batches to an mqtts:// broker
// whose certificate is signed by a CA made here with the openssl CLI; with a
// CA that did not sign it, the connection is refused with a clear error and
// every reading stays in the disk queue, to be delivered once the CA is right.

let pki: Awaited<ReturnType<typeof temporaryDir>>
let broker: Awaited<ReturnType<typeof startCaptureBroker>>

function openssl(...args: string[]): void {
  runOpenssl(pki.dir, ...args)
}

/** A CA (EC keys: generated in milliseconds) and, signed by it, a certificate for 127.0.0.1. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=gridline test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
}

function reading(i: number): Reading {
  return { device: 'tls-dev-1', domain: 'water', ts: Date.now() - 1_000 + i, values: { level: i / 10 }, quality: 'good' }
}

beforeAll(async () => {
  pki = await temporaryDir('gridline-edge-tls-')
  makeCa('ca')
  makeCa('other-ca')
  writeFileSync(join(pki.dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1',
    '-keyout', 'server.key', '-out', 'server.csr')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-extfile', 'server.ext', '-out', 'server.pem')
  broker = await startCaptureBroker({ tls: { key: readFileSync(join(pki.dir, 'server.key')), cert: readFileSync(join(pki.dir, 'server.pem')) } })
})

afterAll(async () => {
  await broker?.stop()
  await pki?.remove()
})

function tlsAgent(dataDir: string, caFile: string) {
  const raw = baseConfig(dataDir, broker.port)
  const uplink = raw.uplink as Record<string, unknown>
  return buildEdgeAgent(edgeConfig({ ...raw, uplink: { ...uplink, url: `mqtts://127.0.0.1:${broker.port}`, tls: { caFile } } }), silentLogger())
}

describe('uplink over TLS (mqtts://)', () => {
  test('with the CA that signed the broker certificate, gateway batches arrive', async () => {
    const data = await temporaryDir()
    const agent = tlsAgent(data.dir, join(pki.dir, 'ca.pem'))
    try {
      await agent.start()
      for (let i = 0; i < 50; i++) await agent.accept(reading(i))
      await waitFor(() => agent.counters.sentLive + agent.counters.sentBackfill === 50, 10_000, '50 readings acknowledged over TLS')
      const received = broker.readings().filter((r) => r.device === 'tls-dev-1')
      expect(received.map((r) => r.seq)).toEqual([...Array(50).keys()])
      expect(agent.health().uplink.connected).toBe(true)
      expect(agent.health().uplink.lastError).toBeUndefined()
    } finally {
      await agent.stop()
      await data.remove()
    }
  })

  test('with a wrong CA the broker is refused with a clear error, and every reading stays queued until the CA is fixed', async () => {
    const data = await temporaryDir()
    const received = () => broker.readings().filter((r) => r.device === 'tls-dev-2').length
    const wrong = tlsAgent(data.dir, join(pki.dir, 'other-ca.pem'))
    await wrong.start()
    try {
      for (let i = 0; i < 30; i++) await wrong.accept({ ...reading(i), device: 'tls-dev-2' })
      await waitFor(() => wrong.health().uplink.lastError !== undefined && broker.tlsErrors.length > 0, 10_000, 'the TLS refusal')
      const health = wrong.health()
      expect(health.uplink.connected).toBe(false)
      expect(health.uplink.lastError).toMatch(/^TLS: the certificate of mqtts:\/\/127\.0\.0\.1:\d+ is not trusted by the CA in uplink\.tls\.caFile \(.*other-ca\.pem\): .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\.$/)
      expect(health.status).toBe('degraded')
      expect(health.queue.readings).toBe(30)
      expect(wrong.counters.accepted).toBe(30)
      expect(wrong.counters.sentLive + wrong.counters.sentBackfill).toBe(0)
      expect(received()).toBe(0)
    } finally {
      await wrong.stop()
    }
    // The same data folder with the right CA: the queued readings go out, as backlog, none lost.
    const fixed = tlsAgent(data.dir, join(pki.dir, 'ca.pem'))
    try {
      await fixed.start()
      await waitFor(() => fixed.counters.sentBackfill === 30, 10_000, 'the queued readings to be delivered')
      expect(broker.readings().filter((r) => r.device === 'tls-dev-2').map((r) => [r.seq, r.backfill])).toEqual([...Array(30).keys()].map((i) => [i, true]))
      expect(fixed.health().queue.readings).toBe(0)
    } finally {
      await fixed.stop()
      await data.remove()
    }
  })
})

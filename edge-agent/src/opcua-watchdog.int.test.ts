import './testing/quiet-opcua.ts'
import { join } from 'node:path'
import { DataType, OPCUACertificateManager, OPCUAServer, type UAVariable, Variant } from 'node-opcua'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { silentLogger, waitFor } from '../../test/support.ts'
import { type EdgeAgent, buildEdgeAgent } from './agent.ts'
import { edgeConfig } from './config.ts'
import { startCaptureBroker } from './testing/capture-broker.ts'
import { baseConfig, temporaryDir } from './testing/harness.ts'

// The watchdog: a server that keeps the connection and the session (reads,
// session keep-alives) but whose subscription stops publishing, neither data
// nor keep-alives. The PLC simulator cannot do that (and is not ours to
// change), so a minimal node-opcua server here stops the publishing timer of
// its subscriptions. The agent must notice within watchdogMs plus one watchdog
// check, rebuild, count it in /metrics, and deliver again.

const WATCHDOG_MS = 2_000
/** Watchdog checks run every min(1000, watchdogMs / 4) ms. */
const CHECK_INTERVAL_MS = Math.min(1_000, WATCHDOG_MS / 4)
/** Documented bound in docs/edge-agent.md: watchdogMs + one check, plus slack for a loaded 2-core machine. */
const DETECTION_BOUND_MS = WATCHDOG_MS + CHECK_INTERVAL_MS + 1_500
const DELIVERY_BOUND_MS = 10_000

interface ServerSubscription { _stop_timer(): void }
interface ServerSession { publishEngine?: { subscriptions: ServerSubscription[] } }

let data: Awaited<ReturnType<typeof temporaryDir>>
let server: OPCUAServer
let level: UAVariable
let ticker: NodeJS.Timeout
let broker: Awaited<ReturnType<typeof startCaptureBroker>>
let agent: EdgeAgent
let httpPort: number

beforeAll(async () => {
  data = await temporaryDir('gridline-edge-watchdog-')
  server = new OPCUAServer({
    port: 0,
    serverCertificateManager: new OPCUACertificateManager({ rootFolder: join(data.dir, 'server-pki'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    userCertificateManager: new OPCUACertificateManager({ rootFolder: join(data.dir, 'user-pki'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
  })
  await server.initialize()
  const namespace = server.engine.addressSpace!.getOwnNamespace()
  level = namespace.addVariable({
    organizedBy: server.engine.addressSpace!.rootFolder.objects,
    browseName: 'Level',
    nodeId: 's=wd.Level',
    dataType: 'Double',
  })
  let value = 0
  const push = () => level.setValueFromSource(new Variant({ dataType: DataType.Double, value: (value += 0.1) }))
  push()
  ticker = setInterval(push, 100)
  await server.start()
  broker = await startCaptureBroker()
  agent = buildEdgeAgent(edgeConfig(baseConfig(join(data.dir, 'agent'), broker.port, {
    opcua: [{
      name: 'wd',
      endpointUrl: server.getEndpointUrl(),
      publishingIntervalMs: 100,
      watchdogMs: WATCHDOG_MS,
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
      defaults: { samplingIntervalMs: 100 },
      nodes: [{ nodeId: 'ns=1;s=wd.Level', device: 'wd-1', domain: 'water', metric: 'level' }],
    }],
  })), silentLogger())
  ;({ httpPort } = await agent.start())
})

afterAll(async () => {
  await agent?.stop()
  clearInterval(ticker)
  await server?.shutdown(0)
  await broker?.stop()
  await data?.remove()
})

function opcuaHealth(): { up: boolean; rebuilds: number; watchdogTimeouts: number; lastError?: string } {
  return agent.health().sources['opcua:wd'] as { up: boolean; rebuilds: number; watchdogTimeouts: number; lastError?: string }
}

/** Stops every server-side subscription's publishing timer: no notifications, no keep-alives; sessions and sockets untouched. */
function silenceSubscriptions(): number {
  let silenced = 0
  for (const session of server.engine.getSessions() as unknown as ServerSession[]) {
    for (const subscription of session.publishEngine?.subscriptions ?? []) {
      subscription._stop_timer()
      silenced += 1
    }
  }
  return silenced
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{server="wd"}`))
  return line === undefined ? Number.NaN : Number(line.split(' ').pop())
}

describe('OPC-UA subscription watchdog', () => {
  test('a subscription that goes silent on a live connection is rebuilt within the bound, counted, and delivers again', async () => {
    await waitFor(() => broker.readings().length >= 5, 15_000, 'readings from the subscription')
    expect(opcuaHealth()).toMatchObject({ up: true, rebuilds: 0, watchdogTimeouts: 0 })
    const sessionsBefore = server.engine.currentSessionCount

    expect(silenceSubscriptions()).toBe(1)
    const silencedAt = Date.now()
    const heardAfterSilence = broker.readings().length

    await waitFor(() => opcuaHealth().watchdogTimeouts === 1, DETECTION_BOUND_MS, 'the watchdog to fire')
    const detectedAfterMs = Date.now() - silencedAt
    // Silence was the only fault: the connection and session were still there when the watchdog fired.
    expect(sessionsBefore).toBe(1)
    expect(detectedAfterMs).toBeGreaterThanOrEqual(WATCHDOG_MS - 500)
    expect(detectedAfterMs).toBeLessThan(DETECTION_BOUND_MS)
    expect(opcuaHealth().lastError).toMatch(/watchdog/)

    await waitFor(() => opcuaHealth().up && broker.readings().length >= heardAfterSilence + 5, DELIVERY_BOUND_MS, 'readings after the rebuild')
    expect(opcuaHealth().rebuilds).toBe(1)
    expect(await metric('gridline_edge_opcua_watchdog_timeouts_total')).toBe(1)
    expect(await metric('gridline_edge_opcua_rebuilds_total')).toBe(1)
    expect(await metric('gridline_edge_opcua_session_up')).toBe(1)
    // The old session was closed by the rebuild; exactly one session is left.
    await waitFor(() => server.engine.currentSessionCount === 1, 5_000, 'one server session')
  })
})

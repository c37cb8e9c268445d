/**
 * What a user would otherwise build, in its own process, for `peers`:
 *
 * - `naive-subscriber`: a plain mqtt.js subscriber on Mosquitto (QoS 1) that
 *   INSERTs each reading's rows one at a time with `pool.query`, awaiting
 *   each, as the usual tutorial writes it.
 * - `node-red`: Node-RED 4.1 embedded (`RED.init`, no editor), a flow of an
 *   `mqtt in` node (QoS 1, parsed JSON) wired to a `function` node that does
 *   the same INSERTs with a `pg` pool from functionGlobalContext (the
 *   node-red-contrib-postgresql node is not in this registry).
 *
 * Argument: the kind. Commands: `start`, `sample`, `stop`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import { serveRequests } from './ipc.ts'

export type PeerKind = 'naive-subscriber' | 'node-red'

export interface PeerStartRequest {
  mosquittoPort: number
  /** MQTT topic filter of this run's telemetry, e.g. gridline-bench/<run>/peer/telemetry/+/+ */
  topicFilter: string
  databaseUrl: string
  /** Where Node-RED keeps its user directory (a fresh temp directory below it). */
  scratchDir: string
}

export interface PeerSample {
  rssBytes: number
  /** CPU since the previous sample, % of one core. */
  cpuPercent: number
  received: number
  errors: number
}

/** The INSERT both peers run, once per row: the columns a user would fill. */
export const PEER_INSERT = 'INSERT INTO telemetry (time, device_id, metric, value, seq) VALUES ($1, $2, $3, $4, $5)'

const kind = process.argv[2] as PeerKind
if (kind !== 'naive-subscriber' && kind !== 'node-red') throw new Error(`peer-process: unknown kind "${process.argv[2]}"`)

const counters = { received: 0, errors: 0 }
let pool: pg.Pool | undefined
let client: MqttClient | undefined
let red: NodeRed | undefined
let userDir: string | undefined
let lastCpu = process.cpuUsage()
let lastCpuAt = performance.now()

async function start(body: unknown): Promise<{ startupMs: number }> {
  const request = body as PeerStartRequest
  const started = performance.now()
  pool = new pg.Pool({ connectionString: request.databaseUrl })
  pool.on('error', () => { counters.errors++ })
  if (kind === 'naive-subscriber') await startNaive(request, pool)
  else await startNodeRed(request, pool)
  return { startupMs: performance.now() - started }
}

async function startNaive(request: PeerStartRequest, db: pg.Pool): Promise<void> {
  client = await mqtt.connectAsync({ host: '127.0.0.1', port: request.mosquittoPort, protocolVersion: 4, clean: true, reconnectPeriod: 0 })
  client.on('error', () => { counters.errors++ })
  client.on('message', async (topic, payload) => {
    counters.received++
    try {
      const reading = JSON.parse(payload.toString()) as { ts: number | string; seq?: number; values: Record<string, number> }
      const deviceId = topic.slice(topic.lastIndexOf('/') + 1)
      for (const [metric, value] of Object.entries(reading.values)) {
        await db.query(PEER_INSERT, [new Date(reading.ts), deviceId, metric, value, reading.seq ?? null])
      }
    } catch {
      counters.errors++
    }
  })
  await client.subscribeAsync(request.topicFilter, { qos: 1 })
}

/** The parts of the node-red module used here (it ships no types). */
interface NodeRed {
  init(server: unknown, settings: Record<string, unknown>): void
  start(): Promise<void>
  stop(): Promise<void>
  nodes: { getNode(id: string): { connected?: boolean } | null }
}

const FUNCTION_BODY = `
global.get('benchCounters').received++;
const pool = global.get('pgPool');
const deviceId = msg.topic.split('/').pop();
const reading = msg.payload;
try {
  for (const [metric, value] of Object.entries(reading.values)) {
    await pool.query(${JSON.stringify(PEER_INSERT)}, [new Date(reading.ts), deviceId, metric, value, reading.seq]);
  }
} catch (err) {
  global.get('benchCounters').errors++;
  node.error(err, msg);
}
return null;`

async function startNodeRed(request: PeerStartRequest, db: pg.Pool): Promise<void> {
  userDir = await mkdtemp(join(request.scratchDir || os.tmpdir(), 'gridline-bench-node-red-'))
  const flows = [
    { id: 'bench-tab', type: 'tab', label: 'gridline bench peer' },
    {
      id: 'bench-broker', type: 'mqtt-broker', name: 'mosquitto', broker: '127.0.0.1', port: String(request.mosquittoPort), clientid: '',
      autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true, autoUnsubscribe: true,
    },
    {
      id: 'bench-in', type: 'mqtt in', z: 'bench-tab', name: 'telemetry', topic: request.topicFilter, qos: '1', datatype: 'json',
      broker: 'bench-broker', nl: false, rap: true, rh: 0, inputs: 0, wires: [['bench-insert']],
    },
    {
      id: 'bench-insert', type: 'function', z: 'bench-tab', name: 'INSERT each reading', func: FUNCTION_BODY,
      outputs: 0, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [],
    },
  ]
  await writeFile(join(userDir, 'flows.json'), JSON.stringify(flows))
  const require = createRequire(import.meta.url)
  red = require('node-red') as NodeRed
  // The function node counts what it is handed, and its errors, in this object.
  const benchCounters = counters
  red.init(null, {
    userDir,
    flowFile: 'flows.json',
    httpAdminRoot: false,
    httpNodeRoot: false,
    credentialSecret: false,
    functionGlobalContext: { pgPool: db, benchCounters },
    logging: { console: { level: 'off' } },
    editorTheme: { tours: false },
  })
  await red.start()
  const deadline = performance.now() + 30_000
  while (red.nodes.getNode('bench-broker')?.connected !== true) {
    if (performance.now() > deadline) throw new Error('Node-RED did not connect to Mosquitto within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  // The subscription goes out right after the connection; give it a round trip.
  await new Promise((resolve) => setTimeout(resolve, 200))
}

async function sample(): Promise<PeerSample> {
  const now = performance.now()
  const cpu = process.cpuUsage(lastCpu)
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - lastCpuAt)) * 100
  lastCpu = process.cpuUsage()
  lastCpuAt = now
  return { rssBytes: process.memoryUsage().rss, cpuPercent, received: counters.received, errors: counters.errors }
}

async function stop(): Promise<void> {
  await client?.endAsync(true).catch(() => undefined)
  await red?.stop().catch(() => undefined)
  await pool?.end().catch(() => undefined)
  if (userDir) await rm(userDir, { recursive: true, force: true })
}

serveRequests({ start, sample, stop }, stop)

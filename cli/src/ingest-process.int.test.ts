import { type ChildProcess, execFile as execFileCb, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestDatabase, createTestDatabase, testDataDir } from '../../test/support.ts'

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))

let db: TestDatabase
let password: string

function gridline(args: string[], env: Record<string, string> = {}) {
  return execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url, ...env } })
}

/** Starts `gridline ingest` as its own process; resolves once it logs its ports. */
async function startIngest(dataDir = testDataDir()): Promise<{ child: ChildProcess; mqttPort: number; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'ingest'], {
    // Its own data folder, never the checkout's data/ (where the demo keeps its flows).
    env: { ...process.env, DATABASE_URL: db.url, MQTT_PORT: '0', MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'trace', GRIDLINE_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let buffer = ''
  child.stderr!.on('data', (chunk: Buffer) => { buffer += chunk.toString() })
  const mqttPort = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (const line of buffer.split('\n')) {
        if (line.includes('Ingest service is listening')) resolve(JSON.parse(line).mqttPort)
      }
    })
    child.once('exit', (code) => reject(new Error(`gridline ingest exited with ${code}`)))
  })
  return { child, mqttPort, exited, output: () => buffer }
}

/**
 * Publishes QoS 1 readings with distinct timestamps as fast as the service
 * acknowledges them (50 in flight); returns the seqs acknowledged so far.
 */
function streamReadings(port: number, offset: number) {
  const acked: number[] = []
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: 'proc-1', password, reconnectPeriod: 0, protocolVersion: 4 })
  let seq = offset
  let stopped = false
  const sendNext = () => {
    if (stopped || !client.connected) return
    const mine = seq++
    client.publish('telemetry/environment/proc-1', JSON.stringify({ ts: Date.parse('2026-11-28T00:00:00Z') + mine, seq: mine, values: { pm25: mine % 500 } }), { qos: 1 }, (err) => {
      if (!err) acked.push(mine)
      sendNext()
    })
  }
  client.on('connect', () => { for (let i = 0; i < 50; i++) sendNext() })
  client.on('error', () => undefined)
  return { acked, stop: () => { stopped = true; client.end(true) } }
}

async function storedSeqs(): Promise<Set<number>> {
  const { rows } = await db.pool.query(`SELECT seq FROM telemetry WHERE device_id = 'proc-1'`)
  return new Set(rows.map((r) => Number(r.seq)))
}

beforeAll(async () => {
  db = await createTestDatabase()
  await gridline(['migrate'])
  const added = await gridline(['devices', 'add', 'proc-1', '--domain', 'environment'])
  password = /Password \(shown once, store it on the device\): (\S+)/.exec(added.stdout)![1]!
}, 60_000)

afterAll(async () => {
  await db?.drop()
})

describe('gridline ingest as a process', () => {
  test('kill -9 mid-stream loses nothing that was acknowledged', async () => {
    const service = await startIngest()
    const stream = streamReadings(service.mqttPort, 0)
    const deadline = Date.now() + 20_000
    while (stream.acked.length < 500 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    service.child.kill('SIGKILL')
    await service.exited
    const acked = [...stream.acked]
    stream.stop()
    expect(acked.length).toBeGreaterThanOrEqual(500)
    const stored = await storedSeqs()
    expect(acked.filter((s) => !stored.has(s))).toEqual([])
  })

  test('SIGTERM stops intake, commits and acknowledges what it took in, and exits 0', async () => {
    const service = await startIngest()
    const stream = streamReadings(service.mqttPort, 1_000_000)
    const deadline = Date.now() + 20_000
    while (stream.acked.length < 500 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    // A failed login is logged (at debug) without its secret.
    await mqtt.connectAsync(`mqtt://127.0.0.1:${service.mqttPort}`, { username: 'proc-1', password: 'not-the-secret-1234', reconnectPeriod: 0 }).catch(() => undefined)
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    expect(service.output()).toContain('bad_credentials')
    expect(service.output()).not.toContain('not-the-secret-1234')
    expect(service.output()).not.toContain(password)
    const acked = [...stream.acked]
    stream.stop()
    const stored = await storedSeqs()
    expect(acked.filter((s) => !stored.has(s))).toEqual([])
    // Every message the client saw acknowledged is stored, and only once (the primary key says so).
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d FROM telemetry WHERE device_id = 'proc-1'`)
    expect(rows[0].n).toBe(rows[0].d)
  })

  test('flows deployed against another database (the demo\'s) are not started, and the log says why', async () => {
    const dataDir = testDataDir()
    mkdirSync(join(dataDir, 'node-red'))
    writeFileSync(join(dataDir, 'node-red', 'flows.json'), JSON.stringify([{ id: 'f1', type: 'tab', label: 'demo flow' }]))
    writeFileSync(join(dataDir, 'node-red', '.gridline-database.json'), JSON.stringify({ systemIdentifier: '1234567890', database: 'demo' }))
    const service = await startIngest(dataDir)
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    const lines = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; userDir?: string; level: number })
    expect(lines.find((l) => l.msg === 'Node-RED user folder.')).toMatchObject({ userDir: join(dataDir, 'node-red') })
    const refusal = lines.find((l) => /were deployed against database "demo" on the PostgreSQL cluster 1234567890/.test(l.msg))
    expect(refusal).toMatchObject({ level: 40 })
    expect(refusal!.msg).toContain(`not this service's database "${db.name}"`)
    expect(lines.some((l) => l.msg === 'Node-RED started.')).toBe(false)
    // The record is left as it was: the flows still belong to the other database.
    expect(JSON.parse(readFileSync(join(dataDir, 'node-red', '.gridline-database.json'), 'utf8'))).toEqual({ systemIdentifier: '1234567890', database: 'demo' })
  })
})

describe('gridline CLI', () => {
  test('devices add and set-metadata place a device on the map with --latitude/--longitude; a location must be numbers', async () => {
    await gridline(['devices', 'add', 'aq-9', '--domain', 'environment', '--latitude', '16.08', '--longitude', '108.24', '--metadata', '{"district":"Sơn Trà"}'])
    const list = async () => (JSON.parse((await gridline(['devices', 'list', '--json'])).stdout) as { id: string; metadata: object }[]).find((d) => d.id === 'aq-9')?.metadata
    expect(await list()).toEqual({ district: 'Sơn Trà', latitude: 16.08, longitude: 108.24 })
    await gridline(['devices', 'set-metadata', 'aq-9', '--latitude', '16.0544', '--longitude', '108.2022'])
    expect(await list()).toEqual({ district: 'Sơn Trà', latitude: 16.0544, longitude: 108.2022 })
    await expect(gridline(['devices', 'set-metadata', 'aq-9', '--latitude', '16.05'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--latitude and --longitude go together') })
    await expect(gridline(['devices', 'set-metadata', 'aq-9', '--latitude', 'north', '--longitude', '108'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--latitude must be degrees') })
    await expect(gridline(['devices', 'set-metadata', 'aq-9', '{"latitude":"16.05"}'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('metadata.latitude: a number of degrees') })
    await gridline(['devices', 'remove', 'aq-9'])
  }, 60_000)

  test('devices add, list and remove; bad usage exits 2 with a clear message', async () => {
    const gw = await gridline(['devices', 'add', 'gw-9', '--kind', 'gateway', '--password', 'secret-pass-9'])
    expect(gw.stdout).toContain('Registered gateway gw-9.')
    expect(gw.stdout).not.toContain('secret-pass-9')
    // A password chosen by hand must resist guessing: at least 12 characters (docs/protocol.md#passwords).
    await expect(gridline(['devices', 'add', 'weak-1', '--domain', 'lighting', '--password', 'a'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('at least 12 characters') })
    await expect(gridline(['devices', 'add', 'weak-1', '--domain', 'lighting', '--password', 'aaaaaaaaaaaaaaaa'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('4 different characters') })
    await gridline(['devices', 'add', 'lamp-9', '--domain', 'lighting', '--gateway', 'gw-9', '--metadata', '{"circuit":"C7"}'])
    const list = JSON.parse((await gridline(['devices', 'list', '--json'])).stdout) as { id: string; gateway: string | null; metadata: object }[]
    expect(list.find((d) => d.id === 'lamp-9')).toMatchObject({ gateway: 'gw-9', metadata: { circuit: 'C7' } })
    expect(JSON.stringify(list)).not.toContain('scrypt')
    await gridline(['devices', 'set-metadata', 'lamp-9', '{"district":"Hai Chau","circuit":null}'])
    const updated = JSON.parse((await gridline(['devices', 'list', '--json'])).stdout) as { id: string; metadata: object }[]
    expect(updated.find((d) => d.id === 'lamp-9')?.metadata).toEqual({ district: 'Hai Chau' })
    await expect(gridline(['devices', 'set-metadata', 'lamp-9', '[1]'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('JSON object') })
    await expect(gridline(['devices', 'set-metadata', 'nope', '{}'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('not registered') })
    await expect(gridline(['devices', 'remove', 'gw-9'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('still has devices behind it') })
    await gridline(['devices', 'remove', 'lamp-9'])
    await expect(gridline(['devices', 'add', 'x', '--domain', 'sewage'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('not in the catalogue') })
    await expect(gridline(['devices', 'add', 'proc-1', '--domain', 'environment'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('GRIDLINE_DEVICE_EXISTS') })
    // 17 CLI processes, each starting tsx: over 30 s on a loaded CI machine.
  }, 120_000)

  test('users add, list and remove: passwords are hashed, shown once when generated, never listed', async () => {
    const generated = await gridline(['users', 'add', 'lan.nguyen', '--role', 'operator'])
    expect(generated.stdout).toMatch(/^Added operator lan\.nguyen\.\nPassword \(shown once\): [A-Za-z0-9_-]{32}\n$/)
    const given = await gridline(['users', 'add', 'ops-admin', '--role', 'admin', '--password', 'a-long-admin-password'])
    expect(given.stdout).toBe('Added admin ops-admin.\n')
    const list = JSON.parse((await gridline(['users', 'list', '--json'])).stdout) as { name: string; role: string }[]
    expect(list.map((u) => [u.name, u.role])).toEqual([['lan.nguyen', 'operator'], ['ops-admin', 'admin']])
    expect(JSON.stringify(list)).not.toMatch(/scrypt|password/i)
    const table = (await gridline(['users', 'list'])).stdout
    expect(table).toContain('lan.nguyen')
    expect(table).toContain('2 users.')
    await expect(gridline(['users', 'add', 'tam', '--role', 'boss'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--role must be one of viewer, operator, admin') })
    await expect(gridline(['users', 'add', 'tam', '--role', 'viewer', '--password', 'short'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('at least 10 characters') })
    await expect(gridline(['users', 'add', 'ops-admin', '--role', 'viewer', '--password', 'another-long-password'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('GRIDLINE_USER_EXISTS') })
    await expect(gridline(['users', 'remove', 'ops-admin'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('GRIDLINE_LAST_ADMIN') })
    expect((await gridline(['users', 'remove', 'lan.nguyen'])).stdout).toContain('Removed lan.nguyen')
    await expect(gridline(['users', 'remove', 'lan.nguyen'])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('GRIDLINE_USER_NOT_FOUND') })
   }, 120_000)

  test('validate-config lists every problem by path', async () => {
    const file = join(tmpdir(), `gridline-bad-${process.pid}.yaml`)
    writeFileSync(file, 'mqtt:\n  port: "high"\ningest:\n  maxBatchRows: -1\n  retryMinMs: 9000\nsurprise: true\n')
    const failure = await gridline(['validate-config', file]).then(() => undefined, (err: { code: number; stderr: string }) => err)
    expect(failure?.code).toBe(1)
    expect(failure?.stderr).toContain('mqtt.port')
    expect(failure?.stderr).toContain('ingest.maxBatchRows')
    expect(failure?.stderr).toContain('ingest.retryMinMs')
    expect(failure?.stderr).toContain('surprise')
    const good = join(tmpdir(), `gridline-good-${process.pid}.yaml`)
    writeFileSync(good, 'mqtt:\n  port: 1884\nstorage:\n  retentionDays: 30\n')
    expect((await gridline(['validate-config', good])).stdout).toContain('is valid')
  })

  // `gridline devices --help` once failed with "No database" instead of printing help.
  test.each([
    ['ingest', '--help'], ['migrate', '--help'], ['devices', '--help'], ['devices', 'add', '--help'], ['devices', 'list', '-h'], ['devices', 'remove', 'x', '--help'],
    ['users', '--help'], ['users', 'add', 'ann', '--help'], ['validate-config', '--help'], ['demo', '--help'],
    ['sim', 'run', '--help'], ['sim', 'replay', '--help'], ['sim', 'plc', '--help'], ['edge', 'run', '--help'], ['edge', 'browse', '--help'], ['bench', '--help'],
  ])('gridline %s %s prints help without a database and exits 0', async (...args: string[]) => {
    const { stdout, stderr } = await execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: '', GRIDLINE_CONFIG: '' } })
    expect(stdout).toMatch(/Usage/)
    expect(stdout).toContain(args[0] === 'bench' ? 'gridline bench' : args[0]!)
    expect(stderr).toBe('')
  })

  test('ingest without a database says so and exits 1', async () => {
    const failure = await execFile(process.execPath, [BIN, 'ingest'], { env: { ...process.env, DATABASE_URL: '' } }).then(() => undefined, (err: { code: number; stderr: string }) => err)
    expect(failure?.code).toBe(1)
    expect(failure?.stderr).toContain('No database')
  })
})

/**
 * Two hostile-client measurements against `gridline ingest` run as its own
 * process on a fresh database (issue 11 items 4 and 6):
 *
 *   npx tsx bench/src/mqtt-attacks.ts guesses [--seconds 10] [--bin cli/bin/gridline.mjs]
 *     Password guesses per second the service checks (CONNACK 4) and refuses
 *     unchecked (CONNACK 3, throttled), with 20 raw connections in parallel
 *     from one address, against a device that has connected once, one that
 *     has not, and an unknown id; then against one id from 200 addresses.
 *     After each attack: does the right password work from another address
 *     during it, from the device's own address, and from the attacker's
 *     address once it stopped.
 *
 *   npx tsx bench/src/mqtt-attacks.ts pending-rss [--connections 800] [--bin ...]
 *     RSS of the service before, at the peak of, and after 800 connections
 *     from 10 addresses that each announce a 1 MB CONNECT and send all of it
 *     but the last bytes.
 *
 * `--bin` points at another checkout's cli/bin/gridline.mjs to measure it
 * (e.g. the code before the fix). Makes and drops its own database on the
 * PostgreSQL at GRIDLINE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { DeviceStore, migrate, pgSqlClient } from '@gridline/ingest'
import mqttPacket from 'mqtt-packet'
import pg from 'pg'

/** Results go to stdout, one JSON line per measurement. */
const say = (line: string) => process.stdout.write(`${line}\n`)

const PASSWORD = 'correct horse battery staple'
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '800' },
    bin: { type: 'string', default: fileURLToPath(new URL('../../cli/bin/gridline.mjs', import.meta.url)) },
  },
})

const ADMIN_URL = process.env.GRIDLINE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A fresh, migrated database, with its pool and a drop(). */
async function createDatabase(): Promise<{ url: string; pool: pg.Pool; drop(): Promise<void> }> {
  const name = `gridline_attack_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const setup = new pg.Client({ connectionString: url.toString() })
  await setup.connect()
  await migrate(pgSqlClient(setup))
  await setup.end()
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end()
      const c = new pg.Client({ connectionString: ADMIN_URL })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await c.end()
    },
  }
}

async function startIngest(databaseUrl: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [values.bin!, 'ingest'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, MQTT_PORT: '0', MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let buffer = ''
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (const line of buffer.split('\n')) if (line.includes('Ingest service is listening')) resolve(JSON.parse(line).mqttPort)
    })
    child.once('exit', (code) => reject(new Error(`gridline ingest exited with ${code}`)))
  })
  return { child, port }
}

/** One CONNECT from `localAddress`; resolves with the CONNACK code, or null when closed without one. */
function login(port: number, username: string, password: string, localAddress = '127.0.0.1'): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress })
    let done = false
    const finish = (code: number | null) => {
      if (done) return
      done = true
      socket.destroy()
      resolve(code)
    }
    socket.on('error', () => finish(null))
    socket.on('close', () => finish(null))
    socket.on('data', (data: Buffer) => finish(data[0] === 0x20 && data.length >= 4 ? data[3]! : null))
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `guess-${Math.random().toString(36).slice(2)}`, keepalive: 30, username, password: Buffer.from(password) })))
  })
}

async function attack(port: number, username: string, addresses: string[], seconds: number): Promise<{ checked: number; throttled: number; other: number }> {
  const counts = { checked: 0, throttled: 0, other: 0 }
  const until = Date.now() + seconds * 1000
  let n = 0
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (Date.now() < until) {
      const code = await login(port, username, `guess-${n}`, addresses[n++ % addresses.length])
      if (code === 4) counts.checked++
      else if (code === 3) counts.throttled++
      else counts.other++
    }
  }))
  return counts
}

async function guesses(): Promise<void> {
  const seconds = Number(values.seconds)
  const db = await createDatabase()
  const store = new DeviceStore(pgSqlClient(db.pool))
  for (const id of ['once-1', 'never-1', 'spread-1']) await store.add({ id, domain: 'environment', password: PASSWORD })
  const { child, port } = await startIngest(db.url)
  try {
    // once-1 and spread-1 connect once from their own address (127.0.50.1): the credential cache holds them.
    for (const id of ['once-1', 'spread-1']) if (await login(port, id, PASSWORD, '127.0.50.1') !== 0) throw new Error(`${id} could not log in`)
    const rate = (n: number) => (n / seconds).toFixed(1)
    const targets: { name: string; id: string; addresses: string[] }[] = [
      { name: 'device that connected once, one address', id: 'once-1', addresses: ['127.0.60.1'] },
      { name: 'device that never connected, one address', id: 'never-1', addresses: ['127.0.61.1'] },
      { name: 'unknown id, one address', id: 'ghost-1', addresses: ['127.0.62.1'] },
      { name: 'device that connected once, 200 addresses', id: 'spread-1', addresses: Array.from({ length: 200 }, (_, i) => `127.0.${70 + (i >> 8)}.${(i & 255) + 1}`) },
    ]
    for (const target of targets) {
      const during = login(port, target.id, PASSWORD, '127.0.99.1')
      const counts = await attack(port, target.id, target.addresses, seconds)
      const own = await login(port, target.id, PASSWORD, '127.0.50.1')
      const elsewhere = await during
      const attackerNow = await login(port, target.id, PASSWORD, target.addresses[0])
      // The longest block is 60 s; wait that out to see the attacker's address admitted again.
      await new Promise((r) => setTimeout(r, 61_000))
      const attackerLater = await login(port, target.id, PASSWORD, target.addresses[0])
      say(JSON.stringify({
        target: target.name,
        seconds,
        checkedPerSecond: rate(counts.checked),
        throttledPerSecond: rate(counts.throttled),
        otherPerSecond: rate(counts.other),
        rightPassword: { fromNewAddressDuringAttack: elsewhere, fromOwnAddressAfter: own, fromAttackerAddressAtOnce: attackerNow, fromAttackerAddressAfter61s: attackerLater },
      }))
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await db.drop()
  }
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024)
}

async function pendingRss(): Promise<void> {
  const connections = Number(values.connections)
  const db = await createDatabase()
  const { child, port } = await startIngest(db.url)
  try {
    await new Promise((r) => setTimeout(r, 2_000))
    const before = rssMb(child.pid!)
    const announced = 1_048_576
    const header = Buffer.from([0x10, 0x80, 0x80, 0x40]) // CONNECT, remaining length 1,048,576
    const body = Buffer.alloc(announced - 16)
    let open = 0
    const sockets = Array.from({ length: connections }, (_, i) => {
      const socket = netConnect({ host: '127.0.0.1', port, localAddress: `127.0.80.${(i % 10) + 1}` })
      socket.on('error', () => undefined)
      socket.on('connect', () => {
        open++
        socket.write(header)
        socket.write(body)
      })
      socket.on('close', () => { open-- })
      return socket
    })
    let peak = before
    let openAtPeak = 0
    for (let t = 0; t < 40; t++) {
      await new Promise((r) => setTimeout(r, 250))
      const now = rssMb(child.pid!)
      if (now > peak) {
        peak = now
        openAtPeak = open
      }
    }
    const after10s = rssMb(child.pid!)
    const stillOpen = open
    sockets.forEach((s) => s.destroy())
    say(JSON.stringify({ connections, announcedBytes: announced, rssMb: { before, peak, after10s }, openAtPeak, stillOpenAfter10s: stillOpen }))
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await db.drop()
  }
}

if (positionals[0] === 'guesses') await guesses()
else if (positionals[0] === 'pending-rss') await pendingRss()
else {
  process.stderr.write('Usage: npx tsx bench/src/mqtt-attacks.ts guesses|pending-rss [--seconds S] [--connections N] [--bin PATH]\n')
  process.exitCode = 2
}

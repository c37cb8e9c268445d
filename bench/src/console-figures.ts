/**
 * The operator console's figures, in a real browser (Debian's chromium via
 * playwright-core) against the ingest service in its own process with a
 * simulated fleet publishing:
 *
 *  - overview page load with N devices registered (default 10,000): from
 *    navigation to the device counts drawn, cold and warm;
 *  - publish-to-screen latency: a probe device publishes a pm25 value, the
 *    device page shows it; from just before the MQTT publish to the moment the
 *    page's text changed (a MutationObserver timestamps it), while the fleet
 *    publishes at its full rate.
 *
 *   npx tsx bench/src/console-figures.ts [--registered 10000] [--fleet 1000] [--interval-ms 500] [--samples 120]
 *
 * Writes results/console-figures-<time>.{json,md}. Needs PostgreSQL
 * (GRIDLINE_BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CITY_FLEET_SHARES, DEVICE_KINDS, Simulator, planFleet, withCityMetadata } from '@gridline/firmware-sim'
import { UserStore, hashPassword, migrate, pgSqlClient } from '@gridline/ingest'
import mqtt from 'mqtt'
import pg from 'pg'
import { chromium } from 'playwright-core'
import { percentile, sortSamples } from './stats.ts'

const { values } = parseArgs({
  options: {
    registered: { type: 'string', default: '10000' },
    fleet: { type: 'string', default: '1000' },
    'interval-ms': { type: 'string', default: '500' },
    samples: { type: 'string', default: '120' },
    'load-repeats': { type: 'string', default: '10' },
  },
})
const registered = Number(values.registered)
const fleetSize = Number(values.fleet)
const intervalMs = Number(values['interval-ms'])
const samples = Number(values.samples)
const loadRepeats = Number(values['load-repeats'])
const say = (line: string) => process.stdout.write(`${line}\n`)

const DEVICE_PASSWORD = 'console-bench-device-password'
const VIEWER = { name: 'wall-screen', password: 'wall-screen-password' }
const PROBE = 'probe-aq-0001'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function main(): Promise<void> {
  const adminUrl = process.env.GRIDLINE_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const name = `gridline_console_${Date.now()}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const databaseUrl = url.toString()
  const dataDir = mkdtempSync(join(tmpdir(), 'gridline-console-bench-'))
  let service: ChildProcess | undefined
  let sim: Simulator | undefined
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    // Register the city: one scrypt hash shared by every device (hashing 10,000 apart takes minutes and measures nothing here).
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
    await migrate(pgSqlClient(pool))
    const counts = Object.fromEntries(Object.entries(CITY_FLEET_SHARES).map(([g, share]) => [g, Math.round(registered * share)]))
    const specs = withCityMetadata(planFleet(counts, 'city'))
    const hash = await hashPassword(DEVICE_PASSWORD)
    for (let i = 0; i < specs.length; i += 2_000) {
      const chunk = specs.slice(i, i + 2_000)
      await pool.query(
        `INSERT INTO devices (id, kind, domain, credentials_hash, metadata) SELECT id, 'device', domain, $3, metadata FROM unnest($1::text[], $2::text[], $4::jsonb[]) AS t(id, domain, metadata)`,
        [chunk.map((d) => d.id), chunk.map((d) => DEVICE_KINDS[d.kind!].domain), hash, chunk.map((d) => JSON.stringify(d.metadata))],
      )
    }
    await pool.query(`INSERT INTO devices (id, kind, domain, credentials_hash, metadata) VALUES ($1, 'device', 'environment', $2, '{"district": "Hải Châu"}')`, [PROBE, hash])
    await new UserStore(pgSqlClient(pool)).add({ ...VIEWER, role: 'viewer' })
    await pool.end()
    say(`Registered ${specs.length + 1} devices in ${name}.`)

    const [mqttPort, httpPort] = [await freePort(), await freePort()]
    service = spawn(process.execPath, ['cli/bin/gridline.mjs', 'ingest'], {
      env: { ...process.env, DATABASE_URL: databaseUrl, MQTT_PORT: String(mqttPort), HTTP_PORT: String(httpPort), HTTP_HOST: '127.0.0.1', GRIDLINE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const base = `http://127.0.0.1:${httpPort}`
    for (let i = 0; ; i++) {
      if ((await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) === 200) break
      if (i > 600) throw new Error('The ingest service did not become ready in 60 s.')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    // The fleet: the first devices of the plan, every kind, at their full rate.
    const fleet = specs.filter((_, i) => i % Math.max(1, Math.floor(specs.length / fleetSize)) === 0).slice(0, fleetSize)
    sim = new Simulator({ url: `mqtt://127.0.0.1:${mqttPort}`, devices: fleet.map((d) => ({ ...d, password: DEVICE_PASSWORD })), intervalMs, connectRatePerS: 200 })
    await sim.start()
    await sim.allConnected(300_000)
    const fleetRate = fleet.length * (1000 / intervalMs)
    say(`Fleet of ${fleet.length} devices connected, publishing ${fleetRate} msg/s.`)
    await new Promise((resolve) => setTimeout(resolve, 5_000))

    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 900 } })
    const login = await context.request.post(`${base}/api/login`, { headers: { origin: base }, data: { username: VIEWER.name, password: VIEWER.password } })
    if (!login.ok()) throw new Error(`login failed: ${login.status()}`)

    // 1. Overview load.
    const loads: number[] = []
    for (let i = 0; i < loadRepeats; i++) {
      const page = await context.newPage()
      const started = Date.now()
      await page.goto(`${base}/#/overview`)
      // Page code as text: this file is compiled without the DOM library.
      await page.waitForFunction(`Number(document.querySelector('[data-testid=overview-devices-online]')?.textContent?.replace(/\\D/g, '') ?? 0) > 0
        && document.querySelectorAll('[data-testid=aqi-district]').length > 0`, undefined, { timeout: 30_000 })
      loads.push(Date.now() - started)
      await page.close()
    }
    say(`Overview load (ms): ${loads.join(', ')}`)

    // 2. Publish to screen.
    const page = await context.newPage()
    await page.goto(`${base}/#/devices/${PROBE}`)
    await page.locator('[data-testid=range-live]').click()
    await page.locator('[data-testid=live-status][data-state=open]').waitFor({ timeout: 20_000 })
    const probe = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: PROBE, password: DEVICE_PASSWORD, clientId: PROBE })
    await probe.publishAsync(`telemetry/environment/${PROBE}`, JSON.stringify({ values: { pm25: 1 } }), { qos: 1 })
    await page.locator('[data-testid=latest][data-metric=pm25]').waitFor({ timeout: 20_000 })
    await page.evaluate(`(() => {
      const seen = []
      window.__seen = seen
      const target = document.querySelector('[data-testid=latest][data-metric=pm25]')
      new MutationObserver(() => seen.push({ text: target.textContent ?? '', at: Date.now() }))
        .observe(target, { childList: true, characterData: true, subtree: true })
    })()`)
    const published = new Map<number, number>()
    for (let i = 0; i < samples; i++) {
      const value = 100 + i
      published.set(value, Date.now())
      await probe.publishAsync(`telemetry/environment/${PROBE}`, JSON.stringify({ values: { pm25: value } }), { qos: 0 })
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const seen = await page.evaluate<{ text: string; at: number }[]>('window.__seen')
    await probe.endAsync()
    const latencies: number[] = []
    const matched = new Set<number>()
    for (const s of seen) {
      const value = Number(/\d+(\.\d+)?/.exec(s.text)?.[0])
      const at = published.get(value)
      if (at !== undefined && !matched.has(value)) {
        matched.add(value)
        latencies.push(s.at - at)
      }
    }
    const sorted = sortSamples(latencies)
    const loadSorted = sortSamples(loads)
    const result = {
      at: new Date().toISOString(),
      registeredDevices: specs.length + 1,
      fleet: { devices: fleet.length, intervalMs, messagesPerSecond: fleetRate },
      overviewLoadMs: { cold: loads[0], warmMedian: percentile(sortSamples(loads.slice(1)), 50), median: percentile(loadSorted, 50), max: Math.max(...loads), all: loads },
      publishToScreenMs: { samples, shown: latencies.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: Math.max(...latencies) },
    }
    mkdirSync('results', { recursive: true })
    const stamp = result.at.replace(/[:.]/g, '-')
    writeFileSync(`results/console-figures-${stamp}.json`, `${JSON.stringify(result, null, 2)}\n`)
    const md = [
      `# Console figures ${result.at}`,
      '',
      `${result.registeredDevices} devices registered; fleet of ${fleet.length} publishing ${fleetRate} msg/s.`,
      '',
      '| figure | result | goal |',
      '|---|---|---|',
      `| overview load, first (cold) | ${result.overviewLoadMs.cold} ms | < 2,000 ms |`,
      `| overview load, median of ${loadRepeats} | ${result.overviewLoadMs.median} ms (max ${result.overviewLoadMs.max}) | < 2,000 ms |`,
      `| publish-to-screen p50 / p95 / p99 | ${result.publishToScreenMs.p50} / ${result.publishToScreenMs.p95} / ${result.publishToScreenMs.p99} ms (${latencies.length} of ${samples} values shown) | p95 < 1,000 ms |`,
      '',
    ].join('\n')
    writeFileSync(`results/console-figures-${stamp}.md`, md)
    say(md)
  } finally {
    await browser.close()
    await sim?.stop()
    if (service) {
      service.kill('SIGTERM')
      await new Promise((resolve) => service!.once('exit', resolve))
    }
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.end()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  process.stderr.write(`console-figures: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})

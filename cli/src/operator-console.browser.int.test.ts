import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DEVICE_KINDS, Simulator, planFleet, withCityMetadata } from '@gridline/firmware-sim'
import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import mqtt from 'mqtt'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { waitFor, launchChromium } from '../../test/support.ts'

// The operator console in a real browser (Debian's chromium driven by
// playwright-core) against the running ingest service with a simulated Da Nang
// fleet: what each role may do, live updates, an alarm from an injected fault,
// chart ranges, and a street light dimmed from the page. Screenshots go to
// results/screenshots (CI keeps them as artifacts).

const SCREENSHOTS = join(import.meta.dirname, '../../results/screenshots')
const PASSWORDS = { admin: 'admin-password-0001', operator: 'operator-password-02', viewer: 'viewer-password-003' } as const
type RoleName = keyof typeof PASSWORDS

let t: TestService
let db: TestDatabase
let sim: Simulator
let browser: Browser
let base: string
const contexts: BrowserContext[] = []

const specs = withCityMetadata(planFleet({ traffic: 3, water: 3, lighting: 3, environment: 4, flood: 2 }, 'ui'))
const dimmedLamp = specs.filter((s) => s.kind === 'street_light')[0]!.id
const failingLamp = specs.filter((s) => s.kind === 'street_light')[1]!.id
const airSensor = specs.find((s) => s.kind === 'air_quality')!.id

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const devices = specs.map((s) => ({ ...s, password: `pw-${s.id}-0123456789` }))
  t = await startTestService({
    devices: devices.map((d) => ({ id: d.id, domain: DEVICE_KINDS[d.kind!].domain, password: d.password, metadata: d.metadata })),
    users: (Object.keys(PASSWORDS) as RoleName[]).map((role) => ({ name: role, password: PASSWORDS[role], role })),
    config: {
      // The service's defaults where the kit's differ: Node-RED at /flows (the admin opens it), a 5 ms group commit.
      console: { nodeRed: { enabled: true } },
      ingest: { flushIntervalMs: 5 },
      commands: { timeoutMs: 5_000 },
      processors: {
        alarms: { rules: [{ id: 'lamp-fault', type: 'threshold', metric: 'lamp_fault', domains: ['lighting'], raiseAbove: 0.5, clearBelow: 0.5, severity: 'major', message: 'Lamp {device} reports a fault' }] },
      },
    },
  })
  db = t.db
  servicePorts = { mqttPort: t.mqttPort, httpPort: t.httpPort }
  base = t.httpUrl
  await backfillWeek(servicePorts.mqttPort, devices.find((d) => d.id === airSensor)!.password)
  sim = new Simulator({ url: `mqtt://127.0.0.1:${servicePorts.mqttPort}`, devices, intervalMs: 500 })
  await sim.start()
  await sim.allConnected(20_000)
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined)
  await browser?.close()
  await sim?.stop()
  await t?.stop()
})

let servicePorts: { mqttPort: number; httpPort: number }

/** A week of the air sensor's history, one reading every 10 minutes, so the 24-hour and 7-day charts have rollups to show. */
async function backfillWeek(mqttPort: number, password: string): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: airSensor, password, clientId: `${airSensor}-history`, reconnectPeriod: 0 })
  const now = Date.now()
  const readings = []
  for (let t = now - 7 * 86_400_000; t < now - 10 * 60_000; t += 10 * 60_000) readings.push({ ts: t, values: { pm25: 20 + Math.round(15 * Math.sin(t / 3_600_000)) } })
  for (let i = 0; i < readings.length; i += 100) {
    await client.publishAsync(`telemetry/environment/${airSensor}`, JSON.stringify(readings.slice(i, i + 100)), { qos: 1 })
  }
  await client.endAsync()
  await waitFor(async () => (await db.pool.query(`SELECT count(*)::int AS n FROM telemetry_1h WHERE device_id = $1`, [airSensor])).rows[0].n > 100, 20_000, 'a week of hourly rollups')
}

async function loggedIn(role: RoleName, locale = 'en-GB'): Promise<Page> {
  const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } })
  contexts.push(context)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  ;(page as Page & { errors?: string[] }).errors = errors
  await page.goto(`${base}/`)
  await page.locator('#login-username').fill(role)
  await page.locator('#login-password').fill(PASSWORDS[role])
  await page.locator('#login-submit').click()
  await expect.poll(() => page.locator('[data-testid=user-name]').textContent(), { timeout: 10_000 }).toContain(role)
  return page
}

const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent())?.trim() ?? ''
const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

describe('roles', () => {
  test('a wrong password is refused on the page', async () => {
    const context = await browser.newContext({ locale: 'en-GB' })
    contexts.push(context)
    const page = await context.newPage()
    // Loading the console without a session logs nothing in the browser's console (no failed /api/me).
    const consoleErrors: string[] = []
    page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()) })
    await page.goto(`${base}/`)
    await page.locator('#login-username').waitFor()
    await page.waitForLoadState('networkidle')
    expect(consoleErrors).toEqual([])
    await page.locator('#login-username').fill('viewer')
    await page.locator('#login-password').fill('not-the-password')
    await page.locator('#login-submit').click()
    await expect.poll(() => page.locator('[data-testid=login-error]').isVisible(), { timeout: 5_000 }).toBe(true)
    await shot(page, 'login-refused')
  })

  test('a viewer sees the city but no acknowledge, command, admin or Node-RED', async () => {
    const page = await loggedIn('viewer')
    await expect.poll(() => page.locator('[data-testid=overview-devices-online]').textContent(), { timeout: 15_000 }).toMatch(/[1-9]/)
    expect(await page.locator('[data-testid=nav-admin]').count()).toBe(0)
    expect(await page.locator('[data-testid=nav-flows]').count()).toBe(0)
    await page.goto(`${base}/#/devices/${dimmedLamp}`)
    await page.locator('[data-testid=chart]').first().waitFor({ timeout: 10_000 })
    expect(await page.locator('[data-testid=cmd-dim]').count()).toBe(0)
    await page.goto(`${base}/#/alarms`)
    await page.locator('[data-testid=alarm-tab-active]').waitFor()
    expect(await page.locator('[data-testid=alarm-ack]').count()).toBe(0)
    const flows = await page.request.get(`${base}/flows/`)
    expect(flows.status()).toBe(403)
    const users = await page.request.get(`${base}/api/users`)
    expect(users.status()).toBe(403)
    expect((page as Page & { errors: string[] }).errors).toEqual([])
  })

  test('an operator gets the command panel but not admin or Node-RED', async () => {
    const page = await loggedIn('operator')
    expect(await page.locator('[data-testid=nav-admin]').count()).toBe(0)
    await page.goto(`${base}/#/devices/${dimmedLamp}`)
    await page.locator('[data-testid=cmd-dim]').waitFor({ timeout: 10_000 })
    expect((await page.request.get(`${base}/flows/`)).status()).toBe(403)
    // Typed into the address bar: a page that says why, and the way back.
    const flows = await page.goto(`${base}/flows/`)
    expect(flows?.status()).toBe(403)
    await expect.poll(() => page.locator('h1').textContent()).toBe('Node-RED is for administrators')
    await page.locator('a', { hasText: 'Back to the console' }).click()
    await page.locator('[data-testid=user-name]', { hasText: 'operator' }).waitFor({ timeout: 10_000 })
    expect((await page.request.get(`${base}/api/audit`)).status()).toBe(403)
  })

  test('opening /flows without a session goes through the login and back to the editor', async () => {
    const context = await browser.newContext({ locale: 'en-GB' })
    contexts.push(context)
    const page = await context.newPage()
    await page.goto(`${base}/flows/`)
    await expect.poll(() => page.url(), { timeout: 10_000 }).toContain('#/login?next=/flows')
    await page.locator('#login-username').fill('admin')
    await page.locator('#login-password').fill(PASSWORDS.admin)
    await page.locator('#login-submit').click()
    await expect.poll(() => page.title(), { timeout: 20_000 }).toContain('gridline flows')
  })

  test('an admin manages users and opens Node-RED at /flows', async () => {
    const page = await loggedIn('admin')
    await page.locator('[data-testid=nav-admin]').click()
    await page.locator('[data-testid=user-row]').first().waitFor()
    await page.locator('#user-name').fill('linh')
    await page.locator('#user-password').fill('linh-password-long')
    await page.locator('#user-role').selectOption('viewer')
    await page.locator('[data-testid=user-add]').click()
    await page.locator('[data-testid=user-row][data-user=linh]').waitFor({ timeout: 5_000 })
    await page.locator('#device-id').fill('ui-aq-new-01')
    await page.locator('#device-domain').selectOption('environment')
    await page.locator('#device-metadata').fill('{"district": "Hòa Vang"}')
    await page.locator('[data-testid=device-add]').click()
    await expect.poll(() => page.locator('[data-testid=device-note]').textContent(), { timeout: 5_000 }).toMatch(/ui-aq-new-01.*: [A-Za-z0-9_-]{32}$/)
    const { rows } = await db.pool.query(`SELECT domain, metadata FROM devices WHERE id = 'ui-aq-new-01'`)
    expect(rows).toEqual([{ domain: 'environment', metadata: { district: 'Hòa Vang' } }])
    await page.locator('[data-testid=device-remove]').click()
    await expect.poll(() => page.locator('[data-testid=device-note]').textContent(), { timeout: 5_000 }).toContain('Removed ui-aq-new-01')
    await shot(page, 'admin')
    expect(await page.locator('[data-testid=nav-flows]').getAttribute('href')).toBe('/flows')
    const editor = await page.context().newPage()
    await editor.goto(`${base}/flows/`)
    await expect.poll(() => editor.title(), { timeout: 20_000 }).toContain('gridline flows')
    await editor.locator('#red-ui-palette').waitFor({ timeout: 20_000 })
    await expect.poll(() => editor.locator('.red-ui-palette-node[data-palette-type="gridline in"]').count(), { timeout: 20_000 }).toBe(1)
    await shot(editor, 'node-red')
  })
})

describe('live operation', () => {
  test('the overview\'s numbers change without a reload, in Vietnamese by default for a Vietnamese browser', async () => {
    const page = await loggedIn('viewer', 'vi-VN')
    expect(await page.locator('html').getAttribute('lang')).toBe('vi')
    await expect.poll(() => page.locator('[data-testid=nav-overview]').textContent()).toContain('Tổng quan')
    const generated = page.locator('[data-testid=overview-generated-at]')
    await generated.waitFor({ timeout: 10_000 })
    await expect.poll(() => text(page, '[data-testid=water-pressure-avg]'), { timeout: 15_000 }).toMatch(/\d/)
    const first = { at: Number(await generated.getAttribute('data-time')), pressure: await text(page, '[data-testid=water-pressure-avg]') }
    await expect.poll(async () => Number(await generated.getAttribute('data-time')), { timeout: 10_000 }).toBeGreaterThan(first.at)
    await expect.poll(() => text(page, '[data-testid=water-pressure-avg]'), { timeout: 20_000 }).not.toBe(first.pressure)
    expect(await page.locator('[data-testid=aqi-district]').count()).toBeGreaterThan(0)
    // Districts without a closed hour yet (the fleet started minutes ago) show the provisional index, marked as such.
    const provisional = page.locator('[data-testid=aqi-district][data-source=pm25_now]')
    await expect.poll(() => provisional.count(), { timeout: 15_000 }).toBeGreaterThan(0)
    for (const label of await provisional.locator('.tile-label').allTextContents()) expect(label).toContain('tạm tính')
    await shot(page, 'overview-vi')
    await page.locator('[data-testid=lang-en]').click()
    await expect.poll(() => page.locator('[data-testid=nav-overview]').textContent()).toContain('Overview')
    expect(await page.locator('html').getAttribute('lang')).toBe('en')
    await shot(page, 'overview-en')
  })

  test('an injected lamp fault raises an alarm that appears without reload and is acknowledged with a comment', async () => {
    const page = await loggedIn('operator')
    await page.goto(`${base}/#/alarms`)
    await page.locator('[data-testid=alarm-tab-active]').waitFor()
    const row = page.locator(`[data-testid=alarm-row][data-severity=major]`, { hasText: failingLamp })
    expect(await row.count()).toBe(0)
    const i = specs.findIndex((s) => s.id === failingLamp)
    sim.simulations[i]!.model.failLamp!()
    await row.first().waitFor({ timeout: 15_000 })
    expect(await row.first().getAttribute('data-state')).toBe('raised')
    await shot(page, 'alarm-raised')
    await row.first().locator('[data-testid=alarm-ack]').click()
    await page.locator('[data-testid=alarm-ack-comment]').fill('Crew sent to replace the lamp')
    await page.locator('[data-testid=alarm-ack-confirm]').click()
    await expect.poll(() => row.first().getAttribute('data-state'), { timeout: 10_000 }).toBe('acknowledged')
    const alarmId = await row.first().getAttribute('data-alarm-id')
    const { rows } = await db.pool.query(`SELECT actor, detail->>'comment' AS comment FROM audit_log WHERE action = 'alarm.acknowledge' AND target = $1`, [alarmId])
    expect(rows).toEqual([{ actor: 'operator', comment: 'Crew sent to replace the lamp' }])
    await shot(page, 'alarm-acknowledged')
  })

  test('a device chart switches between live, 1 hour, 24 hours and 7 days', async () => {
    const page = await loggedIn('viewer')
    await page.goto(`${base}/#/devices/${airSensor}`)
    const chart = page.locator('[data-testid=chart][data-metric=pm25]')
    await chart.waitFor({ timeout: 10_000 })
    for (const range of ['1h', '24h', '7d', 'live'] as const) {
      await page.locator(`[data-testid=range-${range}]`).click()
      expect(await page.locator(`[data-testid=range-${range}]`).getAttribute('aria-pressed')).toBe('true')
      await expect.poll(() => chart.getAttribute('data-range'), { timeout: 10_000 }).toBe(range)
      await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 15_000 }).toBeGreaterThan(0)
      if (range === '1h') await shot(page, 'device-chart')
    }
    // Live: points keep arriving.
    const before = Number(await chart.getAttribute('data-points'))
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(before)
  })

  test('a street light switched on and dimmed to 50 % from the page reports its new level', async () => {
    const page = await loggedIn('operator')
    await page.goto(`${base}/#/devices/${dimmedLamp}`)
    await page.locator('[data-testid=cmd-switch-on]').click()
    await page.locator('[data-testid=command-result][data-status=ok]').first().waitFor({ timeout: 10_000 })
    await page.locator('[data-testid=cmd-dim-level]').fill('50')
    await page.locator('[data-testid=cmd-dim]').click()
    await expect.poll(() => page.locator('[data-testid=command-result][data-status=ok]').count(), { timeout: 10_000 }).toBe(2)
    await expect.poll(() => text(page, '[data-testid=latest][data-metric=dim_level]'), { timeout: 15_000 }).toMatch(/^50\b/)
    await shot(page, 'street-light-dimmed')
    const { rows } = await db.pool.query(`SELECT action, params, status, username FROM device_commands WHERE device_id = $1 ORDER BY sent_at`, [dimmedLamp])
    expect(rows).toEqual([
      { action: 'switch', params: { on: true }, status: 'ok', username: 'operator' },
      { action: 'dim', params: { level: 50 }, status: 'ok', username: 'operator' },
    ])
    await t.service.console!.audit.flush()
    const audit = await db.pool.query(`SELECT actor, action, detail->>'action' AS command, outcome FROM audit_log WHERE target = $1 ORDER BY id`, [dimmedLamp])
    expect(audit.rows).toEqual([
      { actor: 'operator', action: 'command.send', command: 'switch', outcome: 'ok' },
      { actor: 'operator', action: 'command.result', command: 'switch', outcome: 'ok' },
      { actor: 'operator', action: 'command.send', command: 'dim', outcome: 'ok' },
      { actor: 'operator', action: 'command.result', command: 'dim', outcome: 'ok' },
    ])
  })

  test('after a server restart the page reconnects by itself', async () => {
    const page = await loggedIn('viewer')
    const status = page.locator('[data-testid=live-status]')
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 10_000 }).toBe('open')
    // The same ports, the same database (and console.dataDir): the session survives and the devices reconnect.
    await t.restart({}, async () => {
      await expect.poll(() => status.getAttribute('data-state'), { timeout: 10_000 }).toBe('connecting')
    })
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 20_000 }).toBe('open')
    const generated = page.locator('[data-testid=overview-generated-at]')
    const at = Number(await generated.getAttribute('data-time'))
    await expect.poll(async () => Number(await generated.getAttribute('data-time')), { timeout: 10_000 }).toBeGreaterThan(at)
  })
})

import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// The console's city map in Debian's chromium (WebGL through SwiftShader), against
// the real service and PostgreSQL: markers from registered devices, a filter, a click
// through to the device page, and a marker that turns to the alarm colour (and pulses)
// when a reading crosses an alarm rule, without a reload. The page exposes what it
// draws on data-* attributes and window.__gridlineMap, so nothing here reads pixels.
// Serves dashboards/dist as built by npm ci (node dashboards/build.mjs).

const PASSWORD = 'viewer-password-map-7'
const ADMIN_PASSWORD = 'admin-password-map-8'
const DEVICE_PASSWORD = 'map device password 0123456789'
const TRAFFIC = Array.from({ length: 4 }, (_, i) => ({ id: `tc-st-${i}`, domain: 'traffic', metadata: { district: 'Sơn Trà', latitude: 16.07 + i * 0.004, longitude: 108.238 + (i % 2) * 0.003 } }))
const AIR = Array.from({ length: 6 }, (_, i) => ({ id: `aq-hc-${i}`, domain: 'environment', metadata: { district: 'Hải Châu', latitude: 16.035 + i * 0.006, longitude: 108.207 + (i % 3) * 0.005 } }))
const WATER = [{ id: 'wp-cl-0', domain: 'water', metadata: { district: 'Cẩm Lệ', latitude: 16.012, longitude: 108.196 } }]
const UNPLACED = [{ id: 'aq-nowhere', domain: 'environment', metadata: { district: 'Hòa Vang' } }]

let t: TestService
let browser: Browser
let base: string

beforeAll(async () => {
  t = await startTestService({
    devices: [...TRAFFIC, ...AIR, ...WATER, ...UNPLACED].map((d) => ({ ...d, password: DEVICE_PASSWORD })),
    users: [{ name: 'vic', password: PASSWORD, role: 'viewer' }, { name: 'ada', password: ADMIN_PASSWORD, role: 'admin' }],
    config: {
      processors: {
        alarms: {
          rules: [{ id: 'pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 150, clearBelow: 100, severity: 'critical' }],
        },
      },
    },
  })
  base = t.httpUrl
  // Two of the air sensors report: online; the rest never did (offline).
  for (const id of ['aq-hc-0', 'aq-hc-1']) {
    const c = await t.connect(id, { password: DEVICE_PASSWORD })
    await c.publishAsync(`telemetry/environment/${id}`, JSON.stringify({ ts: Date.now(), values: { pm25: 20 } }), { qos: 1 })
  }
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

async function loggedIn(hash: string, locale = 'en-GB', user = 'vic', password = PASSWORD): Promise<Page & { errors: string[] }> {
  const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage() as Page & { errors: string[] }
  page.errors = []
  page.on('pageerror', (err) => page.errors.push(err.message))
  await page.goto(`${base}/${hash}`)
  await page.locator('#login-username').fill(user)
  await page.locator('#login-password').fill(password)
  await page.locator('#login-submit').click()
  await expect.poll(() => page.locator('[data-testid=user-name]').textContent(), { timeout: 10_000 }).toContain(user)
  return page
}

/** window.__gridlineMap of pages/map.ts, as the page's code sees it (this file has no DOM types). */
interface MapHooks {
  marker(id: string): { color: string; state: string; alarm: string | null; unacked: boolean; shown: boolean } | null
  rendered(id: string): string | null
  project(id: string): [number, number] | null
  jumpTo(id: string, zoom: number): void
  jumpToView(center: [number, number], zoom: number): void
}
type MapWindow = { __gridlineMap: MapHooks }

const attr = (page: Page, name: string) => page.locator('[data-testid=city-map]').getAttribute(`data-${name}`)

test('every placed device is a marker: counts by state, clusters far out, markers close in, a filter, and a click to the device page', async () => {
  const page = await loggedIn('#/map')
  expect(await page.locator('[data-testid=nav-map]').getAttribute('aria-current')).toBe('page')
  await expect.poll(() => attr(page, 'ready'), { timeout: 30_000 }).toBe('true')
  expect(await attr(page, 'webgl')).toBe('ok')
  expect(await attr(page, 'base')).toBe('offline')
  expect(await attr(page, 'devices')).toBe('11')
  await expect.poll(() => attr(page, 'online'), { timeout: 10_000 }).toBe('2')
  expect(await attr(page, 'offline')).toBe('9')
  expect(await page.locator('[data-testid=map-unplaced]').textContent()).toContain('1 devices have no location')

  // Far out, the city is a few clusters with their counts; close in, each device is drawn.
  await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.jumpToView([108.215, 16.05], 10))
  await expect.poll(() => page.locator('[data-testid=map-cluster]').count(), { timeout: 15_000 }).toBeGreaterThan(0)
  const counts = await page.locator('[data-testid=map-cluster]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))))
  expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(11)
  await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.jumpTo('aq-hc-0', 17))
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('aq-hc-0')), { timeout: 15_000 }).toBe('circle-online')
  expect(await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.marker('aq-hc-2'))).toMatchObject({ color: 'offline', state: 'offline', alarm: null })

  // Traffic only: four triangles in Sơn Trà; the hash keeps the filter.
  await page.locator('[data-testid=map-filter-domain]').selectOption('traffic')
  await expect.poll(() => attr(page, 'shown'), { timeout: 10_000 }).toBe('4')
  expect(page.url()).toContain('#/map?domain=traffic')
  await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.jumpTo('tc-st-1', 17))
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('tc-st-1')), { timeout: 15_000 }).toBe('triangle-offline')
  expect(await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('aq-hc-0'))).toBeNull()
  await page.locator('[data-testid=map-filter-district]').selectOption('Hải Châu')
  await expect.poll(() => attr(page, 'shown'), { timeout: 10_000 }).toBe('0')
  await page.locator('[data-testid=map-filter-domain]').selectOption('')
  await page.locator('[data-testid=map-filter-state]').selectOption('online')
  await expect.poll(() => attr(page, 'shown'), { timeout: 10_000 }).toBe('2')

  // A click on a marker opens its device page.
  await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.jumpTo('aq-hc-1', 17))
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('aq-hc-1')), { timeout: 15_000 }).toBe('circle-online')
  const [x, y] = (await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.project('aq-hc-1')))!
  await page.mouse.click(x, y)
  await expect.poll(() => page.url(), { timeout: 10_000 }).toContain('#/devices/aq-hc-1')
  expect(page.errors).toEqual([])
  await page.context().close()
}, 120_000)

test('a reading over an alarm rule turns its marker to the alarm colour and makes it pulse until acknowledged, live; the overview shows the map first', async () => {
  const page = await loggedIn('#/overview')
  const overviewMap = page.locator('.p-map [data-testid=city-map]')
  await expect.poll(() => overviewMap.getAttribute('data-ready'), { timeout: 30_000 }).toBe('true')
  // The map is the overview's first panel.
  expect(await page.locator('.grid > .panel').first().getAttribute('class')).toContain('p-map')
  await page.locator('[data-testid=nav-map]').click()
  await expect.poll(() => attr(page, 'ready'), { timeout: 30_000 }).toBe('true')
  await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.jumpTo('aq-hc-3', 17))
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('aq-hc-3')), { timeout: 15_000 }).toBe('circle-offline')
  expect(await attr(page, 'pulsing')).toBe('0')

  const device = await t.connect('aq-hc-3', { password: DEVICE_PASSWORD })
  await device.publishAsync('telemetry/environment/aq-hc-3', JSON.stringify({ ts: Date.now(), values: { pm25: 240 } }), { qos: 1 })
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.rendered('aq-hc-3')), { timeout: 15_000 }).toBe('circle-critical')
  expect(await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.marker('aq-hc-3'))).toMatchObject({ color: 'critical', state: 'online', alarm: 'critical', unacked: true })
  expect(await attr(page, 'pulsing')).toBe('1')
  expect(await attr(page, 'unacked')).toBe('1')
  expect(await page.locator('[data-testid=map-pulse][data-device-id=aq-hc-3]').getAttribute('data-severity')).toBe('critical')
  // The frame counter a benchmark reads while panning.
  expect(await page.evaluate(() => (globalThis as unknown as { __mapFrames: number }).__mapFrames)).toBeGreaterThan(0)
  expect(await attr(page, 'fps')).toMatch(/^\d+$/)
  // With an alarm: the state filter keeps it alone.
  await page.locator('[data-testid=map-filter-state]').selectOption('alarm')
  await expect.poll(() => attr(page, 'shown'), { timeout: 10_000 }).toBe('1')
  // Acknowledged (by an admin, through the API): the pulse stops, the colour stays until the alarm clears.
  const cookie = await t.login('ada', ADMIN_PASSWORD)
  const active = await (await fetch(`${base}/api/alarms`, { headers: { cookie } })).json() as { alarms: { id: string; deviceId?: string }[] }
  const alarm = active.alarms.find((a) => a.deviceId === 'aq-hc-3')!
  const ack = await fetch(`${base}/api/alarms/${encodeURIComponent(alarm.id)}/ack`, { method: 'POST', headers: { cookie, origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ comment: 'Crew sent' }) })
  expect(ack.status).toBe(200)
  await expect.poll(() => attr(page, 'pulsing'), { timeout: 15_000 }).toBe('0')
  expect(await page.locator('[data-testid=map-pulse]').count()).toBe(0)
  expect(await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.marker('aq-hc-3'))).toMatchObject({ color: 'critical', unacked: false })
  expect(page.errors).toEqual([])
  await page.context().close()
}, 120_000)

test('an admin places a device on the map from the Admin page: a new one with its coordinates, an old one that had none', async () => {
  const page = await loggedIn('#/admin', 'vi-VN', 'ada', ADMIN_PASSWORD)
  await page.locator('#device-id').fill('aq-lc-new')
  await page.locator('#device-domain').selectOption('environment')
  await page.locator('#device-metadata').fill('{"district": "Liên Chiểu"}')
  await page.locator('#device-latitude').fill('16.065')
  await page.locator('#device-longitude').fill('108.14')
  await page.locator('[data-testid=device-add]').click()
  await expect.poll(() => page.locator('[data-testid=device-note]').textContent(), { timeout: 10_000 }).toContain('aq-lc-new')
  expect((await t.db.pool.query(`SELECT metadata FROM devices WHERE id = 'aq-lc-new'`)).rows[0].metadata).toEqual({ district: 'Liên Chiểu', latitude: 16.065, longitude: 108.14 })
  // Only one of the two: refused before anything is sent.
  await page.locator('#device-id').fill('aq-nowhere')
  await page.locator('#device-latitude').fill('15.99')
  await page.locator('#device-longitude').fill('')
  await page.locator('[data-testid=device-set-location]').click()
  await expect.poll(() => page.locator('[data-testid=device-note]').getAttribute('class'), { timeout: 5_000 }).toBe('form-error')
  await page.locator('#device-longitude').fill('108.09')
  await page.locator('[data-testid=device-set-location]').click()
  await expect.poll(() => page.locator('[data-testid=device-note]').textContent(), { timeout: 10_000 }).toBe('aq-nowhere nay đặt tại 15.99, 108.09.')

  await page.locator('[data-testid=nav-map]').click()
  await expect.poll(() => attr(page, 'ready'), { timeout: 30_000 }).toBe('true')
  await expect.poll(() => attr(page, 'devices'), { timeout: 15_000 }).toBe('13')
  expect(await page.locator('[data-testid=map-unplaced]').isHidden()).toBe(true)
  expect(await page.evaluate(() => (globalThis as unknown as MapWindow).__gridlineMap.marker('aq-nowhere'))).toMatchObject({ state: 'offline', shown: true })
  expect(page.errors).toEqual([])
  await page.context().close()
}, 120_000)

import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// The map's base from the city's GIS server (console.map.tileUrl): a tile server of our
// own on another origin (127.0.0.1 on another port) answers XYZ tiles with CORS; the page
// loads them through the Content-Security-Policy that the config opened for that origin,
// and from no other. Serves dashboards/dist as built by npm ci.

const PASSWORD = 'viewer-password-tiles-1'
/** A 1 x 1 opaque PNG: MapLibre stretches it over the tile. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')

let tiles: Server
const requested: string[] = []
let t: TestService
let browser: Browser

beforeAll(async () => {
  tiles = createServer((req, res) => {
    requested.push(req.url ?? '')
    if (!/^\/tiles\/\d+\/\d+\/\d+\.png$/.test(req.url ?? '')) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*', 'cache-control': 'no-store' }).end(PNG)
  })
  await new Promise<void>((resolve) => tiles.listen(0, '127.0.0.1', resolve))
  const tileUrl = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}/tiles/{z}/{x}/{y}.png`
  t = await startTestService({
    devices: [{ id: 'aq-hc-0', domain: 'environment', metadata: { district: 'Hải Châu', latitude: 16.05, longitude: 108.21 } }],
    users: [{ name: 'vic', password: PASSWORD, role: 'viewer' }],
    config: { console: { map: { tileUrl, attribution: 'Đà Nẵng GIS (test)' } } },
  })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
  await new Promise((resolve) => tiles?.close(resolve))
})

test('the configured raster tiles are drawn under the devices, with their credit; the policy lets the page reach that origin', async () => {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 800 } })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  const errors: string[] = []
  const refused: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) refused.push(m.text()) })
  await page.goto(`${t.httpUrl}/#/map`)
  await page.locator('#login-username').fill('vic')
  await page.locator('#login-password').fill(PASSWORD)
  await page.locator('#login-submit').click()
  const map = page.locator('[data-testid=city-map]')
  await expect.poll(() => map.getAttribute('data-ready'), { timeout: 30_000 }).toBe('true')
  expect(await map.getAttribute('data-base')).toBe('raster')
  await expect.poll(() => requested.filter((u) => u.startsWith('/tiles/')).length, { timeout: 15_000 }).toBeGreaterThan(0)
  expect(requested.every((u) => /^\/tiles\/\d+\/\d+\/\d+\.png$/.test(u))).toBe(true)
  await expect.poll(() => page.locator('.maplibregl-ctrl-attrib').textContent(), { timeout: 10_000 }).toContain('Đà Nẵng GIS (test)')
  expect(await map.getAttribute('data-devices')).toBe('1')
  // No district names over a GIS base (it names its own places); no error above the map.
  expect(await page.locator('[data-testid=map-district]').count()).toBe(0)
  expect(await page.locator('[data-testid=map-error]').isHidden()).toBe(true)
  expect(refused).toEqual([])
  expect(errors).toEqual([])
  await context.close()
}, 90_000)

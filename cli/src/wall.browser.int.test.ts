import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// Wall mode (#/wall, docs/dashboards.md#wall-mode) in Chromium against the service, as an
// operator: no header, large type, no controls even for a role that has them, the views in
// turn, and Esc back to the console. Serves dashboards/dist as built by npm ci.

const PASSWORD = 'operator-password-wall-1'
let t: TestService
let browser: Browser

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'aq-hc-0', domain: 'environment', metadata: { district: 'Hải Châu', latitude: 16.05, longitude: 108.21 } },
      { id: 'lamp-st-0', domain: 'lighting', metadata: { district: 'Sơn Trà', latitude: 16.08, longitude: 108.24 } },
    ],
    users: [{ name: 'olga', password: PASSWORD, role: 'operator' }],
  })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

test('the wall shows the chosen views in turn, in large type, with no header and no controls; Esc leaves it for the console', async () => {
  const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1920, height: 1080 } })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${t.httpUrl}/#/wall?views=map,overview&every=5`)
  await page.locator('#login-username').fill('olga')
  await page.locator('#login-password').fill(PASSWORD)
  await page.locator('#login-submit').click()

  const wall = page.locator('[data-testid=wall]')
  await expect.poll(() => wall.getAttribute('data-view')).toBe('map')
  expect(await wall.getAttribute('data-views')).toBe('map,overview')
  expect(await page.locator('[data-testid=wall-view]').textContent()).toBe('Bản đồ')
  await expect.poll(() => page.locator('[data-testid=city-map]').getAttribute('data-devices'), { timeout: 30_000 }).toBe('2')
  expect(await page.locator('header.topbar').count()).toBe(0)
  const rootFont = () => page.evaluate<string>('getComputedStyle(document.documentElement).fontSize')
  expect(await rootFont()).toBe('22px')
  // The map's filters are there, and hidden: a wall is not operated.
  expect(await page.locator('[data-testid=wall-stage]').locator('button, select, input').count()).toBeGreaterThan(0)
  const visibleControls = () => page.locator('[data-testid=wall-stage]').locator('button:visible, select:visible, input:visible').count()
  expect(await visibleControls()).toBe(0)
  await expect.poll(() => page.locator('[data-testid=wall-clock]').textContent()).toMatch(/^\d{2}:\d{2}:\d{2}$/)

  // The next view comes by itself, after `every` seconds.
  await expect.poll(() => wall.getAttribute('data-view'), { timeout: 12_000 }).toBe('overview')
  expect(await page.locator('[data-testid=wall-view]').textContent()).toBe('Tổng quan')
  await expect.poll(() => page.locator('[data-testid=wall-stage] .stat-value').first().textContent()).not.toBe('–')
  expect(await visibleControls()).toBe(0)
  // And round again.
  await expect.poll(() => wall.getAttribute('data-view'), { timeout: 12_000 }).toBe('map')

  await page.keyboard.press('Escape')
  await expect.poll(() => page.evaluate<string>('location.hash')).toBe('#/overview')
  await page.locator('header.topbar').waitFor()
  expect(await rootFont()).toBe('15px')
  // The console's header opens wall mode again.
  await page.locator('[data-testid=nav-wall]').click()
  await expect.poll(() => wall.getAttribute('data-views')).toBe('overview,map,alarms')
  expect(errors).toEqual([])
  await context.close()
}, 120_000)

import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// The device page's metadata editor (docs/dashboards.md#editing-a-device) in Chromium: an
// admin edits the fields, removes one, adds one, picks the location with a click on the
// map and saves; the registry holds exactly that. A viewer gets no editor. Serves
// dashboards/dist as built by npm ci.

const PASSWORDS = { ada: 'admin-password-edit-01', vic: 'viewer-password-edit-1' }
let t: TestService
let browser: Browser

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'lamp-hc-1', domain: 'lighting', metadata: { district: 'Hải Châu', ratedPowerW: 120, latitude: 16.05, longitude: 108.2 } },
      { id: 'aq-st-1', domain: 'environment', metadata: { district: 'Sơn Trà', latitude: 16.09, longitude: 108.25 } },
    ],
    users: [{ name: 'ada', password: PASSWORDS.ada, role: 'admin' }, { name: 'vic', password: PASSWORDS.vic, role: 'viewer' }],
  })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

async function open(user: keyof typeof PASSWORDS): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 1000 } })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  await page.goto(`${t.httpUrl}/#/devices/lamp-hc-1`)
  await page.locator('#login-username').fill(user)
  await page.locator('#login-password').fill(PASSWORDS[user])
  await page.locator('#login-submit').click()
  await page.locator('dl.meta dt', { hasText: 'district' }).waitFor()
  return page
}

test('an admin edits the metadata as fields and picks the place on the map; the registry holds exactly what was saved', async () => {
  const page = await open('ada')
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.locator('[data-testid=meta-edit]').click()
  const keys = () => page.locator('[data-testid=meta-key]').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value))
  /** The row whose key input holds `key` (an input's value is not an attribute a selector sees). */
  const row = async (key: string) => page.locator('[data-testid=meta-row]').nth((await keys()).indexOf(key))
  // The registry's JSONB keeps its own key order: the fields are compared as a set.
  expect((await keys()).sort()).toEqual(['district', 'latitude', 'longitude', 'ratedPowerW'])
  await (await row('district')).locator('[data-testid=meta-value]').fill('Sơn Trà')
  await (await row('ratedPowerW')).locator('[data-testid=meta-remove]').click()
  // A key twice is refused before anything is sent.
  await page.locator('[data-testid=meta-add]').click()
  await page.locator('[data-testid=meta-key]').last().fill('district')
  await page.locator('[data-testid=meta-value]').last().fill('x')
  await page.locator('[data-testid=meta-save]').click()
  expect(await page.locator('[data-testid=meta-error]').textContent()).toBe('The key "district" is there twice.')
  await page.locator('[data-testid=meta-key]').last().fill('circuit')
  await page.locator('[data-testid=meta-value]').last().fill('c-7')

  await page.locator('[data-testid=meta-pick]').click()
  const map = page.locator('[data-testid=meta-editor] [data-testid=city-map]')
  await expect.poll(() => map.getAttribute('data-ready'), { timeout: 30_000 }).toBe('true')
  expect(await map.getAttribute('data-picked')).toBe('108.200000,16.050000')
  // locator.click scrolls the map into view first (it sits below the fields).
  const canvas = map.locator('canvas')
  const box = (await canvas.boundingBox())!
  await canvas.click({ position: { x: box.width * 0.3, y: box.height * 0.7 } })
  await expect.poll(() => map.getAttribute('data-picked')).not.toBe('108.200000,16.050000')
  const [lon, lat] = (await map.getAttribute('data-picked'))!.split(',').map(Number) as [number, number]
  const latitude = Number(await (await row('latitude')).locator('[data-testid=meta-value]').inputValue())
  const longitude = Number(await (await row('longitude')).locator('[data-testid=meta-value]').inputValue())
  expect(Math.abs(latitude - lat)).toBeLessThan(1e-5)
  expect(Math.abs(longitude - lon)).toBeLessThan(1e-5)
  expect([latitude, longitude]).not.toEqual([16.05, 108.2])

  await page.locator('[data-testid=meta-save]').click()
  await page.locator('dl.meta dd', { hasText: 'c-7' }).waitFor()
  expect(await page.locator('[data-testid=meta-editor]').count()).toBe(0)
  expect((await t.devices.get('lamp-hc-1'))?.metadata).toEqual({ district: 'Sơn Trà', circuit: 'c-7', latitude, longitude })
  const audit = await page.evaluate<{ entries: { action: string; target: string }[] }>("fetch('/api/audit?limit=20').then((r) => r.json())")
  expect(audit.entries.some((e) => e.target === 'lamp-hc-1' && /metadata/.test(e.action))).toBe(true)
  expect(errors).toEqual([])
  await page.context().close()
}, 120_000)

test('a viewer sees the metadata and no editor', async () => {
  const page = await open('vic')
  expect(await page.locator('[data-testid=meta-edit]').count()).toBe(0)
  await page.context().close()
}, 60_000)

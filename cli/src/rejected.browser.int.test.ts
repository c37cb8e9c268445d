import { type TestDatabase, type TestService, startTestService } from '@gridline/ingest/testing'
import mqtt, { type MqttClient } from 'mqtt'
import { type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { waitFor, launchChromium } from '../../test/support.ts'

// Refused messages in the operator console, in Debian's chromium: the
// Rejected page shows a refused message's reason and payload as text (markup
// in a payload stays text), its filter, and who may open it; the device page
// shows the device's count. Serves dashboards/dist as built by npm ci (node dashboards/build.mjs),
// as operator-console.browser.int.test.ts does.

const PASSWORDS = { admin: 'admin-password-0001', operator: 'operator-password-02', viewer: 'viewer-password-003' } as const
type RoleName = keyof typeof PASSWORDS
const DEVICE_PASSWORD = 'aq-1 password 0123456789'
const MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b>'

let t: TestService
let db: TestDatabase
let browser: Browser
let base: string
let device: MqttClient

beforeAll(async () => {
  // The kit's defaults are this file's: a 2 ms group commit, Node-RED off, a fresh console.dataDir.
  t = await startTestService({
    devices: [
      { id: 'aq-1', domain: 'environment', password: DEVICE_PASSWORD },
      { id: 'aq-2', domain: 'environment', password: DEVICE_PASSWORD },
    ],
    users: (Object.keys(PASSWORDS) as RoleName[]).map((role) => ({ name: role, password: PASSWORDS[role], role })),
  })
  db = t.db
  base = t.httpUrl
  device = await mqtt.connectAsync(t.mqttUrl, { username: 'aq-1', password: DEVICE_PASSWORD, reconnectPeriod: 0 })
  await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { pm25: 'twelve' } }), { qos: 1 })
  await device.publishAsync('telemetry/environment/aq-1', MARKUP, { qos: 1 })
  await device.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: Date.now(), values: { pm25: 12 } }), { qos: 1 })
  await waitFor(async () => (await db.pool.query(`SELECT count(*)::int AS n FROM rejected`)).rows[0].n === 2, 10_000, 'two refusals')
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await device?.endAsync(true).catch(() => undefined)
  await t?.stop()
})

async function loggedIn(role: RoleName, locale = 'en-GB'): Promise<Page & { errors: string[] }> {
  const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } })
  const page = await context.newPage() as Page & { errors: string[] }
  page.errors = []
  page.on('pageerror', (err) => page.errors.push(err.message))
  await page.goto(`${base}/`)
  await page.locator('#login-username').fill(role)
  await page.locator('#login-password').fill(PASSWORDS[role])
  await page.locator('#login-submit').click()
  await expect.poll(() => page.locator('[data-testid=user-name]').textContent(), { timeout: 10_000 }).toContain(role)
  return page
}

test('an operator sees each refused message\'s reason, detail and payload as text, newest first, and filters them', async () => {
  const page = await loggedIn('operator')
  await page.locator('[data-testid=nav-rejected]').click()
  const rows = page.locator('[data-testid=rejected-row]')
  await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2)
  expect(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-reason')))).toEqual(['json_malformed', 'value_invalid'])
  const payloads = page.locator('[data-testid=rejected-payload]')
  // The markup is shown as the characters the device sent, never parsed.
  expect(await payloads.nth(0).textContent()).toBe(MARKUP)
  expect(await page.locator('.rejected img, .rejected b').count()).toBe(0)
  expect(await page.evaluate("typeof window.__pwned")).toBe("undefined")
  expect(await payloads.nth(1).textContent()).toContain('"pm25":"twelve"')
  expect(await rows.nth(1).textContent()).toContain('telemetry/environment/aq-1')

  await page.locator('[data-testid=rejected-reason]').fill('value_invalid')
  await page.locator('[data-testid=rejected-filter] button[type=submit]').click()
  await expect.poll(() => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-reason'))), { timeout: 10_000 }).toEqual(['value_invalid'])
  expect(page.url()).toContain('#/rejected?reason=value_invalid')
  await page.locator('[data-testid=rejected-reason]').fill('')
  await page.locator('[data-testid=rejected-device]').fill('aq-2')
  await page.locator('[data-testid=rejected-filter] button[type=submit]').click()
  await expect.poll(() => page.locator('.rejected td.empty').textContent(), { timeout: 10_000 }).toBe('No refused messages match.')
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('the device page shows how many of the device\'s messages were refused and why, in Vietnamese too', async () => {
  const page = await loggedIn('operator', 'vi-VN')
  await page.goto(`${base}/#/devices/aq-1`)
  const total = page.locator('[data-testid=device-rejections-total]')
  await expect.poll(() => total.getAttribute('data-count'), { timeout: 10_000 }).toBe('2')
  expect(await total.textContent()).toBe('2 bị từ chối')
  expect(await page.locator('[data-testid=device-rejection-reason]').evaluateAll((els) => els.map((e) => e.getAttribute('data-reason')).sort())).toEqual(['json_malformed', 'value_invalid'])
  await page.locator('[data-testid=device-rejections-all]').click()
  await expect.poll(() => page.locator('[data-testid=rejected-row]').count(), { timeout: 10_000 }).toBe(2)
  expect(await page.locator('h1').textContent()).toBe('Tin nhắn bị từ chối')
  await page.goto(`${base}/#/devices/aq-2`)
  await expect.poll(() => page.locator('[data-testid=device-rejections-total]').getAttribute('data-count'), { timeout: 10_000 }).toBe('0')
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('a viewer sees the device\'s count but neither the Rejected page nor its link', async () => {
  const page = await loggedIn('viewer')
  expect(await page.locator('[data-testid=nav-rejected]').count()).toBe(0)
  await page.goto(`${base}/#/devices/aq-1`)
  await expect.poll(() => page.locator('[data-testid=device-rejections-total]').getAttribute('data-count'), { timeout: 10_000 }).toBe('2')
  expect(await page.locator('[data-testid=device-rejections-all]').count()).toBe(0)
  await page.goto(`${base}/#/rejected`)
  await expect.poll(() => page.locator('main .notice').textContent(), { timeout: 10_000 }).toBe('Your role may not open this page.')
  expect(await page.locator('[data-testid=rejected-row]').count()).toBe(0)
  await page.context().close()
})

test('an admin has the Rejected page in the navigation', async () => {
  const page = await loggedIn('admin')
  await page.locator('[data-testid=nav-rejected]').click()
  await expect.poll(() => page.locator('[data-testid=rejected-row]').count(), { timeout: 10_000 }).toBe(2)
  await page.context().close()
})

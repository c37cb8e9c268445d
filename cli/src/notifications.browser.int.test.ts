import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { waitFor, launchChromium } from '../../test/support.ts'

// The admin page's notifications panel in Debian's chromium, against a real
// service whose one webhook endpoint refuses connections: its delivery is
// dead-lettered after the (1 s) window, shown with its reason, and the
// Replay button queues it again (audited). Serves dashboards/dist as built by
// npm ci (node dashboards/build.mjs), as operator-console.browser.int.test.ts does.

const PASSWORD = 'admin-password-0001'
let t: TestService
let browser: Browser

beforeAll(async () => {
  process.env.GRIDLINE_TEST_BROWSER_HOOK_SECRET = 'browser-test-secret-0123456789'
  const closed = http.createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const refused = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  t = await startTestService({
    users: [{ name: 'admin', role: 'admin', password: PASSWORD }],
    config: {
      notifications: {
        retryForMs: 1_000, retryMinMs: 50, retryMaxMs: 200, pollIntervalMs: 50,
        endpoints: { ioc: { type: 'webhook', url: `http://127.0.0.1:${refused}/hook`, secretEnv: 'GRIDLINE_TEST_BROWSER_HOOK_SECRET', allowPrivateNetwork: true } },
      },
    },
  })
  t.service.processing.alarms!.raiseCustom({ ruleId: 'flood-notify', subject: 'district:Hải Châu', severity: 'critical', message: 'River above 2.5 m' }, 'test')
  await waitFor(async () => (await t.db.pool.query("SELECT count(*)::int AS n FROM notification_deliveries WHERE status = 'dead'")).rows[0].n === 1, 15_000, 'a dead letter')
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
  delete process.env.GRIDLINE_TEST_BROWSER_HOOK_SECRET
})

test('an admin sees the dead-lettered delivery with its reason and replays it', async () => {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  try {
    await page.goto(`${t.httpUrl}/`)
    await page.locator('#login-username').fill('admin')
    await page.locator('#login-password').fill(PASSWORD)
    await page.locator('#login-submit').click()
    await page.locator('[data-testid=nav-admin]').click()
    const panel = page.locator('[data-testid=notifications-panel]')
    await expect.poll(() => panel.locator('[data-testid=notifications-summary]').textContent(), { timeout: 10_000 }).toBe('ioc (webhook): 0 pending, 0 delivered, 1 dead')
    const row = panel.locator('[data-testid=delivery-row]')
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1)
    expect(await row.getAttribute('data-status')).toBe('dead')
    expect(await row.textContent()).toContain('custom:flood-notify · district:Hải Châu')
    expect(await row.textContent()).toMatch(/retry window of 1 s passed after \d+ attempt\(s\); last: ECONNREFUSED/)
    await row.locator('[data-testid=delivery-replay]').click()
    await expect.poll(async () => (await t.db.pool.query("SELECT replays FROM notification_deliveries")).rows[0].replays, { timeout: 10_000 }).toBe(1)
    await expect.poll(() => page.locator('[data-testid=audit-row][data-action="notification.replay"]').count(), { timeout: 10_000 }).toBe(1)
    expect(errors).toEqual([])
  } finally {
    await context.close()
  }
}, 60_000)

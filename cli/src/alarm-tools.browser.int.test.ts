import { type TestService, startTestService } from '@gridline/ingest/testing'
import mqtt from 'mqtt'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium, loggedInConsole } from '../../test/support.ts'

// The alarm tools of issue 18 in Debian's chromium, against the real service and
// PostgreSQL: an operator ticks two alarms and acknowledges both at once, shelves
// one with a reason and sees it marked, switches the alarm sound on and hears
// (through its hook, window.__alarmSound) a new critical alarm raised by a
// reading that crosses a rule, and not a minor one. Serves dashboards/dist as built
// by npm ci (node dashboards/build.mjs), as operator-console.browser.int.test.ts does.

const PASSWORD = 'olly-operator-pass-2'
const DEVICE_PASSWORD = 'aq-hc-1 password 0123456789'

let t: TestService
let browser: Browser
let base: string

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'aq-hc-1', domain: 'environment', password: DEVICE_PASSWORD, metadata: { district: 'Hải Châu' } }],
    users: [{ name: 'olly', password: PASSWORD, role: 'operator' }],
    config: { processors: { alarms: { rules: [{ id: 'pm25-critical', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 250, clearBelow: 150, severity: 'critical', message: 'PM2.5 on {device} is {value}' }] } } },
  })
  base = t.httpUrl
  const engine = t.service.processing.alarms!
  engine.raiseCustom({ ruleId: 'crew-report', subject: 'Bạch Đằng', severity: 'major', message: 'Tree on the lamp line' }, 'test')
  engine.raiseCustom({ ruleId: 'pump-noise', subject: 'Trạm bơm 3', severity: 'minor', message: 'Pump 3 is noisy' }, 'test')
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

const loggedIn = () => loggedInConsole(browser, base, 'olly', PASSWORD)

test('an operator acknowledges two alarms at once, shelves one with a reason, and hears a new critical alarm', async () => {
  const page = await loggedIn()
  await page.goto(`${base}/#/alarms`)
  const rows = page.locator('[data-testid=alarm-row]')
  await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2)

  // Both ticked, one comment, one click.
  await rows.nth(0).locator('[data-testid=alarm-select]').check()
  await rows.nth(1).locator('[data-testid=alarm-select]').check()
  expect(await page.locator('[data-testid=alarm-ack-selected]').textContent()).toBe('Acknowledge selected (2)')
  await page.locator('[data-testid=alarm-bulk-comment]').fill('crew informed')
  await page.locator('[data-testid=alarm-ack-selected]').click()
  await expect.poll(() => page.locator('[data-testid=alarm-bulk-result]').textContent(), { timeout: 10_000 }).toBe('2 acknowledged, 0 already acknowledged, 0 not found, 0 refused')
  await expect.poll(() => rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), { timeout: 10_000 }).toEqual(['acknowledged', 'acknowledged'])
  await t.service.console!.audit.flush()
  const audited = await t.db.pool.query(`SELECT actor, detail->>'comment' AS comment FROM audit_log WHERE action = 'alarm.acknowledge' AND outcome = 'ok'`)
  expect(audited.rows).toEqual([{ actor: 'olly', comment: 'crew informed' }, { actor: 'olly', comment: 'crew informed' }])

  // Shelve the minor one for an hour, with a reason: it stays listed, marked.
  const pump = page.locator('[data-testid=alarm-row]', { hasText: 'Pump 3 is noisy' })
  await pump.locator('[data-testid=alarm-shelve]').click()
  await pump.locator('[data-testid=alarm-shelve-reason]').fill('bearing replaced on Monday')
  await pump.locator('[data-testid=alarm-shelve-minutes]').selectOption('60')
  await pump.locator('[data-testid=alarm-shelve-confirm]').click()
  await expect.poll(() => pump.getAttribute('data-shelved'), { timeout: 10_000 }).toBe('true')
  expect(await pump.locator('[data-testid=alarm-shelved]').textContent()).toMatch(/^Shelved until .+ by olly: bearing replaced on Monday$/)
  expect(await pump.locator('[data-testid=alarm-unshelve]').isVisible()).toBe(true)
  expect(await rows.count()).toBe(2)
  const alarmId = await pump.getAttribute('data-alarm-id')
  expect(t.service.processing.alarms!.listActive().find((a) => a.id === alarmId)).toMatchObject({ shelvedBy: 'olly', shelveReason: 'bearing replaced on Monday' })

  // The sound: switched on (the click browsers want before a page plays sound), silent for a minor alarm, heard for a critical one.
  await page.locator('[data-testid=alarm-sound-toggle]').click()
  expect(await page.locator('[data-testid=alarm-sound-toggle]').getAttribute('aria-pressed')).toBe('true')
  expect(await page.evaluate('localStorage.getItem("gridline.alarmSound")')).toBe('on')
  t.service.processing.alarms!.raiseCustom({ ruleId: 'leaf-litter', subject: 'Hàn river', severity: 'minor', message: 'Leaves on the gauge' }, 'test')
  await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3)
  expect(await page.evaluate('window.__alarmSound ?? 0')).toBe(0)
  const device = await mqtt.connectAsync(t.mqttUrl, { username: 'aq-hc-1', password: DEVICE_PASSWORD, reconnectPeriod: 0 })
  await device.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify({ ts: Date.now(), values: { pm25: 300 } }), { qos: 1 })
  await device.endAsync()
  await expect.poll(() => page.evaluate('window.__alarmSound ?? 0'), { timeout: 10_000 }).toBe(1)
  expect(await page.evaluate('document.documentElement.dataset.alarmSound')).toBe('1')
  await expect.poll(() => page.locator('[data-testid=alarm-row][data-severity=critical]').count(), { timeout: 10_000 }).toBe(1)
  expect(page.errors).toEqual([])
  await page.context().close()
}, 90_000)

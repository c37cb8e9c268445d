import { type TestService, startTestService } from '@gridline/ingest/testing'
import mqtt from 'mqtt'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium, loggedInConsole } from '../../test/support.ts'

// The console's indicator history in Debian's chromium, against the real service and
// PostgreSQL: a month of a district's daily VN_AQI written straight into indicator_values,
// picked on the Indicators page by a viewer (chart of 30 points, the latest value on top,
// a revised value marked), and reached from the overview's district tile. Serves
// dashboards/dist as built by npm ci (node dashboards/build.mjs), as
// operator-console.browser.int.test.ts does.

const PASSWORD = 'viewer-password-003'
const DISTRICT = 'Hải Châu'
const DAY = 86_400_000
const START = Date.UTC(2026, 9, 31, 17) // 2026-11-01 00:00 +07:00

let t: TestService
let browser: Browser
let base: string
/** The 30 days end today (local), so every value lies inside the page's 30-day range. */
let first: number

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'aq-hc-1', domain: 'environment', password: 'aq-hc-1 password 0123456789', metadata: { district: DISTRICT } }],
    users: [{ name: 'viewer', password: PASSWORD, role: 'viewer' }],
  })
  base = t.httpUrl
  const today = Math.floor((Date.now() + 7 * 3_600_000) / DAY) * DAY - 7 * 3_600_000 // local midnight, UTC+7
  first = today - 29 * DAY
  // 30 days, oldest 50, newest 79 (moderate); the day before the newest revised once.
  await t.db.pool.query(
    `INSERT INTO indicator_values (name, scope, key, time, value, level, revision)
     SELECT 'vn_aqi_daily', 'district', $3, to_timestamp(($1::float8 + i * $2::float8) / 1000), 50 + i, 'moderate', CASE WHEN i = 28 THEN 1 ELSE 0 END
       FROM generate_series(0, 29) AS i`,
    [first, DAY, DISTRICT],
  )
  // Another indicator and series, so the pickers have something to choose between.
  await t.db.pool.query(`INSERT INTO indicator_values (name, scope, key, time, value, level) VALUES ('vn_aqi_daily', 'device', 'aq-hc-1', to_timestamp($1 / 1000.0), 77, 'moderate'), ('flood_level', 'device', 'gauge-1', to_timestamp($1 / 1000.0), 0.2, 'alert_1')`, [START])
  // A reading puts the district on the overview (provisional AQI).
  const device = await mqtt.connectAsync(t.mqttUrl, { username: 'aq-hc-1', password: 'aq-hc-1 password 0123456789', reconnectPeriod: 0 })
  await device.publishAsync('telemetry/environment/aq-hc-1', JSON.stringify({ ts: Date.now(), values: { pm25: 12 } }), { qos: 1 })
  await device.endAsync()
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

const loggedIn = (locale = 'en-GB') => loggedInConsole(browser, base, 'viewer', PASSWORD, locale)

test('a viewer picks a district\'s daily VN_AQI: 30 points on the chart, the latest value first in the table, the revised one marked', async () => {
  const page = await loggedIn()
  await page.locator('[data-testid=nav-indicators]').click()
  const name = page.locator('[data-testid=indicator-name]')
  // The pickers are drawn again once the first series is chosen: poll the texts, not a count taken between two drawings.
  await expect.poll(() => name.locator('option').allTextContents(), { timeout: 10_000 }).toEqual(['Flood level', 'VN_AQI, daily'])
  await name.selectOption('vn_aqi_daily')
  const series = page.locator('[data-testid=indicator-series]')
  await expect.poll(() => series.locator('option').allTextContents(), { timeout: 10_000 }).toEqual(expect.arrayContaining([`${DISTRICT} (district)`, 'aq-hc-1 (device)']))
  await series.selectOption({ label: `${DISTRICT} (district)` })
  await page.locator('[data-testid=indicator-range]').selectOption('30d')

  const chart = page.locator('[data-testid=chart][data-indicator=vn_aqi_daily]')
  await expect.poll(() => chart.getAttribute('data-points'), { timeout: 10_000 }).toBe('30')
  expect(await chart.getAttribute('data-range')).toBe('30d')
  expect(page.url()).toContain(`#/indicators?name=vn_aqi_daily&scope=district&key=${encodeURIComponent(DISTRICT).replace(/%20/g, '+')}&range=30d`)
  const rows = page.locator('[data-testid=indicator-row]')
  await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(10)
  expect(await rows.first().locator('[data-testid=indicator-value]').textContent()).toBe('79')
  expect(await rows.first().getAttribute('data-t')).toBe(String(first + 29 * DAY))
  expect(await rows.first().locator('[data-level]').textContent()).toBe('Moderate')
  expect(await rows.nth(1).getAttribute('data-revision')).toBe('1')
  expect(await rows.nth(1).locator('[data-testid=indicator-revised]').count()).toBe(1)
  expect(await rows.first().locator('[data-testid=indicator-revised]').count()).toBe(0)
  expect(await page.locator('[data-testid=indicator-summary]').textContent()).toBe('30 values · revised 1×')
  expect(page.errors).toEqual([])
  await page.context().close()
}, 90_000)

test('the overview\'s district tile opens its 30-day history; an empty range and a refused query say so, in Vietnamese', async () => {
  const page = await loggedIn('vi-VN')
  const link = page.locator(`[data-testid=aqi-district][data-district="${DISTRICT}"] [data-testid=aqi-history]`)
  await link.waitFor({ timeout: 15_000 })
  await link.click()
  const chart = page.locator('[data-testid=chart][data-indicator=vn_aqi_daily]')
  await expect.poll(() => chart.getAttribute('data-points'), { timeout: 10_000 }).toBe('30')
  expect(await page.locator('h1').textContent()).toBe('Lịch sử chỉ số')
  // The device series has one value, on 1 November 2026: outside the last 24 hours.
  await page.goto(`${base}/#/indicators?name=vn_aqi_daily&scope=device&key=aq-hc-1&range=24h`)
  await expect.poll(() => page.locator('[data-testid=indicator-message]').textContent(), { timeout: 10_000 }).toBe('Chuỗi này không có giá trị nào trong khoảng thời gian đã chọn.')
  expect(await page.locator('[data-testid=indicator-latest]').isVisible()).toBe(false)
  // A query the API refuses shows its error, not a blank chart.
  await page.goto(`${base}/#/indicators?name=vn_aqi_daily&scope=planet&key=x`)
  await expect.poll(() => page.locator('[data-testid=indicator-error]').textContent(), { timeout: 10_000 }).toContain('GRIDLINE_BAD_REQUEST')
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('a custom window from the hash or the From/To fields: the chart spans it and draws the values inside; Reset returns to the range', async () => {
  const page = await loggedIn()
  // Days 10 to 20 of the 30 (local midnights), as RFC 3339 in the address.
  const from = first + 10 * DAY
  const to = first + 20 * DAY
  await page.goto(`${base}/#/indicators?name=vn_aqi_daily&scope=district&key=${encodeURIComponent(DISTRICT)}&range=30d&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`)
  const chart = page.locator('[data-testid=chart][data-indicator=vn_aqi_daily]')
  await expect.poll(() => chart.getAttribute('data-range'), { timeout: 10_000 }).toBe('custom')
  expect(Number(await chart.getAttribute('data-x-from'))).toBe(from)
  expect(Number(await chart.getAttribute('data-x-to'))).toBe(to)
  // The window is [from, to): days 10 to 19.
  expect(await chart.getAttribute('data-points')).toBe('10')
  expect(await page.locator('[data-testid=custom-from]').inputValue()).toBe(new Date(from + 7 * 3_600_000).toISOString().slice(0, 16))
  await page.locator('[data-testid=chart-reset]').click()
  await expect.poll(() => chart.getAttribute('data-range'), { timeout: 10_000 }).toBe('30d')
  await expect.poll(() => chart.getAttribute('data-points'), { timeout: 10_000 }).toBe('30')
  expect(Number(await chart.getAttribute('data-x-to')) - Number(await chart.getAttribute('data-x-from'))).toBe(30 * DAY)
  // Typed in: the last five days.
  const local = (ms: number) => new Date(ms + 7 * 3_600_000).toISOString().slice(0, 16)
  await page.locator('[data-testid=custom-from]').fill(local(first + 25 * DAY))
  await page.locator('[data-testid=custom-to]').fill(local(first + 29 * DAY + 3_600_000))
  await page.locator('[data-testid=custom-apply]').click()
  await expect.poll(() => chart.getAttribute('data-points'), { timeout: 10_000 }).toBe('5')
  expect(page.url()).toContain('&from=')
  expect(page.errors).toEqual([])
  await page.context().close()
})

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium, loggedInConsole, waitFor } from '../../test/support.ts'

// The console's charts in Debian's chromium against the real service and PostgreSQL
// (issue 18, "charts that tell the truth"): a large value not clipped by the y axis, states
// as step charts with their labels, a percentage within 0-100, an empty range that says so
// and keeps the range's axis, the 24-hour axis being 24 hours, an alarm threshold drawn, a
// custom range, a zoom by dragging and back, the legend, and several metrics (and devices)
// on one chart. The charts expose what they draw on data-* attributes (chart.ts), so
// nothing here reads pixels. Serves dashboards/dist as built by `node dashboards/build.mjs`.

const SCREENSHOTS = join(import.meta.dirname, '../../results/screenshots')
const PASSWORD = 'viewer-password-003'
const LAMP = 'lamp-c1'
const LAMP2 = 'lamp-c2'
const AIR = 'aq-c1'
const MINUTE = 60_000

let t: TestService
let browser: Browser
let base: string
/** The readings' times: every minute of the last 50 minutes. */
let times: number[] = []

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true })
  t = await startTestService({
    devices: [
      { id: LAMP, domain: 'lighting', metadata: { circuit: 'Bạch Đằng' } },
      { id: LAMP2, domain: 'lighting', metadata: { circuit: 'Bạch Đằng' } },
      { id: AIR, domain: 'environment', metadata: { district: 'Hải Châu' } },
    ],
    users: [{ name: 'viewer', password: PASSWORD, role: 'viewer' }],
    config: {
      processors: {
        alarms: { rules: [{ id: 'pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 50, clearBelow: 40, severity: 'major' }] },
      },
    },
  })
  base = t.httpUrl
  const now = Date.now()
  times = Array.from({ length: 50 }, (_, i) => now - (50 - i) * MINUTE)
  const publish = async (device: string, domain: string, readings: { ts: number; values: Record<string, number | boolean> }[]) => {
    const client = await t.connect(device)
    await client.publishAsync(`telemetry/${domain}/${device}`, JSON.stringify(readings), { qos: 1 })
    await client.endAsync()
  }
  // The energy meter reads 1,016.000-1,016.049 kWh; the lamp switches every 10 minutes, never faults, at full output.
  await publish(LAMP, 'lighting', times.map((ts, i) => ({ ts, values: { energy: 1016 + i / 1000, lamp_on: Math.floor(i / 10) % 2 === 1, lamp_fault: false, dim_level: 100, power: 150 } })))
  await publish(LAMP2, 'lighting', times.map((ts, i) => ({ ts, values: { dim_level: i < 25 ? 50 : 80, lamp_on: true } })))
  await publish(AIR, 'environment', times.map((ts, i) => ({ ts, values: { pm25: 20 + (i % 20) } })))
  await waitFor(async () => (await t.db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE metric IN ('energy', 'pm25')`)).rows[0].n === 100, 20_000, 'the readings stored')
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

const loggedIn = (locale = 'en-GB') => loggedInConsole(browser, base, 'viewer', PASSWORD, locale)

/** A device page on a range; returns the chart of `metric` once it has drawn that range. */
async function chartOn(page: Page, device: string, metric: string, range: '1h' | '24h' | '7d' | 'live'): Promise<Locator> {
  await page.goto(`${base}/#/devices/${device}`)
  const chart = page.locator(`[data-testid=chart][data-metric=${metric}]:not([data-combined])`)
  await chart.waitFor()
  await page.locator(`[data-testid=range-${range}]`).click()
  await expect.poll(() => chart.getAttribute('data-range'), { timeout: 10_000 }).toBe(range)
  await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(0)
  return chart
}

const attr = async (chart: Locator, name: string): Promise<string> => (await chart.getAttribute(name)) ?? ''

test('a large value is not clipped: the y axis is as wide as its labels (1,016.0xx kWh), and the legend gives metric, unit and value', async () => {
  const page = await loggedIn()
  const chart = await chartOn(page, LAMP, 'energy', '1h')
  const labels = (await attr(chart, 'data-y-labels')).split('|').filter(Boolean)
  expect(labels.length).toBeGreaterThan(1)
  for (const label of labels) expect(label).toMatch(/^1,01[56]\.\d{2,3}$/)
  // The axis holds its widest label, with the ticks beside it (it was 56 px, so "1,016.004" lost its first digits).
  expect(Number(await attr(chart, 'data-y-axis-width'))).toBeGreaterThanOrEqual(Number(await attr(chart, 'data-y-label-width')) + 10)
  expect(Number(await attr(chart, 'data-y-label-width'))).toBeGreaterThan(40)
  const legend = chart.locator('[data-testid=chart-legend-item][data-metric=energy]')
  // With the decimals its axis tells apart (the latest-value tile rounds to 1,016 kWh).
  expect(await legend.textContent()).toBe('energy (kWh) 1,016.049 kWh')
  expect(await chart.locator('[data-testid=chart-legend-time]').textContent()).toMatch(/^latest · \d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2}$/)
  // Hovering shows the value and time under the cursor, in the user's locale.
  const plot = chart.locator('.u-over')
  const box = (await plot.boundingBox())!
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2)
  await expect.poll(() => chart.locator('[data-testid=chart-legend-time]').getAttribute('data-hover')).toBe('true')
  expect(await chart.locator('[data-testid=chart-legend-time]').textContent()).toMatch(/^\d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2}$/)
  expect(await chart.locator('[data-testid=chart-resolution]').textContent()).toBe('raw readings')
  await page.screenshot({ path: join(SCREENSHOTS, 'charts-lamp.png'), fullPage: true })
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('states are step charts labelled Off/On and OK/Fault on 0-1; a percentage stays within 0-100; units as people write them', async () => {
  const page = await loggedIn()
  const on = await chartOn(page, LAMP, 'lamp_on', '1h')
  expect(await attr(on, 'data-kind')).toBe('state')
  expect(await attr(on, 'data-paths')).toBe('step')
  expect(await attr(on, 'data-y-labels')).toBe('Off|On')
  expect([await attr(on, 'data-y-min'), await attr(on, 'data-y-max')]).toEqual(['-0.1', '1.1'])
  const fault = page.locator('[data-testid=chart][data-metric=lamp_fault]')
  await expect.poll(() => attr(fault, 'data-y-labels')).toBe('OK|Fault')
  await expect.poll(() => fault.locator('[data-testid=chart-legend-value]').textContent()).toBe('OK')
  const dim = page.locator('[data-testid=chart][data-metric=dim_level]')
  await expect.poll(() => attr(dim, 'data-range')).toBe('1h')
  expect(await attr(dim, 'data-kind')).toBe('percent')
  expect(Number(await attr(dim, 'data-y-max'))).toBe(100)
  expect(Number(await attr(dim, 'data-y-min'))).toBeGreaterThanOrEqual(0)
  // The latest values say On/OK for states too.
  expect(await page.locator('[data-testid=latest][data-metric=lamp_fault]').textContent()).toBe('OK')

  await page.goto(`${base}/#/devices/${AIR}`)
  const pm25 = page.locator('[data-testid=chart][data-metric=pm25]')
  // The unit is written with the first drawing.
  await expect.poll(() => pm25.locator('figcaption').textContent()).toContain('PM2.5 (µg/m³)')
  // Metric names as people say them, the data's name as the tooltip (and in Vietnamese below).
  expect(await page.locator('.latest-name[title=pm25]').textContent()).toBe('PM2.5')
  expect(page.errors).toEqual([])
  await page.context().close()

  const vi = await loggedIn('vi-VN')
  await vi.goto(`${base}/#/devices/${AIR}`)
  await expect.poll(() => vi.locator('[data-testid=chart][data-metric=pm25] figcaption').textContent()).toContain('Bụi mịn PM2.5 (µg/m³)')
  expect(await vi.locator('.latest-name[title=pm25]').textContent()).toBe('Bụi mịn PM2.5')
  expect(vi.errors).toEqual([])
  await vi.context().close()
})

test('an empty range says "No data in this range" and keeps its axis; 24 h is now-24 h .. now, not the data\'s span', async () => {
  const page = await loggedIn()
  const chart = await chartOn(page, AIR, 'pm25', '24h')
  const from = Number(await attr(chart, 'data-x-from'))
  const to = Number(await attr(chart, 'data-x-to'))
  expect(to - from).toBe(86_400_000)
  expect(Math.abs(to - Date.now())).toBeLessThan(60_000)
  expect(from).toBeLessThan(times[0]! - 23 * 3_600_000)
  expect(await attr(chart, 'data-empty')).toBe('false')
  expect(await chart.locator('[data-testid=chart-empty]').isVisible()).toBe(false)

  // 1-2 January 2026 (Da Nang time): nothing stored then.
  await page.locator('[data-testid=custom-from]').fill('2026-01-01T00:00')
  await page.locator('[data-testid=custom-to]').fill('2026-01-02T00:00')
  await page.locator('[data-testid=custom-apply]').click()
  await expect.poll(() => attr(chart, 'data-range')).toBe('custom')
  await expect.poll(() => attr(chart, 'data-empty')).toBe('true')
  expect(await chart.locator('[data-testid=chart-empty]').textContent()).toBe('No data in this range')
  expect(await chart.locator('[data-testid=chart-empty]').isVisible()).toBe(true)
  expect(Number(await attr(chart, 'data-x-from'))).toBe(Date.parse('2026-01-01T00:00:00+07:00'))
  expect(Number(await attr(chart, 'data-x-to'))).toBe(Date.parse('2026-01-02T00:00:00+07:00'))
  expect(await attr(chart, 'data-resolution')).toBe('1m')
  expect(page.errors).toEqual([])
  await page.context().close()

  const vi = await loggedIn('vi-VN')
  await vi.goto(`${base}/#/devices/${AIR}`)
  await vi.locator('[data-testid=chart][data-metric=pm25]').waitFor()
  await vi.locator('[data-testid=custom-from]').fill('2026-01-01T00:00')
  await vi.locator('[data-testid=custom-to]').fill('2026-01-02T00:00')
  await vi.locator('[data-testid=custom-apply]').click()
  const viChart = vi.locator('[data-testid=chart][data-metric=pm25]')
  await expect.poll(() => attr(viChart, 'data-empty')).toBe('true')
  expect(await viChart.locator('[data-testid=chart-empty]').textContent()).toBe('Không có dữ liệu trong khoảng thời gian này')
  await vi.context().close()
})

test('the alarm threshold of the device\'s rule is drawn on its metric\'s chart, and named in the legend', async () => {
  const page = await loggedIn()
  const chart = await chartOn(page, AIR, 'pm25', '1h')
  await expect.poll(() => attr(chart, 'data-thresholds')).toBe('50')
  // The axis reaches the threshold though the readings stay below 40.
  expect(Number(await attr(chart, 'data-y-max'))).toBeGreaterThanOrEqual(50)
  const item = chart.locator('[data-testid=chart-threshold]')
  expect(await item.getAttribute('data-rule')).toBe('pm25-high')
  expect(await item.textContent()).toBe('pm25-high: alarm above 50 µg/m³')
  await page.screenshot({ path: join(SCREENSHOTS, 'charts-threshold.png'), fullPage: true })
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('a custom range from the from/to inputs; a drag across a chart zooms every chart in; Back and Reset return', async () => {
  const page = await loggedIn()
  const chart = await chartOn(page, AIR, 'pm25', '1h')
  // Minutes 10 to 30 of the 50, typed as Da Nang time.
  const local = (ms: number) => new Date(ms + 7 * 3_600_000).toISOString().slice(0, 16)
  const from = Math.ceil(times[10]! / MINUTE) * MINUTE
  const to = Math.floor(times[30]! / MINUTE) * MINUTE
  await page.locator('[data-testid=custom-from]').fill(local(from))
  await page.locator('[data-testid=custom-to]').fill(local(to))
  await page.locator('[data-testid=custom-apply]').click()
  await expect.poll(() => attr(chart, 'data-range')).toBe('custom')
  expect(Number(await attr(chart, 'data-x-from'))).toBe(from)
  expect(Number(await attr(chart, 'data-x-to'))).toBe(to)
  expect(Number(await attr(chart, 'data-points'))).toBe(times.filter((ts) => ts >= from && ts < to).length)
  expect(await page.locator('[data-testid=range-custom]').getAttribute('aria-pressed')).toBe('true')

  // Drag across the middle half of the plot: the window narrows to about half, on every chart of the page.
  const plot = chart.locator('.u-over')
  const box = (await plot.boundingBox())!
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2)
  await page.mouse.down()
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 })
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 })
  await page.mouse.up()
  await expect.poll(async () => Number(await attr(chart, 'data-x-from'))).toBeGreaterThan(from)
  const zoomed = Number(await attr(chart, 'data-x-to')) - Number(await attr(chart, 'data-x-from'))
  expect(zoomed / (to - from)).toBeGreaterThan(0.4)
  expect(zoomed / (to - from)).toBeLessThan(0.6)
  expect(await attr(page.locator('[data-testid=charts]'), 'data-range')).toBe('custom')

  await page.locator('[data-testid=chart-back]').click()
  await expect.poll(async () => Number(await attr(chart, 'data-x-from'))).toBe(from)
  await page.locator('[data-testid=chart-back]').click()
  await expect.poll(() => attr(chart, 'data-range')).toBe('1h')
  expect(await page.locator('[data-testid=chart-back]').isVisible()).toBe(false)
  // A wrong custom range is refused with a reason.
  await page.locator('[data-testid=custom-from]').fill(local(to))
  await page.locator('[data-testid=custom-to]').fill(local(from))
  await page.locator('[data-testid=custom-apply]').click()
  expect(await page.locator('[data-testid=custom-error]').textContent()).toBe('The start must be before the end.')
  expect(page.errors).toEqual([])
  await page.context().close()
})

test('several metrics of one device, and one metric of two devices, on one chart', async () => {
  const page = await loggedIn()
  await chartOn(page, LAMP, 'dim_level', '1h')
  await page.locator('[data-testid=combine-metric][data-metric=dim_level]').check()
  await page.locator('[data-testid=combine-metric][data-metric=lamp_on]').check()
  await page.locator('[data-testid=combine-apply]').click()
  const combined = page.locator('[data-testid=chart][data-combined]')
  await expect.poll(() => attr(combined, 'data-series')).toBe('dim_level,lamp_on')
  await expect.poll(async () => Number(await attr(combined, 'data-points'))).toBe(100)
  expect(await combined.locator('[data-testid=chart-legend-item]').allTextContents()).toEqual(['dim_level (%) 100 %', 'lamp_on Off'])

  await page.locator('[data-testid=combine-metric][data-metric=lamp_on]').uncheck()
  await page.locator('[data-testid=combine-device]').fill(LAMP2)
  await page.locator('[data-testid=combine-apply]').click()
  await expect.poll(() => attr(combined, 'data-series')).toBe(`${LAMP}: dim_level,${LAMP2}: dim_level`)
  await expect.poll(async () => Number(await attr(combined, 'data-points'))).toBe(100)
  expect(await combined.locator('[data-testid=chart-legend-value]').allTextContents()).toEqual(['100 %', '80 %'])
  await page.screenshot({ path: join(SCREENSHOTS, 'charts-combined.png'), fullPage: true })
  await page.locator('[data-testid=combine-clear]').click()
  expect(await combined.count()).toBe(0)
  expect(page.errors).toEqual([])
  await page.context().close()
})

import { readFileSync } from 'node:fs'
import { buildWebApp } from '@gridline/dashboards'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// The console's download buttons in a real Chromium against the running service:
// the device page's charts and the alarm history download what the export API streams,
// and a district's tile on the overview opens yesterday's printable report.

let t: TestService
let browser: Browser
let cookie: string

beforeAll(async () => {
  await buildWebApp()
  t = await startTestService({ devices: [{ id: 'aq-dl', domain: 'environment', metadata: { district: 'Hải Châu' } }], users: [{ name: 'vic', role: 'viewer' }] })
  cookie = await t.login('vic')
  const now = Date.now()
  await t.db.pool.query(`INSERT INTO telemetry (time, device_id, metric, value, received_at) VALUES ($1, 'aq-dl', 'pm25', 12.5, $1), ($2, 'aq-dl', 'pm25', 13.5, $2)`, [new Date(now - 20 * 60_000), new Date(now - 10 * 60_000)])
  await t.db.pool.query(`INSERT INTO alarms (id, rule_id, subject, severity, state, message, raised_at, device_id) VALUES ('00000000-0000-4000-8000-0000000000d1', 'pm25-high', 'aq-dl', 'minor', 'raised', 'PM2.5 high', $1, 'aq-dl')`, [new Date(now - 60_000)])
  await t.db.pool.query(`INSERT INTO alarm_events (event_id, alarm_id, rule_id, subject, severity, transition, time, value, message) VALUES ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-0000000000d1', 'pm25-high', 'aq-dl', 'minor', 'raised', $1, 101, 'PM2.5 high')`, [new Date(now - 60_000)])
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

async function download(hash: string, testId: string): Promise<{ name: string; text: string }> {
  const context = await browser.newContext({ acceptDownloads: true })
  try {
    const [name, value] = cookie.split('=') as [string, string]
    await context.addCookies([{ name, value, url: t.httpUrl }])
    const page = await context.newPage()
    await page.goto(`${t.httpUrl}/${hash}`)
    const link = page.locator(`[data-testid=${testId}]`)
    await link.waitFor()
    const [file] = await Promise.all([page.waitForEvent('download'), link.click()])
    return { name: file.suggestedFilename(), text: readFileSync((await file.path())!, 'utf8') }
  } finally {
    await context.close()
  }
}

test('the device page downloads the chart range\'s readings as CSV', async () => {
  const { name, text } = await download('#/devices/aq-dl', 'export-readings')
  expect(name).toMatch(/^readings-aq-dl-\d{8}-\d{6}-\d{8}-\d{6}\.csv$/)
  const lines = text.trimEnd().split('\r\n')
  expect(lines[0]).toBe('time,device_id,metric,value,quality,flags,seq,received_at')
  expect(lines.slice(1).map((l) => l.split(',')[3])).toEqual(['12.5', '13.5'])
}, 60_000)

test('the alarm history downloads as CSV', async () => {
  const { name, text } = await download('#/alarms?tab=history', 'export-alarms')
  expect(name).toMatch(/^alarms-all-.*\.csv$/)
  const lines = text.trimEnd().split('\r\n')
  expect(lines).toHaveLength(2)
  expect(lines[1]).toContain(',pm25-high,aq-dl,aq-dl,minor,raised,101,,,PM2.5 high')
}, 60_000)

test('the overview\'s district tile links to yesterday\'s printable report', async () => {
  // The overview shows a district once one of its sensors has reported.
  const sensor = await t.connect('aq-dl')
  await sensor.publishAsync('telemetry/environment/aq-dl', JSON.stringify({ values: { pm25: 14 } }), { qos: 1 })
  const context = await browser.newContext()
  try {
    const [name, value] = cookie.split('=') as [string, string]
    await context.addCookies([{ name, value, url: t.httpUrl }])
    const page = await context.newPage()
    await page.goto(`${t.httpUrl}/#/`)
    const link = page.locator('[data-testid=aqi-district][data-district="Hải Châu"] [data-testid=aqi-report]')
    await link.waitFor()
    const yesterday = new Date(Date.now() + 7 * 3_600_000 - 86_400_000).toISOString().slice(0, 10)
    expect(await link.getAttribute('href')).toBe(`/api/reports/air-quality?district=H%E1%BA%A3i+Ch%C3%A2u&date=${yesterday}`)
    const [report] = await Promise.all([context.waitForEvent('page'), link.click()])
    await report.waitForLoadState()
    expect(await report.textContent('#report-district')).toBe('Hải Châu')
  } finally {
    await context.close()
  }
}, 60_000)

import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { launchChromium } from '../../test/support.ts'

// The admin page's CSV import (docs/dashboards.md#importing-devices-from-csv) in Chromium:
// a spreadsheet's file with good rows, rows the page refuses and rows the service refuses;
// the good ones are registered with their metadata, the rest listed by line, and the
// passwords downloaded once work for mosquitto_pub. Serves dashboards/dist as built by npm ci.

const run = promisify(execFile)
const PASSWORD = 'admin-password-import-1'
let t: TestService
let browser: Browser

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'lamp-old', domain: 'lighting', metadata: {} }],
    users: [{ name: 'ada', password: PASSWORD, role: 'admin' }],
  })
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

test('good rows are registered with their metadata, bad ones listed by line, and the passwords downloaded once work', async () => {
  const csv = [
    'id,domain,latitude,longitude,district,ratedPowerW,circuit',
    'lamp-hc-1,lighting,16.0544,108.2022,Hải Châu,120,"c-1, Bạch Đằng"',
    'aq-st-1,environment,16.08,108.24,Sơn Trà,,',
    'wm-cl-1,water,16.01,108.2,Cẩm Lệ,,',
    ',lighting,16,108,,,',
    'sw-1,sewage,16,108,,,',
    'lamp-old,lighting,16,108,,,',
    'aq-st-1,environment,,,,,',
  ].join('\r\n')
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 1000 }, acceptDownloads: true })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${t.httpUrl}/#/admin`)
  await page.locator('#login-username').fill('ada')
  await page.locator('#login-password').fill(PASSWORD)
  await page.locator('#login-submit').click()
  await page.locator('#import-file').setInputFiles({ name: 'devices.csv', mimeType: 'text/csv', buffer: Buffer.from(`\uFEFF${csv}`, 'utf8') })
  await expect.poll(() => page.locator('#import-text').inputValue()).toContain('lamp-hc-1')
  await page.locator('[data-testid=import-run]').click()
  await expect.poll(() => page.locator('[data-testid=import-status]').textContent()).toBe('Registered 3 devices; 4 refused.')
  const problems = await page.locator('[data-testid=import-problems] li').allTextContents()
  expect(problems).toHaveLength(4)
  expect(problems[0]).toBe('Line 5: no id')
  expect(problems[1]).toMatch(/^Line 6: sw-1: .*sewage/)
  expect(problems[2]).toMatch(/^Line 7: lamp-old: .*(exists|already)/i)
  expect(problems[3]).toBe('Line 8: aq-st-1: already on an earlier line')

  const lamp = await t.devices.get('lamp-hc-1')
  expect(lamp).toMatchObject({ domain: 'lighting', metadata: { latitude: 16.0544, longitude: 108.2022, district: 'Hải Châu', ratedPowerW: 120, circuit: 'c-1, Bạch Đằng' } })
  expect((await t.devices.get('aq-st-1'))?.metadata).toEqual({ latitude: 16.08, longitude: 108.24, district: 'Sơn Trà' })
  expect(await t.devices.get('sw-1')).toBeUndefined()

  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=import-credentials]').click()])
  expect(download.suggestedFilename()).toBe('gridline-device-credentials.csv')
  const lines = (await readFile((await download.path())!, 'utf8')).trim().split('\r\n')
  expect(lines[0]).toBe('id,domain,password')
  const credentials = new Map(lines.slice(1).map((l) => { const [id, domain, password] = l.split(','); return [id!, { domain: domain!, password: password! }] }))
  expect([...credentials.keys()].sort()).toEqual(['aq-st-1', 'lamp-hc-1', 'wm-cl-1'])
  // The downloaded password is the device's: a client gridline did not write publishes with it.
  const { domain, password } = credentials.get('wm-cl-1')!
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(t.mqttPort), '-u', 'wm-cl-1', '-P', password, '-q', '1', '-t', `telemetry/${domain}/wm-cl-1`, '-m', JSON.stringify({ ts: Date.now(), values: { pressure: 2.4 } })], { timeout: 10_000 })
  await expect.poll(async () => Number((await t.db.pool.query<{ n: string }>("SELECT count(*) AS n FROM telemetry WHERE device_id = 'wm-cl-1'")).rows[0]!.n)).toBe(1)
  await expect(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(t.mqttPort), '-u', 'wm-cl-1', '-P', `${password}x`, '-q', '1', '-t', 'telemetry/water/wm-cl-1', '-m', '{}'], { timeout: 10_000 })).rejects.toThrow()
  expect(errors).toEqual([])
  await context.close()
}, 120_000)

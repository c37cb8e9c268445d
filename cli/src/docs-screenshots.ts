// Refreshes the screenshots of docs/images that show the console's charts:
//   npx tsx cli/src/docs-screenshots.ts
// A test service (the test kit, PostgreSQL on 127.0.0.1:5432 or GRIDLINE_TEST_ADMIN_URL,
// else the embedded one the tests use under data/test-pg) with an hour of a street light's
// and an air sensor's readings, each device page on its 1-hour charts in Debian's chromium.
// The page is the committed web app (HEAD's dashboards/web, built under data/), not the
// checkout's: others' unfinished work stays out of the docs. Look at the images before
// committing them.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestService } from '@gridline/ingest/testing'
import { launchChromium, scriptPostgres } from '../../test/support.ts'

const ROOT = join(import.meta.dirname, '../..')
const IMAGES = join(ROOT, 'docs/images')

/** HEAD's web app built into data/docs-screenshots/dist (inside the checkout, so esbuild and uPlot resolve from its node_modules). */
async function buildCommittedWebApp(): Promise<string> {
  const work = join(ROOT, 'data/docs-screenshots')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const archive = execFileSync('git', ['archive', 'HEAD', 'dashboards/web'], { cwd: ROOT })
  execFileSync('tar', ['-x', '-C', work], { input: archive })
  const outdir = join(work, 'dist')
  const lib = await import(join(work, 'dashboards/web/build-lib.mjs')) as { buildWeb(options: { outdir: string; sourcemap: boolean }): Promise<unknown> }
  await lib.buildWeb({ outdir, sourcemap: false })
  return outdir
}
const MINUTE = 60_000
const LAMP = 'ui-lamp-00001'
const AIR = 'ui-aq-00001'
const PASSWORD = 'operator-password-02'


async function main(): Promise<void> {
  const stopDb = await scriptPostgres()
  const t = await startTestService({
    devices: [
      { id: LAMP, domain: 'lighting', metadata: { circuit: 'Nguyễn Văn Linh', district: 'Hải Châu', roadSegment: 'Nguyễn Văn Linh' } },
      { id: AIR, domain: 'environment', metadata: { district: 'Hải Châu' } },
    ],
    users: [{ name: 'operator', password: PASSWORD, role: 'operator' }],
    config: {
      processors: {
        alarms: {
          rules: [
            { id: 'pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 50, clearBelow: 40, severity: 'major' },
            { id: 'lamp-fault', type: 'threshold', metric: 'lamp_fault', domains: ['lighting'], raiseAbove: 0.5, clearBelow: 0.5, severity: 'major' },
          ],
        },
      },
    },
  })
  try {
    const now = Date.now()
    const minutes = Array.from({ length: 60 }, (_, i) => now - (60 - i) * MINUTE)
    const wave = (i: number, period: number) => Math.sin((2 * Math.PI * i) / period)
    const lamp = minutes.map((ts, i) => {
      // Off for 20 minutes, on at full output, dimmed to 50 % after 40.
      const on = i >= 20
      const dim = !on ? 0 : i < 40 ? 100 : 50
      return { ts, values: { lamp_on: on, dim_level: dim, power: on ? Math.round(1.5 * dim + wave(i, 7)) : 0, energy: 1016 + Math.max(0, i - 20) * 0.0021, voltage: 229 + 2 * wave(i, 11), lamp_fault: false } }
    })
    const air = minutes.map((ts, i) => ({ ts, values: { pm25: Math.round(38 + 16 * wave(i, 40) + 2 * wave(i, 5)), pm10: Math.round(62 + 12 * wave(i, 40)), humidity: Math.round(78 + 3 * wave(i, 60)), temperature: Number((26.2 + 0.6 * wave(i, 60)).toFixed(1)), noise: Math.round(66 + 3 * wave(i, 9)), rainfall: i > 45 ? 2 : 0 } }))
    for (const [device, domain, readings] of [[LAMP, 'lighting', lamp], [AIR, 'environment', air]] as const) {
      const client = await t.connect(device)
      await client.publishAsync(`telemetry/${domain}/${device}`, JSON.stringify(readings), { qos: 1 })
      await client.endAsync()
    }
    const deadline = Date.now() + 20_000
    while ((await t.db.pool.query(`SELECT count(*)::int AS n FROM telemetry WHERE metric IN ('energy', 'pm25')`)).rows[0].n < 120 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))

    const web = await buildCommittedWebApp()
    const browser = await launchChromium()
    try {
      const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 900 } })
      const page = await context.newPage()
      for (const [file, type] of [['app.js', 'text/javascript'], ['app.css', 'text/css']] as const) {
        await page.route(new RegExp(`/${file.replace('.', '\\.')}(\\?|$)`), (route) => route.fulfill({ status: 200, contentType: type, body: readFileSync(join(web, file)) }))
      }
      await page.goto(`${t.httpUrl}/`)
      await page.locator('#login-username').fill('operator')
      await page.locator('#login-password').fill(PASSWORD)
      await page.locator('#login-submit').click()
      await page.locator('[data-testid=user-name]').waitFor()
      for (const [device, image, metric] of [[AIR, 'console-device-chart.png', 'pm25'], [LAMP, 'console-street-light.png', 'energy']] as const) {
        await page.goto(`${t.httpUrl}/#/devices/${device}`)
        await page.locator(`[data-testid=chart][data-metric=${metric}]`).waitFor()
        await page.locator('[data-testid=range-1h]').click()
        const chart = page.locator(`[data-testid=chart][data-metric=${metric}]`)
        for (let i = 0; i < 100 && !((await chart.getAttribute('data-range')) === '1h' && Number(await chart.getAttribute('data-points')) > 0); i++) await page.waitForTimeout(100)
        await page.waitForTimeout(300)
        await page.screenshot({ path: join(IMAGES, image), fullPage: true })
        process.stdout.write(`Wrote ${join(IMAGES, image)}.\n`)
      }
      await context.close()
    } finally {
      await browser.close()
    }
  } finally {
    await t.stop()
    await stopDb()
  }
}

await main()

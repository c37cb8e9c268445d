// Refreshes docs/images/console-map.png, the console's city map, and
// docs/images/console-wall-vi.png, the overview in wall mode on a 1920 x 1080 screen in Vietnamese:
//   node dashboards/build.mjs && npx tsx cli/src/map-screenshot.ts
// A test service (the test kit, PostgreSQL on 127.0.0.1:5432 or GRIDLINE_TEST_ADMIN_URL,
// else the embedded one the tests use under data/test-pg) with the simulator's Da Nang fleet
// registered where it stands (firmware-sim's city.ts), most of it reporting, a few alarms
// raised, in Debian's chromium. Look at the image before committing it.
import { join } from 'node:path'
import { DEVICE_KINDS, planFleet, withCityMetadata } from '@gridline/firmware-sim'
import { startTestService } from '@gridline/ingest/testing'
import { launchChromium, scriptPostgres } from '../../test/support.ts'

const IMAGES = join(import.meta.dirname, '../../docs/images')
const PASSWORD = 'operator-password-map'


async function main(): Promise<void> {
  const stopDb = await scriptPostgres()
  const specs = withCityMetadata(planFleet({ traffic: 60, water: 50, lighting: 140, environment: 70, flood: 14 }, 'map'))
  const t = await startTestService({
    devices: specs.map((s) => ({ id: s.id, domain: DEVICE_KINDS[s.kind!].domain, metadata: s.metadata })),
    users: [{ name: 'operator', password: PASSWORD, role: 'operator' }],
  })
  try {
    // Nine in ten report (online); the rest stay offline. Three alarms, one acknowledged.
    const reporting = specs.filter((_, i) => i % 10 !== 3)
    for (const s of reporting) {
      const domain = DEVICE_KINDS[s.kind!].domain
      const client = await t.connect(s.id)
      await client.publishAsync(`telemetry/${domain}/${s.id}`, JSON.stringify({ ts: Date.now(), values: domain === 'environment' ? { pm25: 20 } : domain === 'traffic' ? { vehicle_count: 12 } : domain === 'water' ? { pressure: 2.4 } : { power: 80 } }), { qos: 1 })
      await client.endAsync()
    }
    const cookie = await t.login('operator', PASSWORD)
    const raise = async (deviceId: string, severity: string, message: string) => {
      const res = await fetch(`${t.httpUrl}/api/alarms`, { method: 'POST', headers: { cookie, origin: t.httpUrl, 'content-type': 'application/json' }, body: JSON.stringify({ ruleId: 'manual', subject: deviceId, deviceId, severity, message }) })
      return (await res.json() as { alarm: { alarmId: string } }).alarm.alarmId
    }
    await raise(specs.find((s) => s.kind === 'water_main')!.id, 'critical', 'Pressure lost')
    await raise(specs.find((s) => s.kind === 'street_light')!.id, 'major', 'Lamp failed')
    const acked = await raise(specs.find((s) => s.kind === 'air_quality')!.id, 'minor', 'PM2.5 rising')
    await fetch(`${t.httpUrl}/api/alarms/${encodeURIComponent(acked)}/ack`, { method: 'POST', headers: { cookie, origin: t.httpUrl, 'content-type': 'application/json' }, body: '{}' })

    const browser = await launchChromium()
    try {
      const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 900 } })
      const page = await context.newPage()
      await page.goto(`${t.httpUrl}/#/map`)
      await page.locator('#login-username').fill('operator')
      await page.locator('#login-password').fill(PASSWORD)
      await page.locator('#login-submit').click()
      await page.locator('[data-testid=city-map][data-ready=true]').waitFor({ timeout: 30_000 })
      await page.evaluate(() => (globalThis as unknown as { __gridlineMap: { jumpToView(c: [number, number], z: number): void } }).__gridlineMap.jumpToView([108.19, 16.035], 12.2))
      await page.waitForTimeout(2_500)
      await page.screenshot({ path: join(IMAGES, 'console-map.png') })
      process.stdout.write(`Wrote ${join(IMAGES, 'console-map.png')}.\n`)
      await context.close()

      const wall = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1920, height: 1080 } })
      const screen = await wall.newPage()
      await screen.goto(`${t.httpUrl}/#/wall?views=overview&every=3600`)
      await screen.locator('#login-username').fill('operator')
      await screen.locator('#login-password').fill(PASSWORD)
      await screen.locator('#login-submit').click()
      await screen.locator('[data-testid=wall][data-view=overview]').waitFor({ timeout: 30_000 })
      await screen.locator('[data-testid=city-map][data-ready=true]').waitFor({ timeout: 30_000 })
      await screen.waitForTimeout(2_500)
      await screen.screenshot({ path: join(IMAGES, 'console-wall-vi.png') })
      process.stdout.write(`Wrote ${join(IMAGES, 'console-wall-vi.png')}.\n`)
      await wall.close()
    } finally {
      await browser.close()
    }
  } finally {
    await t.stop()
    await stopDb()
  }
}

await main()

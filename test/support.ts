import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, type Logger } from '@gridline/core'
import { testAdminUrl } from '@gridline/ingest/testing'
import pg from 'pg'

// The database helpers are the test kit's (`@gridline/ingest/testing`), one copy for tests and harnesses.
export { type TestDatabase, createTestDatabase, createMigratedTestDatabase, testDataDir, testIngestConfig } from '@gridline/ingest/testing'

/** A logger that drops everything (tests assert on behaviour and metrics, not log lines). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' })
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`)
}

/**
 * Polls `read` until `done` says its value is the one awaited, or `timeoutMs`
 * passes; returns the last value either way, so the test's expect shows what
 * was there instead of a timeout.
 */
export async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (done(v) || Date.now() > deadline) return v
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * A folder of the recorded data sets (`../shared/datasets`, never copied into
 * the repository): GRIDLINE_DATASETS, else next to the checkout, else the
 * workplace's copy. Missing data fails the test rather than skipping it.
 */
export function datasetPath(name: string): string {
  const candidates = [
    process.env.GRIDLINE_DATASETS,
    fileURLToPath(new URL('../../shared/datasets', import.meta.url)),
    '/work/shared/datasets',
  ].filter((c): c is string => typeof c === 'string' && c.length > 0)
  for (const root of candidates) {
    const path = join(root, name)
    if (existsSync(path)) return path
  }
  throw new Error(`Data set ${name} not found in ${candidates.join(', ')}; set GRIDLINE_DATASETS to the datasets folder.`)
}

/** Headless Chromium for the browser tests: Debian's (/usr/bin/chromium, or CHROMIUM_PATH), without the background traffic that would reach for the network. */
export async function launchChromium(): Promise<import('playwright-core').Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // --enable-unsafe-swiftshader: WebGL (the console map) on the CPU without a GPU, which newer Chromiums no longer fall back to by themselves.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** Whether a PostgreSQL answers at `url` within 3 s. */
export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  try {
    await client.connect()
    await client.end()
    return true
  } catch {
    return false
  }
}

/**
 * For scripts outside vitest (the docs' screenshots): the test kit's PostgreSQL when it
 * answers, else an embedded one under data/test-pg, made the kit's default. Resolves with
 * how to stop what it started.
 */
export async function scriptPostgres(): Promise<() => Promise<void>> {
  if (await postgresReachable(testAdminUrl())) return async () => {}
  const { startEmbeddedPostgres } = await import('@gridline/cli/embedded-db')
  const embedded = await startEmbeddedPostgres('data/test-pg')
  process.env.GRIDLINE_TEST_ADMIN_URL = embedded.url.replace(/\/gridline$/, '/postgres')
  return embedded.stop
}

/** A console page in its own browser context, logged in as `user`; `errors` collects the page's uncaught errors. */
export async function loggedInConsole(browser: import('playwright-core').Browser, base: string, user: string, password: string, locale = 'en-GB'): Promise<import('playwright-core').Page & { errors: string[] }> {
  const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } })
  // Every action and navigation bounded below the tests' timeouts, so a stuck step names itself.
  context.setDefaultTimeout(15_000)
  const page = await context.newPage() as import('playwright-core').Page & { errors: string[] }
  page.errors = []
  page.on('pageerror', (err) => page.errors.push(err.message))
  await page.goto(`${base}/`)
  await page.locator('#login-username').fill(user)
  await page.locator('#login-password').fill(password)
  await page.locator('#login-submit').click()
  await page.locator('[data-testid=user-name]', { hasText: user }).waitFor({ timeout: 10_000 })
  return page
}

import { createServer, type Server } from 'node:http'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { extname, isAbsolute, join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildWeb } from '../web/build-lib.mjs'
import { webRoot } from './index.ts'

// Builds the app into a temporary folder (dist/ may be in use by a running service)
// and opens it in a real chromium, against a server that answers every API call 401:
// the app must come up on its login page without a script error.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' }

let outdir: string
let server: Server
let base: string
let browser: Browser
let built: { jsBytes: number; cssBytes: number }

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'gridline-web-'))
  built = await buildWeb({ outdir })
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path.startsWith('/api/')) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: path === '/api/login' ? 'GRIDLINE_LOGIN_FAILED' : 'GRIDLINE_UNAUTHENTICATED', message: 'No session.' } }))
      return
    }
    const file = path === '/' ? 'index.html' : path.slice(1)
    readFile(join(outdir, file)).then(
      (data) => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
        res.end(data)
      },
      () => {
        res.writeHead(404)
        res.end()
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
})

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  if (outdir) await rm(outdir, { recursive: true, force: true })
})

describe('the built operator web app', () => {
  test('is small: index.html, app.js under 210 KB with uPlot, app.css', async () => {
    expect(built.jsBytes).toBeGreaterThan(10_000)
    // 140 KB before issue 18's charts (custom range, zoom, combined charts, thresholds, own legend), 157 KB after (55 KB gzipped), 51 KB of it uPlot.
    // 176 KB with the map page; 185 KB with the alarm tools (selection and bulk acknowledgement, shelving, the alarm sound: 9.3 KB, half of it strings in two languages).
    // 195 KB with wall mode and the CSV import; 200.5 KB with the device page's metadata editor (2.5 KB).
    // Next past this budget: load the admin-only pages with import() (esbuild splitting) rather than raise it again.
    expect(built.jsBytes).toBeLessThan(210 * 1024)
    expect(built.cssBytes).toBeGreaterThan(1_000)
    for (const file of ['index.html', 'app.js', 'app.css']) expect((await stat(join(outdir, file))).size).toBeGreaterThan(0)
    const html = await readFile(join(outdir, 'index.html'), 'utf8')
    expect(html).toMatch(/src="\.\/app\.js\?v=[0-9a-f]{12}"/)
    expect(html).not.toMatch(/https?:\/\//) // no CDN, no external font
  })

  test('webRoot is the absolute dist/ folder', () => {
    expect(isAbsolute(webRoot)).toBe(true)
    expect(webRoot.replace(/\/$/, '').endsWith(join('dashboards', 'dist'))).toBe(true)
  })

  test.each([
    ['vi-VN', 'vi', 'Đăng nhập'],
    ['en-US', 'en', 'Sign in'],
  ])('opens on the login page in the browser language (%s) without script errors', async (locale, lang, submitText) => {
    const context = await browser.newContext({ locale })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    try {
      await page.goto(`${base}#/overview`)
      await page.waitForSelector('#login-username')
      expect(page.url()).toMatch(/#\/login$/)
      expect(await page.getAttribute('html', 'lang')).toBe(lang)
      expect((await page.textContent('#login-submit'))?.trim()).toBe(submitText)

      await page.fill('#login-username', 'nobody')
      await page.fill('#login-password', 'wrong-password')
      await page.click('#login-submit')
      const error = page.locator('[data-testid=login-error]')
      await error.waitFor({ state: 'visible' })
      expect((await error.textContent())?.length).toBeGreaterThan(5)

      // The language choice switches the page and is remembered.
      const other = lang === 'vi' ? 'en' : 'vi'
      await page.click(`[data-testid=lang-${other}]`)
      // A string: this file is typechecked without the DOM lib.
      await page.waitForFunction(`document.documentElement.lang === '${other}'`)
      await page.reload()
      await page.waitForSelector('#login-username')
      expect(await page.getAttribute('html', 'lang')).toBe(other)
      expect(errors).toEqual([])
    } finally {
      await context.close()
    }
  })
})

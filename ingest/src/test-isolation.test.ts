import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { testDataDir, testIngestConfig } from '@gridline/ingest/testing'

// `npm test` once failed after a flow was deployed in the demo: the tests'
// services used the default console.dataDir, the checkout's data/ folder,
// and so `npm start`'s Node-RED flows. Tests keep to temporary folders.

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const repoData = join(repo, 'data')

function inside(dir: string, parent: string): boolean {
  const rel = relative(parent, resolve(dir))
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep))
}

test('the test helpers never resolve to the checkout\'s data/ folder', () => {
  expect(inside(testDataDir(), repoData)).toBe(false)
  expect(inside(testDataDir(), repo)).toBe(false)
  const config = testIngestConfig({ database: { url: 'postgres://x/y' } })
  expect(inside(config.console.dataDir, repo)).toBe(false)
  expect(testIngestConfig().console.dataDir).not.toBe(testIngestConfig().console.dataDir)
  // A test that names its own folder keeps it; the other console settings pass through.
  expect(testIngestConfig({ console: { dataDir: '/tmp/mine', staleAfterSeconds: 7 } }).console).toMatchObject({ dataDir: '/tmp/mine', staleAfterSeconds: 7 })
})

/** Every test file and test harness (`.test.ts`, or under a `testing/` folder), with its text. */
function testSources(): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'data' || name.startsWith('.')) continue
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.ts$/.test(name) && (/\.test\.ts$/.test(name) || path.includes(`${sep}testing${sep}`))) found.push({ path: relative(repo, path), text: readFileSync(path, 'utf8') })
    }
  }
  for (const ws of readdirSync(repo)) {
    const src = join(repo, ws, 'src')
    if (ws !== 'node_modules' && statSync(join(repo, ws)).isDirectory() && safeIsDir(src)) walk(src)
  }
  return found
}

function safeIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

// The test kit (@gridline/ingest/testing) is the one place a test builds a
// service: a change to how the service is assembled is made there once, and
// every test gets a fresh database, free ports and temporary folders.
test('only the test kit builds an ingest service; the integration tests start theirs through it', () => {
  const sources = testSources()
  const builders = sources.filter((f) => /buildIngestService\(/.test(f.text)).map((f) => f.path)
  expect(builders).toEqual([join('ingest', 'src', 'testing', 'index.ts')])
  const users = sources.filter((f) => /startTestService\(/.test(f.text))
  expect(users.length).toBeGreaterThan(10)
})

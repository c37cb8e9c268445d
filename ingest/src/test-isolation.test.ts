import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { testDataDir, testIngestConfig } from '../../test/support.ts'

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

/** Every test file and test harness that builds a service. */
function serviceBuilders(): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'data' || name.startsWith('.')) continue
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.ts$/.test(name) && (/\.test\.ts$/.test(name) || path.includes(`${sep}testing${sep}`))) found.push(path)
    }
  }
  for (const ws of readdirSync(repo)) {
    const src = join(repo, ws, 'src')
    if (ws !== 'node_modules' && statSync(join(repo, ws)).isDirectory() && safeIsDir(src)) walk(src)
  }
  return found.filter((f) => /buildIngestService\(/.test(readFileSync(f, 'utf8')))
}

function safeIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

test('every test that builds a service takes its config from testIngestConfig, never bare ingestConfig', () => {
  const builders = serviceBuilders()
  expect(builders.length).toBeGreaterThan(5)
  const bare = builders.filter((f) => /(?<![A-Za-z.])ingestConfig\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(repo, f))
  expect(bare).toEqual([])
})

import { join, relative, resolve, sep } from 'node:path'
import { ingestConfig } from '@gridline/ingest'
import { expect, test } from 'vitest'
import { DEMO_DATA_DIR } from './demo.ts'

function inside(dir: string, parent: string): boolean {
  const rel = relative(parent, dir)
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep))
}

// `gridline ingest` run from the checkout against another database once
// picked up the flows deployed in the demo: both used data/node-red.
test('the demo keeps its files apart from gridline ingest\'s default folder', () => {
  const ingestNodeRed = join(resolve(ingestConfig().console.dataDir), 'node-red')
  const demoDir = resolve(DEMO_DATA_DIR)
  expect(join(demoDir, 'node-red')).not.toBe(ingestNodeRed)
  expect(inside(join(demoDir, 'node-red'), ingestNodeRed)).toBe(false)
  expect(inside(ingestNodeRed, demoDir)).toBe(false)
})

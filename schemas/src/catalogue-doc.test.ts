import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import { defaultCatalogue } from './catalogue.ts'

test('docs/protocol.md lists every catalogued metric with its unit and range', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
  const missing: string[] = []
  for (const [domain, entry] of defaultCatalogue().domains) {
    for (const m of entry.metrics) {
      const row = `| ${domain} | \`${m.name}\` | ${m.unit} | ${m.min} to ${m.max} |`
      if (!doc.includes(row)) missing.push(row)
    }
  }
  expect(missing).toEqual([])
})

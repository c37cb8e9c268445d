import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { TestDatabase } from '../../../test/support.ts'
import { migratedTestDatabase } from './test-db.ts'

// Every SQL example in docs/rollups.md must run against the real schema.
const DOC = readFileSync(new URL('../../../docs/rollups.md', import.meta.url), 'utf8')
const QUERIES = [...DOC.matchAll(/```sql\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split(/;\s*\n/)).map((q) => q.trim()).filter((q) => q !== '')

let db: TestDatabase
beforeAll(async () => {
  db = await migratedTestDatabase()
})
afterAll(async () => {
  await db?.drop()
})

test('docs/rollups.md has SQL examples', () => {
  expect(QUERIES.length).toBeGreaterThanOrEqual(6)
})

test.each(QUERIES.map((q) => [q.split('\n')[0]!, q]))('%s', async (_first, query) => {
  const result = await db.pool.query(query)
  expect(Array.isArray(result.rows)).toBe(true)
})

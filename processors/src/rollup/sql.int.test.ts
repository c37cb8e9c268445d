import { afterAll, beforeAll, expect, test } from 'vitest'
import type { TestDatabase } from '../../../test/support.ts'
import { numberArrayLiteral, textArrayLiteral } from './sql.ts'
import { migratedTestDatabase } from './test-db.ts'

// The array literals gridline builds instead of node-postgres' must read back exactly in PostgreSQL.
let db: TestDatabase
const client = { query: <R>(sql: string, params: unknown[]) => db.pool.query(sql, params) as unknown as Promise<{ rows: R[] }> }
beforeAll(async () => {
  db = await migratedTestDatabase()
})
afterAll(async () => {
  await db?.drop()
})

test('text arrays: plain ids as one join; quotes, backslashes, commas, braces, spaces, empty, "null", NULL and Vietnamese read back', async () => {
  const plain = ['aq-1', 'pm2.5_x', 'Đà-Nẵng']
  expect(textArrayLiteral(plain)).toBe('{aq-1,pm2.5_x,Đà-Nẵng}')
  const tricky = ['aq-2', 'say "hi"', 'back\\slash', 'a,b', '{x}', 'Hải Châu', '', 'null', 'NULL', null, '{"dominant":"pm25","n":"a, \\"q\\"\\n"}', ' lead', 'tab\there']
  for (const values of [plain, tricky]) {
    const { rows } = await client.query<{ v: (string | null)[] }>('SELECT $1::text[] AS v', [textArrayLiteral(values)])
    expect(rows[0]!.v).toEqual(values)
  }
  expect((await client.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [textArrayLiteral([])])).rows[0]!.n).toBe(0)
})

test('number arrays: integers, fractions, exponents, negative zero, NaN and the infinities', async () => {
  const values = [0, 1, -2, 2.5, 1e-7, 1.7976931348623157e308, 5e-324, 1795834920000, -0, Number.NaN, Infinity, -Infinity]
  const { rows } = await client.query<{ v: number[] }>('SELECT $1::float8[] AS v', [numberArrayLiteral(values)])
  expect(rows[0]!.v.map(Number)).toEqual(values.map((v) => (Object.is(v, -0) ? -0 : v)))
  const ints = await client.query<{ v: number[] }>('SELECT $1::int[] AS v', [numberArrayLiteral([1, 0, -5, 2147483647])])
  expect(ints.rows[0]!.v).toEqual([1, 0, -5, 2147483647])
})

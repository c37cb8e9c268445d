import pg from 'pg'
import { expect, test } from 'vitest'
import { ingestConfig } from '../config.ts'
import { testAdminUrl } from '../testing/index.ts'
import { servicePoolConfig } from './pool.ts'

async function jitOf(jit: boolean | undefined): Promise<string> {
  const config = ingestConfig({ database: { url: testAdminUrl(), ...(jit === undefined ? {} : { jit }) } })
  const pool = new pg.Pool(servicePoolConfig(config, testAdminUrl()))
  try {
    const { rows } = await pool.query<{ jit: string }>('SHOW jit')
    return rows[0]!.jit
  } finally {
    await pool.end()
  }
}

test('the service\'s connections have JIT off by default, and the server\'s setting with database.jit', async () => {
  expect(await jitOf(undefined)).toBe('off')
  const client = new pg.Client({ connectionString: testAdminUrl() })
  await client.connect()
  const server = (await client.query<{ jit: string }>('SHOW jit')).rows[0]!.jit
  await client.end()
  expect(await jitOf(true)).toBe(server)
})

import { execFile as execFileCb } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase } from '../../test/support.ts'

// `gridline tokens` as a user runs it: the real binary against a test database.

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
let db: TestDatabase

const gridline = (args: string[]) => execFile(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url } })

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  await gridline(['devices', 'add', 'gw-telegraf', '--kind', 'gateway'])
})

afterAll(async () => {
  await db?.drop()
})

test('create prints the token once and stores only its digest; list shows no secret; revoke marks it', async () => {
  const { stdout } = await gridline(['tokens', 'create', '--for', 'gw-telegraf', '--description', 'Telegraf, Son Tra'])
  const token = /^(glt_([0-9a-f]{12})_[A-Za-z0-9_-]{32})$/m.exec(stdout)
  expect(token).not.toBeNull()
  const [, secret, id] = token!
  const { rows } = await db.pool.query<{ login: string; digest: Buffer }>('SELECT login, digest FROM api_tokens WHERE id = $1', [id])
  expect(rows[0]!.login).toBe('gw-telegraf')
  expect(rows[0]!.digest.length).toBe(32)
  expect(JSON.stringify(rows)).not.toContain(secret!.split('_')[2])
  const list = await gridline(['tokens', 'list'])
  expect(list.stdout).toContain(id)
  expect(list.stdout).toContain('Telegraf, Son Tra')
  expect(list.stdout).not.toContain(secret)
  await gridline(['tokens', 'revoke', id!])
  const listed = JSON.parse((await gridline(['tokens', 'list', '--json'])).stdout) as { id: string; revokedAt: string | null }[]
  expect(listed.find((t) => t.id === id)!.revokedAt).not.toBeNull()
})

test('a token for a login that does not exist, and revoking an unknown id, fail with a clear message', async () => {
  await expect(gridline(['tokens', 'create', '--for', 'nobody'])).rejects.toMatchObject({ stderr: expect.stringContaining('No login "nobody" is registered') })
  await expect(gridline(['tokens', 'revoke', 'ffffffffffff'])).rejects.toMatchObject({ stderr: expect.stringContaining('No live token') })
})

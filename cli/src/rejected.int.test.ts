import { execFile as execFileCb } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase } from '../../test/support.ts'

// `gridline rejected` as a user runs it: the real binary against a test database.

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
let db: TestDatabase

function gridline(args: string[]) {
  return execFile(process.execPath, [BIN, 'rejected', ...args], { env: { ...process.env, DATABASE_URL: db.url } })
}

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  const now = Date.now()
  const rows: [number, string | null, string, string, string, Buffer][] = [
    [now - 3 * 86_400_000, 'aq-1', 'telemetry/environment/aq-1', 'json_malformed', 'not JSON: Unexpected token', Buffer.from('old one')],
    [now - 120_000, 'aq-1', 'telemetry/environment/aq-1', 'value_invalid', 'pm25: expected a finite number or a boolean, got a string', Buffer.from('{"values":{"pm25":"twelve"}}')],
    [now - 60_000, 'aq-2', 'telemetry/environment/aq-1', 'topic_not_authorized', 'device "aq-2" may not publish to "telemetry/environment/aq-1"', Buffer.from('{"values":{"pm25":1}}')],
    [now - 1_000, null, 'nonsense', 'topic_invalid', 'a terminal escape \u001b[2J in the detail', Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0xff])],
  ]
  for (const [t, device, topic, reason, detail, payload] of rows) {
    await db.pool.query(`INSERT INTO rejected (received_at, client_id, device_id, topic, reason, detail, payload, payload_bytes) VALUES ($1, 'c', $2, $3, $4, $5, $6, $7)`,
      [new Date(t), device, topic, reason, detail, payload, payload.length])
  }
})

afterAll(async () => {
  await db?.drop()
})

test('lists refusals newest first with the payload as text, control characters escaped', async () => {
  const { stdout } = await gridline([])
  const lines = stdout.trimEnd().split('\n')
  expect(lines.at(-1)).toBe('4 refused.')
  expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.*Z  -\s+topic_invalid\s+nonsense$/)
  expect(lines[1]).toBe('    a terminal escape \\u001b[2J in the detail')
  expect(lines[2]).toBe('    payload (5 bytes): \\u001b[2J\uFFFD')
  expect(stdout).not.toContain('\u001b')
  expect(stdout).toContain('payload (28 bytes): {"values":{"pm25":"twelve"}}')
})

test('filters by device, reason and since; --json gives the entries', async () => {
  const byDevice = JSON.parse((await gridline(['--device', 'aq-1', '--json'])).stdout)
  expect(byDevice.map((e: any) => e.reason)).toEqual(['value_invalid', 'json_malformed'])
  expect(byDevice[0]).toMatchObject({ deviceId: 'aq-1', topic: 'telemetry/environment/aq-1', payloadText: '{"values":{"pm25":"twelve"}}', payloadBytes: 28, payloadTruncated: false })
  expect(byDevice[0].receivedAt).toMatch(/Z$/)
  expect(JSON.parse((await gridline(['--device', 'aq-1', '--since', '1h', '--json'])).stdout)).toHaveLength(1)
  expect(JSON.parse((await gridline(['--since', new Date(Date.now() - 90_000).toISOString(), '--json'])).stdout).map((e: any) => e.reason)).toEqual(['topic_invalid', 'topic_not_authorized'])
  expect(JSON.parse((await gridline(['--reason', 'topic_not_authorized', '--json'])).stdout)).toHaveLength(1)
  const limited = await gridline(['--limit', '2'])
  expect(limited.stdout.trimEnd().split('\n').at(-1)).toBe('2 refused (the newest 2; --limit for more).')
})

test('a bad --since or --limit is a usage error (exit 2) that says what is expected', async () => {
  const failure = await gridline(['--since', 'yesterday']).then(() => undefined, (err: { code: number; stderr: string }) => err)
  expect(failure?.code).toBe(2)
  expect(failure?.stderr).toContain('since: a duration back from now (30s, 15m, 2h, 7d) or an ISO 8601 time')
  const limit = await gridline(['--limit', '0']).then(() => undefined, (err: { code: number; stderr: string }) => err)
  expect(limit?.code).toBe(2)
  expect((await gridline(['--help'])).stdout).toContain('Usage: gridline rejected')
})

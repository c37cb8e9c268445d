import { execFile as execFileCb, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestDatabase, createMigratedTestDatabase } from '../../test/support.ts'

// `gridline export` as a user runs it: the real binary, a child process, against a test database.

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
const T0 = Date.parse('2026-11-30T00:00:00Z')
let db: TestDatabase
let dir: string

function gridline(args: string[]) {
  return execFile(process.execPath, [BIN, 'export', ...args], { env: { ...process.env, DATABASE_URL: db.url }, maxBuffer: 64 * 1024 * 1024 })
}
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure') }, (err: { code: number; stderr: string }) => err)

beforeAll(async () => {
  db = await createMigratedTestDatabase()
  dir = mkdtempSync(join(tmpdir(), 'gridline-export-'))
  await db.pool.query(`INSERT INTO devices (id, kind, domain, metadata) VALUES ('aq-1', 'device', 'environment', '{"district": "Hải Châu"}'), ('aq-9', 'device', 'environment', '{"district": "Sơn Trà"}')`)
  await db.pool.query(`INSERT INTO telemetry (time, device_id, metric, value, quality, received_at)
    SELECT $1::timestamptz + i * interval '1 minute', d, 'pm25', i + 0.5, 0, $1::timestamptz FROM generate_series(0, 29999) i, unnest(ARRAY['aq-1', 'aq-9']) d`, [new Date(T0)])
})

afterAll(async () => {
  await db?.drop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('readings of an area to stdout as CSV, and as JSON lines to a file', async () => {
  const { stdout } = await gridline(['readings', '--area', 'district:Hải Châu', '--from', '2026-11-30T07:00:00+07:00', '--to', '2026-11-30T07:03:00+07:00'])
  expect(stdout).toBe('time,device_id,metric,value,quality,flags,seq,received_at\r\n'
    + '2026-11-30T00:00:00.000Z,aq-1,pm25,0.5,0,0,,2026-11-30T00:00:00.000Z\r\n'
    + '2026-11-30T00:01:00.000Z,aq-1,pm25,1.5,0,0,,2026-11-30T00:00:00.000Z\r\n'
    + '2026-11-30T00:02:00.000Z,aq-1,pm25,2.5,0,0,,2026-11-30T00:00:00.000Z\r\n')
  const file = join(dir, 'out.jsonl')
  const res = await gridline(['readings', '--device', 'aq-9', '--format', 'jsonl', '--from', '2026-11-30T00:00:00Z', '--to', '2026-12-31T00:00:00Z', '--output', file])
  expect(res.stderr).toBe(`Wrote ${file}.\n`)
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  expect(lines).toHaveLength(30_000)
  expect(JSON.parse(lines.at(-1)!)).toMatchObject({ device_id: 'aq-9', value: 29999.5 })
  expect(existsSync(`${file}.partial`)).toBe(false)
})

test('a reader that stops early (head) ends the export without a hang', async () => {
  const child = spawn(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} export readings --device aq-1 --from 2026-11-30T00:00:00Z --to 2026-12-30T00:00:00Z | head -c 100`, { shell: true, env: { ...process.env, DATABASE_URL: db.url } })
  let out = ''
  child.stdout.on('data', (c) => { out += c })
  const code = await new Promise((r) => child.on('close', r))
  expect(code).toBe(0)
  expect(out).toHaveLength(100)
}, 30_000)

test('the daily air-quality report as CSV and as a self-contained HTML file', async () => {
  await db.pool.query(`INSERT INTO indicator_values (name, scope, key, time, value, level) VALUES ('vn_aqi_daily', 'district', 'Hải Châu', '2026-11-29T00:00:00+07:00', 64, 'moderate')`)
  const { stdout } = await gridline(['air-quality', '--district', 'Hải Châu', '--date', '2026-11-29'])
  expect(stdout.split('\r\n')[1]).toBe('vn_aqi_daily,Hải Châu,2026-11-29T00:00:00+07:00,,,24h,64,,moderate,')
  const file = join(dir, 'report.html')
  await gridline(['air-quality', '--district', 'Hải Châu', '--date', '2026-11-29', '--format', 'html', '--output', file])
  const html = readFileSync(file, 'utf8')
  expect(html).toContain('<link rel="stylesheet" href="data:text/css;base64,')
  expect(html).toContain('Trung bình')
})

test('bad options are usage errors (exit 2) naming the option', async () => {
  const noRange = await failure(gridline(['readings', '--device', 'aq-1']))
  expect(noRange.code).toBe(2)
  expect(noRange.stderr).toContain('--from: an ISO 8601 time with its offset is required')
  const kind = await failure(gridline(['telemetry']))
  expect(kind.code).toBe(2)
  expect(kind.stderr).toContain('Unknown export "telemetry"')
  const long = await failure(gridline(['readings', '--device', 'aq-1', '--from', '2026-01-01T00:00:00Z', '--to', '2026-06-01T00:00:00Z']))
  expect(long.stderr).toContain('--from and to: a readings export covers at most 31 days')
  expect((await gridline(['--help'])).stdout).toContain('Usage: gridline export readings|rollups|indicators|alarms')
})

import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { chromium } from 'playwright-core'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

// Exports and the daily air-quality report against the real service and PostgreSQL:
// what comes out is what was stored, a big export streams with backpressure, bad
// parameters and missing sessions are refused, formulas are defended, and the
// report page renders (and prints) in Chromium.

let t: TestService
let cookie: string
const T0 = Date.parse('2026-11-30T00:00:00Z')
const HAI_CHAU = 'Hải Châu'

/**
 * An RFC 4180 parser for the tests (no CSV parser is installed): quoted fields
 * with "" escapes, commas and line breaks inside quotes, CRLF records.
 */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue }
      if (c === '"') { quoted = false; i++; continue }
      field += c; i++; continue
    }
    if (c === '"' && field === '') { quoted = true; i++; continue }
    if (c === ',') { row.push(field); field = ''; i++; continue }
    if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 2; continue }
    if (c === '\n') throw new Error(`a bare LF outside quotes at ${i}: not RFC 4180`)
    field += c; i++
  }
  if (field !== '' || row.length) throw new Error('the last record has no CRLF')
  return rows
}

function records(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text)
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])))
}

async function get(path: string, withCookie = true): Promise<Response> {
  return await fetch(`${t.httpUrl}${path}`, { headers: withCookie ? { cookie } : {} })
}

const q = (o: Record<string, string>) => new URLSearchParams(o).toString()
const iso = (ms: number) => new Date(ms).toISOString()

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'aq-1', domain: 'environment', metadata: { district: HAI_CHAU } },
      { id: 'aq-2', domain: 'environment', metadata: { district: HAI_CHAU } },
      { id: 'aq-3', domain: 'environment', metadata: { district: 'Sơn Trà' } },
      { id: 'aq-big', domain: 'environment', metadata: { district: 'Big' } },
    ],
    users: [{ name: 'vic', role: 'viewer' }],
  })
  cookie = await t.login('vic')
  const p = t.db.pool
  // Readings: aq-1 and aq-2 in Hải Châu, aq-3 elsewhere; one metric name a spreadsheet would run.
  for (let i = 0; i < 10; i++) {
    for (const [device, value] of [['aq-1', 10 + i], ['aq-2', 20.25 + i], ['aq-3', 99]] as const) {
      await p.query(`INSERT INTO telemetry (time, device_id, metric, value, quality, seq, received_at, flags) VALUES ($1, $2, 'pm25', $3, $4, $5, $6, 0)`,
        [new Date(T0 + i * 60_000), device, value, i === 3 ? 4 : 0, i, new Date(T0 + i * 60_000 + 250)])
    }
  }
  await p.query(`INSERT INTO telemetry (time, device_id, metric, value, received_at) VALUES ($1, 'aq-1', '=HYPERLINK("http://evil")', -5, $1)`, [new Date(T0 + 30_000)])
  await p.query(`INSERT INTO telemetry_1h (bucket, device_id, metric, count, min, max, avg, last, non_good) VALUES ($1, 'aq-1', 'pm25', 9, 10, 19, 14.5, 19, 1), ($1, 'aq-3', 'pm25', 10, 99, 99, 99, 99, 0)`, [new Date(T0)])
  await p.query(`INSERT INTO indicator_values (name, scope, key, time, value, level, details, revision) VALUES
    ('vn_aqi_hourly', 'district', $1, $2, 72, 'moderate', '{"dominant": "pm25", "note": "a, \\"quoted\\"\\nline"}', 1),
    ('vn_aqi_hourly', 'device', 'aq-1', $2, 72, 'moderate', NULL, 0),
    ('vn_aqi_hourly', 'device', 'aq-3', $2, 40, 'good', NULL, 0)`, [HAI_CHAU, new Date(T0 + 3_600_000)])
  await p.query(`INSERT INTO alarms (id, rule_id, subject, severity, state, message, raised_at, device_id, domain, metric)
    VALUES ('00000000-0000-4000-8000-000000000001', 'pm25-high', 'aq-1', 'major', 'acknowledged', '=1+1', $1, 'aq-1', 'environment', 'pm25')`, [new Date(T0)])
  await p.query(`INSERT INTO alarm_events (event_id, alarm_id, rule_id, subject, severity, transition, time, value, actor, comment, message) VALUES
    ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', 'pm25-high', 'aq-1', 'major', 'raised', $1, 120.5, NULL, NULL, '=1+1'),
    ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001', 'pm25-high', 'aq-1', 'major', 'acknowledged', $2, NULL, 'olly', '@team: "seen", on it' || chr(10) || 'second line', '=1+1')`,
  [new Date(T0), new Date(T0 + 60_000)])
}, 60_000)

afterAll(async () => {
  await t?.stop()
})

const RANGE = { from: iso(T0), to: iso(T0 + 86_400_000) }

describe('exports equal the stored rows', () => {
  test('a device\'s readings as CSV: header, every row, ISO times, RFC 4180, an attachment name', async () => {
    const res = await get(`/api/export/readings?${q({ device: 'aq-1', metric: 'pm25', ...RANGE })}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present')
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="readings-aq-1-20261130-000000-20261201-000000.csv"; filename*=UTF-8''readings-aq-1-20261130-000000-20261201-000000.csv`)
    const rows = records(await res.text())
    expect(rows).toHaveLength(10)
    expect(rows[0]).toEqual({ time: '2026-11-30T00:00:00.000Z', device_id: 'aq-1', metric: 'pm25', value: '10', quality: '0', flags: '0', seq: '0', received_at: '2026-11-30T00:00:00.250Z' })
    expect(rows.map((r) => Number(r.value))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    expect(rows[3]!.quality).toBe('4')
  })

  test('an area\'s readings are its devices\' (by registry metadata), as JSON lines too', async () => {
    const csv = records(await (await get(`/api/export/readings?${q({ area: `district:${HAI_CHAU}`, metric: 'pm25', ...RANGE })}`)).text())
    expect(new Set(csv.map((r) => r.device_id))).toEqual(new Set(['aq-1', 'aq-2']))
    expect(csv).toHaveLength(20)
    const res = await get(`/api/export/readings?${q({ area: `district:${HAI_CHAU}`, metric: 'pm25', format: 'jsonl', ...RANGE })}`)
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
    expect(res.headers.get('content-disposition')).toContain('filename="readings-district-Hai-Chau-')
    const lines = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(lines).toHaveLength(20)
    expect(lines[1]).toEqual({ time: '2026-11-30T00:00:00.000Z', device_id: 'aq-2', metric: 'pm25', value: 20.25, quality: 0, flags: 0, seq: 0, received_at: '2026-11-30T00:00:00.250Z' })
  })

  test('rollups and indicators (an area: its own and its devices\' values; details as JSON)', async () => {
    const rollups = records(await (await get(`/api/export/rollups?${q({ device: 'aq-1', resolution: '1h', ...RANGE })}`)).text())
    expect(rollups).toEqual([{ bucket: '2026-11-30T00:00:00.000Z', device_id: 'aq-1', metric: 'pm25', count: '9', min: '10', max: '19', avg: '14.5', last: '19', non_good: '1' }])
    // Minutes: aq-2's readings are one a minute, none in telemetry_1m: each minute is its reading; a stored minute is used as stored.
    await t.db.pool.query(`INSERT INTO telemetry_1m (bucket, device_id, metric, count, min, max, avg, last, non_good) VALUES ($1, 'aq-2', 'pm25', 2, 20, 21, 20.5, 21, 0)`, [new Date(T0)])
    const minutes = records(await (await get(`/api/export/rollups?${q({ device: 'aq-2', metric: 'pm25', resolution: '1m', ...RANGE })}`)).text())
    expect(minutes).toHaveLength(10)
    expect(minutes[0]).toEqual({ bucket: '2026-11-30T00:00:00.000Z', device_id: 'aq-2', metric: 'pm25', count: '2', min: '20', max: '21', avg: '20.5', last: '21', non_good: '0' })
    expect(minutes[1]).toEqual({ bucket: '2026-11-30T00:01:00.000Z', device_id: 'aq-2', metric: 'pm25', count: '1', min: '21.25', max: '21.25', avg: '21.25', last: '21.25', non_good: '0' })
    expect(minutes[3]).toMatchObject({ bucket: '2026-11-30T00:03:00.000Z', count: '1', min: '', avg: '', non_good: '1' })
    const ind = records(await (await get(`/api/export/indicators?${q({ area: `district:${HAI_CHAU}`, ...RANGE })}`)).text())
    expect(ind.map((r) => `${r.scope}/${r.key}`)).toEqual(['device/aq-1', `district/${HAI_CHAU}`])
    expect(JSON.parse(ind[1]!.details!)).toEqual({ dominant: 'pm25', note: 'a, "quoted"\nline' })
    expect(ind[1]).toMatchObject({ time: '2026-11-30T01:00:00.000Z', name: 'vn_aqi_hourly', value: '72', level: 'moderate', revision: '1' })
    const jsonl = (await (await get(`/api/export/indicators?${q({ name: 'vn_aqi_hourly', format: 'jsonl', ...RANGE })}`)).text()).trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(jsonl).toHaveLength(3)
    expect(jsonl.find((r) => r.scope === 'district').details).toEqual({ dominant: 'pm25', note: 'a, "quoted"\nline' })
  })

  test('alarm history: every change, with quotes, commas and line breaks kept in their cell', async () => {
    const rows = records(await (await get(`/api/export/alarms?${q({ device: 'aq-1', ...RANGE })}`)).text())
    expect(rows.map((r) => r.transition)).toEqual(['raised', 'acknowledged'])
    expect(rows[1]).toMatchObject({ alarm_id: '00000000-0000-4000-8000-000000000001', rule_id: 'pm25-high', actor: 'olly', comment: `'@team: "seen", on it\nsecond line`, severity: 'major' })
    expect(rows[0]!.value).toBe('120.5')
  })

  test('CSV injection: text cells starting with = + - @ get a leading apostrophe; numbers stay numbers; JSON lines are untouched', async () => {
    const rows = records(await (await get(`/api/export/readings?${q({ device: 'aq-1', ...RANGE })}`)).text())
    const evil = rows.find((r) => r.metric!.includes('HYPERLINK'))!
    expect(evil.metric).toBe(`'=HYPERLINK("http://evil")`)
    expect(evil.value).toBe('-5')
    const alarms = records(await (await get(`/api/export/alarms?${q(RANGE)}`)).text())
    expect(alarms[0]!.message).toBe(`'=1+1`)
    const jsonl = (await (await get(`/api/export/alarms?${q({ ...RANGE, format: 'jsonl' })}`)).text()).trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(jsonl[0].message).toBe('=1+1')
  })
})

describe('refusals', () => {
  test('no session: 401', async () => {
    const res = await get(`/api/export/readings?${q({ device: 'aq-1', ...RANGE })}`, false)
    expect(res.status).toBe(401)
    expect((await get(`/api/reports/air-quality?${q({ district: HAI_CHAU, date: '2026-11-30' })}`, false)).status).toBe(401)
  })

  test.each([
    ['/api/export/telemetry?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z&device=aq-1', 'kind: one of readings, rollups, indicators, alarms'],
    ['/api/export/readings?device=aq-1&to=2026-12-01T00:00:00Z', 'from: an ISO 8601 time with its offset is required'],
    ['/api/export/readings?device=aq-1&from=2026-11-30T00:00:00&to=2026-12-01T00:00:00Z', 'is not an ISO 8601 time with an offset'],
    ['/api/export/readings?device=aq-1&from=yesterday&to=2026-12-01T00:00:00Z', 'from: "yesterday" is not an ISO 8601 time'],
    ['/api/export/readings?device=aq-1&from=2026-12-01T00:00:00Z&to=2026-11-30T00:00:00Z', 'from must be before to'],
    ['/api/export/readings?device=aq-1&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'a readings export covers at most 31 days'],
    ['/api/export/readings?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'device or area'],
    ['/api/export/readings?device=aq-1&format=xlsx&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'format: csv or jsonl'],
    ['/api/export/readings?area=city:Da%20Nang&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'area: KIND:NAME'],
    ['/api/export/readings?device=aq-1&area=district:X&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'give one, not both'],
    ["/api/export/readings?device=aq-1'%3B%20DROP%20TABLE%20telemetry--&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z", 'is not a device id'],
    ['/api/export/readings?device=aq-1&metric=pm25%27&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'metric: "pm25\'" is not a metric name'],
    ['/api/export/readings?device=aq-1&limit=0&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'limit: a whole number from 1 to 5000000'],
    ['/api/export/rollups?device=aq-1&resolution=1d&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'resolution: 1m or 1h'],
    ['/api/export/indicators?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'name, device or area'],
    ['/api/export/alarms?severity=urgent&from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z', 'severity: a comma list'],
    ['/api/reports/air-quality?date=2026-11-30', 'district: the district'],
    ['/api/reports/air-quality?district=X&date=2026-02-30', 'date: a local day as YYYY-MM-DD'],
    ['/api/reports/air-quality?district=X&date=2026-11-30&format=pdf', 'format: csv, html or json'],
  ])('%s is 400: %s', async (path, message) => {
    const res = await get(path)
    expect(res.status).toBe(400)
    const body = await res.json() as { error: { code: string; message: string } }
    expect(body.error.code).toBe('GRIDLINE_BAD_REQUEST')
    expect(body.error.message).toContain(message)
  })

  test('an unknown device is 404', async () => {
    const res = await get(`/api/export/readings?${q({ device: 'nobody', ...RANGE })}`)
    expect(res.status).toBe(404)
    expect((await res.json() as { error: { code: string } }).error.code).toBe('GRIDLINE_DEVICE_NOT_FOUND')
  })
})

test('200,000 rows stream: the response starts while the COPY runs, and a paused reader holds PostgreSQL back (ClientWrite), then every row arrives', async () => {
  await t.db.pool.query(`INSERT INTO telemetry (time, device_id, metric, value, quality, received_at)
    SELECT $1::timestamptz + i * interval '1 second', 'aq-big', 'pm25', i, 0, $1::timestamptz FROM generate_series(0, 199999) i`, [new Date(T0)])
  const res = await get(`/api/export/readings?${q({ device: 'aq-big', from: iso(T0), to: iso(T0 + 3 * 86_400_000) })}`)
  expect(res.status).toBe(200)
  const reader = res.body!.getReader()
  const first = await reader.read()
  expect(first.done).toBe(false)
  // The reader stops. The sockets fill, the service stops reading the COPY's connection, and
  // PostgreSQL waits to write to it: the query is still open, blocked on its client.
  // (A 40,000-row export, 3 MB, already blocks: the buffers in between hold less than that.)
  const copy = async () => (await t.db.pool.query(`SELECT state, wait_event FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY (SELECT%' AND pid <> pg_backend_pid()`)).rows
  await new Promise((r) => setTimeout(r, 500))
  expect(await copy()).toEqual([{ state: 'active', wait_event: 'ClientWrite' }])
  await new Promise((r) => setTimeout(r, 500))
  expect(await copy()).toEqual([{ state: 'active', wait_event: 'ClientWrite' }])
  let bytes = first.value!.length
  let lines = 0
  const countLines = (chunk: Uint8Array) => { for (const b of chunk) if (b === 0x0a) lines++ }
  countLines(first.value!)
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.length
    countLines(value)
  }
  expect(lines).toBe(200_001)
  expect(bytes).toBeGreaterThan(14_000_000)
  // Done: the connection is back in the pool, idle.
  expect((await copy()).map((r) => r.state)).toEqual(['idle'])
}, 60_000)

test('a download the browser abandons ends the COPY: its connection is closed, not returned half-read, and the next export works', async () => {
  const controller = new AbortController()
  const res = await fetch(`${t.httpUrl}/api/export/readings?${q({ device: 'aq-big', from: iso(T0), to: iso(T0 + 3 * 86_400_000) })}`, { headers: { cookie }, signal: controller.signal })
  const reader = res.body!.getReader()
  expect((await reader.read()).done).toBe(false)
  controller.abort()
  await waitFor(async () => (await t.db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY (SELECT%' AND state = 'active'`)).rowCount === 0, 10_000, 'the COPY to end')
  const again = records(await (await get(`/api/export/readings?${q({ device: 'aq-1', metric: 'pm25', ...RANGE })}`)).text())
  expect(again).toHaveLength(10)
}, 30_000)

describe('daily air-quality report', () => {
  const DAY = Date.parse('2026-11-25T00:00:00+07:00')
  beforeAll(async () => {
    const p = t.db.pool
    await p.query(`INSERT INTO indicator_values (name, scope, key, time, value, level, details) VALUES ('vn_aqi_daily', 'district', $1, $2, 118, 'poor', '{"dominant": "pm25"}')`, [HAI_CHAU, new Date(DAY)])
    for (let h = 1; h <= 24; h++) {
      const v = h === 14 ? 171 : h === 15 ? 160 : h === 9 ? 150 : 80 + h
      await p.query(`INSERT INTO indicator_values (name, scope, key, time, value, level, details) VALUES ('vn_aqi_hourly', 'district', $1, $2, $3, $4, $5)`,
        [HAI_CHAU, new Date(DAY + h * 3_600_000), v, v > 150 ? 'bad' : v > 100 ? 'poor' : 'moderate', { dominant: 'pm25', worstSensor: 'aq-2' }])
    }
    // aq-2: PM2.5 70 µg/m³ every hour of the local day (24-hour limit 50); one NO2 hour at 250 (1-hour limit 200). aq-1 clean.
    for (let h = 0; h < 24; h++) {
      const time = new Date(DAY + h * 3_600_000 + 600_000)
      await p.query(`INSERT INTO telemetry (time, device_id, metric, value, received_at) VALUES ($1, 'aq-2', 'pm25', 70, $1), ($1, 'aq-1', 'pm25', 20, $1), ($1, 'aq-2', 'no2', $2, $1)`, [time, h === 13 ? 250 : 40])
    }
  })

  test('JSON and CSV: the day\'s value, the worst hours, the exceedances of QCVN 05:2023', async () => {
    const r = await (await get(`/api/reports/air-quality?${q({ district: HAI_CHAU, date: '2026-11-25', format: 'json' })}`)).json() as any
    expect(r.daily).toEqual({ value: 118, level: 'poor', dominant: 'pm25', revision: 0 })
    expect(r.hourly).toHaveLength(24)
    expect(r.worstHours.map((h: any) => h.value)).toEqual([171, 160, 150])
    expect(r.exceedances).toEqual([
      { sensor: 'aq-2', metric: 'no2', averaging: '1h', time: DAY + 14 * 3_600_000, mean: 250, limit: 200, hours: 1 },
      { sensor: 'aq-2', metric: 'pm25', averaging: '24h', time: DAY + 24 * 3_600_000, mean: 70, limit: 50, hours: 24 },
    ])
    const res = await get(`/api/reports/air-quality?${q({ district: HAI_CHAU, date: '2026-11-25', format: 'csv' })}`)
    expect(res.headers.get('content-disposition')).toContain(`filename*=UTF-8''air-quality-H%E1%BA%A3i%20Ch%C3%A2u-2026-11-25.csv`)
    const rows = records(await res.text())
    expect(rows[0]).toEqual({ section: 'vn_aqi_daily', district: HAI_CHAU, time: '2026-11-25T00:00:00+07:00', sensor: '', pollutant: 'pm25', averaging: '24h', value: '118', limit: '', level: 'poor', hours: '' })
    expect(rows.filter((r) => r.section === 'worst_hour').map((r) => r.time)).toEqual(['2026-11-25T14:00:00+07:00', '2026-11-25T15:00:00+07:00', '2026-11-25T09:00:00+07:00'])
    expect(rows.filter((r) => r.section === 'exceedance').map((r) => [r.pollutant, r.value, r.limit])).toEqual([['no2', '250', '200'], ['pm25', '70', '50']])
  })

  test('the printable page renders in Chromium, bilingual, with its print style sheet', async () => {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] })
    try {
      const context = await browser.newContext()
      const [name, value] = cookie.split('=') as [string, string]
      await context.addCookies([{ name, value, url: t.httpUrl }])
      const page = await context.newPage()
      const errors: string[] = []
      // The page's own requests (the style sheet) must all succeed; the browser's favicon guess may not.
      page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`) })
      const res = await page.goto(`${t.httpUrl}/api/reports/air-quality?${q({ district: HAI_CHAU, date: '2026-11-25' })}`)
      expect(res!.status()).toBe(200)
      expect(await page.textContent('#report-district')).toBe(HAI_CHAU)
      expect(await page.textContent('#daily-value')).toBe('118')
      const body = await page.textContent('body')
      expect(body).toContain('Báo cáo chất lượng không khí ngày')
      expect(body).toContain('Daily air-quality report')
      expect(body).toContain('Kém')
      expect(await page.locator('#exceedances tbody tr').count()).toBe(2)
      expect(await page.locator('#hourly tbody tr').count()).toBe(24)
      // The style sheet loaded (CSP allows only same-origin sheets): the level colours apply.
      expect(await page.$eval('.level-poor', (el) => (globalThis as any).getComputedStyle(el).backgroundColor as string)).toBe('rgb(255, 126, 0)')
      await page.emulateMedia({ media: 'print' })
      expect(await page.$eval('body', (el) => (globalThis as any).getComputedStyle(el).fontSize as string)).toBe('13.3333px')
      const pdf = await page.pdf({ format: 'A4' })
      expect(pdf.subarray(0, 4).toString()).toBe('%PDF')
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  }, 60_000)
})

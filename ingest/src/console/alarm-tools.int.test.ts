import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

// The alarm tools of issue 18 through the console API, in the real service on
// PostgreSQL: several alarms acknowledged at once (an answer per id, each
// audited), shelving with a reason and a bounded duration, escalation of an
// alarm nobody acknowledges, and the roles that may do each.

let t: TestService
let base: string
const PASSWORDS = { olly: 'olly-operator-pass-2', vic: 'vic-viewer-password-3' }

async function login(username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { origin: base, 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  expect(res.status).toBe(200)
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!
}

async function call(cookie: string, method: string, path: string, body?: unknown, headers: Record<string, string> = { origin: base }): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { cookie, ...(method === 'GET' ? {} : { ...headers, 'content-type': 'application/json' }) },
    ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

async function raise(cookie: string, ruleId: string, severity = 'major'): Promise<string> {
  const res = await call(cookie, 'POST', '/api/alarms', { ruleId, subject: 'Bạch Đằng', severity, message: `${ruleId} reported by the crew` })
  expect(res.status).toBe(200)
  return res.body.alarm.alarmId
}

async function auditRows(action: string): Promise<Array<{ actor: string; target: string; outcome: string; detail: Record<string, unknown> }>> {
  await t.service.console!.audit.flush()
  const { rows } = await t.db.pool.query('SELECT actor, target, outcome, detail FROM audit_log WHERE action = $1 ORDER BY id', [action])
  return rows
}

beforeAll(async () => {
  t = await startTestService({
    users: [
      { name: 'olly', password: PASSWORDS.olly, role: 'operator' },
      { name: 'vic', password: PASSWORDS.vic, role: 'viewer' },
    ],
    // 0.01 min = 600 ms: escalation is seen within the test.
    config: { processors: { alarms: { maxShelveMinutes: 120, escalation: [{ severity: 'critical', afterMinutes: 0.01 }] } } },
  })
  base = t.httpUrl
})

afterAll(async () => {
  await t?.stop()
})

describe('acknowledging several alarms at once', () => {
  test('answers per id: acknowledged, already, not found; each is audited like the single acknowledgement', async () => {
    const cookie = await login('olly', PASSWORDS.olly)
    const a = await raise(cookie, 'bulk-a')
    const b = await raise(cookie, 'bulk-b')
    const c = await raise(cookie, 'bulk-c')
    expect((await call(cookie, 'POST', `/api/alarms/${c}/ack`, {})).status).toBe(200)
    const unknown = '00000000-0000-0000-0000-000000000000'
    const res = await call(cookie, 'POST', '/api/alarms/ack', { ids: [a, b, c, unknown, a], comment: 'crew on site' })
    expect(res.status).toBe(200)
    expect(res.body.results).toEqual([
      { id: a, result: 'acknowledged', alarm: expect.objectContaining({ alarmId: a, state: 'acknowledged', acknowledgedBy: 'olly', comment: 'crew on site' }) },
      { id: b, result: 'acknowledged', alarm: expect.objectContaining({ alarmId: b, state: 'acknowledged' }) },
      { id: c, result: 'already', message: expect.stringContaining('already acknowledged by olly') },
      { id: unknown, result: 'not_found', message: `No alarm has the id ${unknown}.` },
    ])
    const listed = (await call(cookie, 'GET', '/api/alarms')).body.alarms
    expect(listed.filter((x: any) => [a, b].includes(x.id)).map((x: any) => x.state)).toEqual(['acknowledged', 'acknowledged'])

    const rows = (await auditRows('alarm.acknowledge')).filter((r) => r.detail.bulk === true)
    expect(rows.map((r) => [r.actor, r.target, r.outcome, r.detail.comment])).toEqual([
      ['olly', a, 'ok', 'crew on site'],
      ['olly', b, 'ok', 'crew on site'],
      ['olly', c, 'refused', 'crew on site'],
      ['olly', unknown, 'refused', 'crew on site'],
    ])
    expect(rows[0]!.detail).toMatchObject({ ruleId: 'custom:bulk-a', subject: 'Bạch Đằng' })
  })

  test('refuses a body without ids, too many ids, and a request from another origin', async () => {
    const cookie = await login('olly', PASSWORDS.olly)
    expect(await call(cookie, 'POST', '/api/alarms/ack', {})).toMatchObject({ status: 400, body: { error: { code: 'GRIDLINE_BAD_REQUEST' } } })
    expect(await call(cookie, 'POST', '/api/alarms/ack', { ids: [] })).toMatchObject({ status: 400 })
    expect(await call(cookie, 'POST', '/api/alarms/ack', { ids: Array.from({ length: 501 }, (_, i) => `id-${i}`) })).toMatchObject({ status: 400 })
    expect(await call(cookie, 'POST', '/api/alarms/ack', { ids: [42] })).toMatchObject({ status: 400 })
    expect(await call(cookie, 'POST', '/api/alarms/ack', { ids: ['x'] }, { origin: 'https://evil.example' })).toMatchObject({ status: 403, body: { error: { code: 'GRIDLINE_CSRF' } } })
  })
})

describe('shelving', () => {
  test('an operator shelves an active alarm with a reason: listed as shelved until/by/reason, audited; unshelving ends it', async () => {
    const cookie = await login('olly', PASSWORDS.olly)
    const id = await raise(cookie, 'shelve-me')
    expect(await call(cookie, 'POST', `/api/alarms/${id}/shelve`, { minutes: 30 })).toMatchObject({ status: 400, body: { error: { code: 'GRIDLINE_BAD_REQUEST' } } })
    expect(await call(cookie, 'POST', `/api/alarms/${id}/shelve`, { reason: 'maintenance', minutes: 121 })).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('at most 120') } } })
    const before = Date.now()
    const shelved = await call(cookie, 'POST', `/api/alarms/${id}/shelve`, { reason: 'lamp line being repaired', minutes: 30 })
    expect(shelved).toMatchObject({ status: 200, body: { alarm: { alarmId: id, state: 'shelved', active: true, shelvedBy: 'olly', shelveReason: 'lamp line being repaired' } } })
    expect(shelved.body.alarm.shelvedUntil).toBeGreaterThanOrEqual(before + 30 * 60_000)
    const listed = (await call(cookie, 'GET', '/api/alarms')).body.alarms.find((x: any) => x.id === id)
    expect(listed).toMatchObject({ state: 'raised', shelvedBy: 'olly', shelveReason: 'lamp line being repaired', shelvedUntil: shelved.body.alarm.shelvedUntil })

    expect(await call(cookie, 'POST', `/api/alarms/${id}/unshelve`, {})).toMatchObject({ status: 200, body: { alarm: { state: 'unshelved' } } })
    expect(await call(cookie, 'POST', `/api/alarms/${id}/unshelve`, {})).toMatchObject({ status: 409, body: { error: { code: 'GRIDLINE_ALARM_STATE_CONFLICT' } } })
    expect((await call(cookie, 'GET', '/api/alarms')).body.alarms.find((x: any) => x.id === id).shelvedUntil).toBeUndefined()
    expect(await call(cookie, 'POST', '/api/alarms/00000000-0000-0000-0000-000000000000/shelve', { reason: 'x', minutes: 5 })).toMatchObject({ status: 404, body: { error: { code: 'GRIDLINE_ALARM_NOT_FOUND' } } })

    expect((await auditRows('alarm.shelve')).map((r) => [r.actor, r.target, r.outcome, r.detail.reason])).toEqual([
      ['olly', id, 'ok', 'lamp line being repaired'],
      ['olly', '00000000-0000-0000-0000-000000000000', 'refused', 'x'],
    ])
    expect((await auditRows('alarm.unshelve')).map((r) => [r.target, r.outcome])).toEqual([[id, 'ok'], [id, 'refused']])
    const history = (await call(cookie, 'GET', '/api/alarms/history?q=shelve-me')).body.history
    expect(history.map((h: any) => [h.transition, h.actor, h.comment ?? null])).toEqual([
      ['unshelved', 'olly', null], ['shelved', 'olly', 'lamp line being repaired'], ['raised', 'olly', null],
    ])
  })

  test('a viewer may not acknowledge several, shelve or unshelve', async () => {
    const operator = await login('olly', PASSWORDS.olly)
    const id = await raise(operator, 'viewer-tries')
    const cookie = await login('vic', PASSWORDS.vic)
    for (const [path, body] of [
      ['/api/alarms/ack', { ids: [id] }],
      [`/api/alarms/${id}/shelve`, { reason: 'r', minutes: 5 }],
      [`/api/alarms/${id}/unshelve`, {}],
    ] as const) {
      expect(await call(cookie, 'POST', path, body), path).toMatchObject({ status: 403, body: { error: { code: 'GRIDLINE_FORBIDDEN' } } })
    }
    expect((await call(operator, 'GET', '/api/alarms')).body.alarms.find((x: any) => x.id === id)).toMatchObject({ state: 'raised' })
  })
})

describe('escalation', () => {
  test('a critical alarm nobody acknowledges is escalated once, and the list shows it', async () => {
    const cookie = await login('olly', PASSWORDS.olly)
    const id = await raise(cookie, 'escalate-me', 'critical')
    await waitFor(async () => (await call(cookie, 'GET', '/api/alarms')).body.alarms.find((x: any) => x.id === id)?.escalatedAt !== undefined, 10_000, 'the escalation')
    await new Promise((resolve) => setTimeout(resolve, 700))
    const history = (await call(cookie, 'GET', '/api/alarms/history?q=escalate-me')).body.history
    expect(history.map((h: any) => h.transition)).toEqual(['escalated', 'raised'])
  })
})

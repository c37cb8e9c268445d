import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { RowFlags } from '@gridline/schemas'
import { type TestDatabase, createMigratedTestDatabase } from '../../../test/support.ts'
import type { Reading } from '../stream/events.ts'
import type { AlarmEventDetail } from './alarm-event.ts'
import type { AlarmsConfigInput } from './config.ts'
import { AlarmEngine } from './engine.ts'

let db: TestDatabase

beforeAll(async () => {
  db = await createMigratedTestDatabase({ timescale: 'off', partitionIntervalHours: 24, partitionsAhead: 1, partitionsBehind: 0, retentionDays: 0, compressAfterDays: 0 })
})

afterAll(async () => {
  await db?.drop()
})

const config: AlarmsConfigInput = {
  rules: [
    { id: 'pm25-high', type: 'threshold', metric: 'pm25', raiseAbove: 50, clearBelow: 40, severity: 'major' },
    { id: 'flow-high', type: 'threshold', metric: 'flow', raiseAbove: 10 },
  ],
}

function at(time: number, value: number, deviceId = 'aq-1', metric = 'pm25', flags = 0): Reading {
  return { time, receivedAt: time, deviceId, domain: 'environment', metric, value, quality: 0, seq: -1, flags }
}

async function startEngine(c: AlarmsConfigInput = config): Promise<{ engine: AlarmEngine; events: AlarmEventDetail[] }> {
  const engine = new AlarmEngine(c, { db: db.pool })
  const events: AlarmEventDetail[] = []
  engine.events.subscribe((e) => events.push(e))
  await engine.start()
  return { engine, events }
}

describe('alarm state in PostgreSQL', () => {
  test('a restart loads active alarms: the same condition raises nothing twice, and the clear closes the same alarm', async () => {
    const first = await startEngine()
    first.engine.onReading(at(1_000, 70))
    first.engine.onReading(at(1_500, 80, 'aq-1', 'pm25', RowFlags.BACKFILL))
    expect(first.events.map((e) => e.state)).toEqual(['raised'])
    const alarmId = first.events[0]!.alarmId
    await first.engine.stop()

    const { rows } = await db.pool.query('SELECT id::text, rule_id, subject, severity, state, raised_value, device_id, metric FROM alarms')
    expect(rows).toEqual([{ id: alarmId, rule_id: 'pm25-high', subject: 'aq-1', severity: 'major', state: 'raised', raised_value: 70, device_id: 'aq-1', metric: 'pm25' }])

    const second = await startEngine()
    expect(second.engine.listActive().map((a) => a.id)).toEqual([alarmId])
    second.engine.onReading(at(2_000, 90))
    expect(second.events).toEqual([])
    second.engine.onReading(at(3_000, 20))
    expect(second.events.map((e) => [e.state, e.alarmId])).toEqual([['cleared', alarmId]])
    await second.engine.stop()

    const after = await db.pool.query('SELECT state, last_value, cleared_at IS NOT NULL AS cleared FROM alarms WHERE id = $1', [alarmId])
    expect(after.rows).toEqual([{ state: 'cleared', last_value: 20, cleared: true }])
  })

  test('acknowledge is persisted with who and why, also after a clear and across a restart, and the history lists every change', async () => {
    const first = await startEngine()
    first.engine.onReading(at(10_000, 15, 'pump-1', 'flow'))
    const alarmId = first.events[0]!.alarmId
    const ack = await first.engine.acknowledge(alarmId, 'lan.nguyen', 'valve crew on site')
    expect(ack).toMatchObject({ state: 'acknowledged', active: true, acknowledgedBy: 'lan.nguyen' })
    const { rows } = await db.pool.query('SELECT state, acknowledged_by, ack_comment, acknowledged_at IS NOT NULL AS acked FROM alarms WHERE id = $1', [alarmId])
    expect(rows).toEqual([{ state: 'acknowledged', acknowledged_by: 'lan.nguyen', ack_comment: 'valve crew on site', acked: true }])
    first.engine.onReading(at(20_000, 5, 'pump-1', 'flow'))
    first.engine.onReading(at(30_000, 25, 'pump-1', 'flow'))
    const secondId = first.events.at(-1)!.alarmId
    expect(secondId).not.toBe(alarmId)
    first.engine.onReading(at(40_000, 1, 'pump-1', 'flow'))
    await first.engine.stop()

    // Cleared before anyone acknowledged it; acknowledged from a fresh engine, found in the database.
    const second = await startEngine()
    expect(second.engine.listActive().filter((a) => a.ruleId === 'flow-high')).toEqual([])
    const late = await second.engine.acknowledge(secondId, 'minh.tran')
    expect(late).toMatchObject({ state: 'acknowledged', active: false, alarmId: secondId })
    await expect(second.engine.acknowledge(secondId, 'minh.tran')).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED' })
    await expect(second.engine.acknowledge('00000000-0000-0000-0000-000000000000', 'x')).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_NOT_FOUND' })

    const history = await second.engine.history({ subject: 'pump-1' })
    expect(history.map((h) => [h.alarmId === alarmId ? 'first' : 'second', h.transition, h.value ?? null, h.actor ?? null])).toEqual([
      ['first', 'raised', 15, null],
      ['first', 'acknowledged', 15, 'lan.nguyen'],
      ['first', 'cleared', 5, null],
      ['second', 'raised', 25, null],
      ['second', 'cleared', 1, null],
      ['second', 'acknowledged', 1, 'minh.tran'],
    ])
    expect(history[1]!.comment).toBe('valve crew on site')
    expect(await second.engine.history({ alarmId: secondId, from: 35_000 })).toHaveLength(2)
    await second.engine.stop()
  })

  test('an active alarm whose rule was removed is cleared at start', async () => {
    const first = await startEngine({ rules: [{ id: 'temp-high', type: 'threshold', metric: 'temperature', raiseAbove: 40 }] })
    first.engine.onReading(at(50_000, 45, 'aq-9', 'temperature'))
    await first.engine.stop()
    const second = await startEngine({ rules: [] })
    expect(second.events).toMatchObject([{ state: 'cleared', ruleId: 'temp-high', subject: 'aq-9' }])
    await second.engine.flush()
    const { rows } = await db.pool.query(`SELECT state FROM alarms WHERE rule_id = 'temp-high'`)
    expect(rows).toEqual([{ state: 'cleared' }])
    await second.engine.stop()
  })

  test('the database keeps one active alarm per rule and subject even if two engines disagree', async () => {
    const a = await startEngine()
    const b = await startEngine()
    a.engine.onReading(at(60_000, 99, 'aq-dup'))
    b.engine.onReading(at(60_000, 99, 'aq-dup'))
    await a.engine.flush()
    await b.engine.flush()
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM alarms WHERE subject = 'aq-dup' AND cleared_at IS NULL`)
    expect(rows[0].n).toBe(1)
    expect(a.engine.stats().store!.rejected + b.engine.stats().store!.rejected).toBe(1)
    await a.engine.stop()
    await b.engine.stop()
  })
})

describe('shelving and escalation in PostgreSQL', () => {
  const mine = (events: AlarmEventDetail[], subject: string) => events.filter((e) => e.subject === subject).map((e) => e.state)
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 5_000
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  test('a restart keeps the shelve (until, by, reason); unshelving is persisted, and a shelve that ended while stopped ends at start', async () => {
    const first = await startEngine()
    first.engine.onReading(at(Date.now(), 70, 'aq-shelve'))
    const alarmId = first.events.find((e) => e.subject === 'aq-shelve')!.alarmId
    const shelved = await first.engine.shelve(alarmId, 'olly', 'sensor being cleaned', 3_600_000)
    await first.engine.stop()
    const row = await db.pool.query('SELECT shelved_by, shelve_reason, (extract(epoch FROM shelved_until) * 1000)::float8 AS until FROM alarms WHERE id = $1', [alarmId])
    expect(row.rows).toEqual([{ shelved_by: 'olly', shelve_reason: 'sensor being cleaned', until: shelved.shelvedUntil }])

    const second = await startEngine()
    expect(second.engine.listActive().find((a) => a.id === alarmId)).toMatchObject({ shelvedBy: 'olly', shelveReason: 'sensor being cleaned', shelvedUntil: shelved.shelvedUntil })
    await second.engine.unshelve(alarmId, 'ada')
    // Shelved again, for 200 ms, and stopped before it ends.
    await second.engine.shelve(alarmId, 'olly', 'short one', 200)
    await second.engine.stop()
    expect(mine(second.events, 'aq-shelve')).toEqual(['unshelved', 'shelved'])

    await new Promise((resolve) => setTimeout(resolve, 300))
    const third = await startEngine()
    expect(mine(third.events, 'aq-shelve')).toEqual([]) // nothing is emitted inside start(): subscribers that come right after get it
    await until(() => mine(third.events, 'aq-shelve').length > 0, 'the unshelved event')
    expect(third.events.find((e) => e.subject === 'aq-shelve')).toMatchObject({ state: 'unshelved', alarmId })
    expect(third.engine.listActive().find((a) => a.id === alarmId)?.shelvedUntil).toBeUndefined()
    third.engine.onReading(at(Date.now(), 10, 'aq-shelve'))
    await third.engine.flush()
    const history = await third.engine.history({ alarmId })
    expect(history.map((h) => [h.transition, h.actor ?? null, h.comment ?? null])).toEqual([
      ['raised', null, null],
      ['shelved', 'olly', 'sensor being cleaned'],
      ['unshelved', 'ada', null],
      ['shelved', 'olly', 'short one'],
      ['unshelved', null, null],
      ['cleared', null, null],
    ])
    await third.engine.stop()
    const closed = await db.pool.query('SELECT state, shelved_until FROM alarms WHERE id = $1', [alarmId])
    expect(closed.rows).toEqual([{ state: 'cleared', shelved_until: null }])
  })

  test('escalation happens once: escalated_at is kept, so a restart does not escalate the alarm again', async () => {
    const escalating: AlarmsConfigInput = { ...config, escalation: [{ severity: 'major', afterMinutes: 0.005 }] } // 300 ms
    const first = await startEngine(escalating)
    first.engine.onReading(at(Date.now(), 70, 'aq-escalate'))
    await until(() => mine(first.events, 'aq-escalate').includes('escalated'), 'the escalation')
    const alarmId = first.events.find((e) => e.subject === 'aq-escalate')!.alarmId
    await first.engine.stop()
    const row = await db.pool.query('SELECT escalated_at IS NOT NULL AS escalated FROM alarms WHERE id = $1', [alarmId])
    expect(row.rows).toEqual([{ escalated: true }])

    const second = await startEngine(escalating)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(mine(second.events, 'aq-escalate')).toEqual([])
    expect(second.engine.listActive().find((a) => a.id === alarmId)?.escalatedAt).toBeGreaterThan(0)
    second.engine.onReading(at(Date.now(), 10, 'aq-escalate'))
    await second.engine.stop()
    expect((await db.pool.query(`SELECT transition FROM alarm_events WHERE alarm_id = $1 ORDER BY id`, [alarmId])).rows.map((r) => r.transition)).toEqual(['raised', 'escalated', 'cleared'])
  })
})

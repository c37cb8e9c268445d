import { map } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { describe, expect, test } from 'vitest'
import { Quality, RowFlags } from '@gridline/schemas'
import type { IndicatorEvent, Reading } from '../stream/events.ts'
import type { AlarmEventDetail } from './alarm-event.ts'
import type { AlarmsConfigInput } from './config.ts'
import { GridlineError } from '@gridline/core'
import { AlarmEngine, AlarmError } from './engine.ts'
import { formatNumber } from './template.ts'

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
}

/** A reading stamped with the virtual clock, so reading time and the scheduler agree. */
function readingAt(scheduler: TestScheduler, value: number, overrides: Partial<Reading> = {}): Reading {
  const now = scheduler.now()
  return { time: now, receivedAt: now, deviceId: 'aq-1', domain: 'environment', metric: 'pm25', value, quality: Quality.GOOD, seq: -1, flags: 0, ...overrides }
}

/** Events as `state:value` strings, the shape marble expectations compare. */
const brief = map((e: AlarmEventDetail) => `${e.state}${e.value === undefined ? '' : `:${formatNumber(e.value)}`}`)

function run(config: AlarmsConfigInput, marbles: string, values: Record<string, number | Partial<Reading>>, expected: string, expectedValues: Record<string, string>): AlarmEngine {
  const scheduler = newScheduler()
  let engine!: AlarmEngine
  scheduler.run(({ cold, expectObservable }) => {
    engine = new AlarmEngine(config, { scheduler })
    void engine.start()
    const readings = cold(marbles, values).pipe(
      map((v) => (typeof v === 'number' ? readingAt(scheduler, v) : readingAt(scheduler, v.value ?? 0, v))),
    )
    // Subscribed first: a reading at frame 0 must find the expectation listening.
    expectObservable(engine.events.pipe(brief)).toBe(expected, expectedValues)
    engine.connect(readings)
    if (config.rules?.some((r) => r.type === 'stale')) stopAfter(scheduler, engine)
  })
  return engine
}

type Rule = NonNullable<AlarmsConfigInput['rules']>[number]

/** The stale-data clock repeats forever; virtual time only ends once it stops. */
function stopAfter(scheduler: TestScheduler, engine: AlarmEngine, ms = 3_600_000): void {
  scheduler.schedule(() => void engine.stop(), ms)
}

const pmHigh = { id: 'pm25-high', type: 'threshold', metric: 'pm25', raiseAbove: 50, clearBelow: 40, severity: 'major' } as const

describe('threshold rules', () => {
  test('hysteresis: raises above raiseAbove, holds in the band, clears below clearBelow', () => {
    run({ rules: [pmHigh] }, 'a-b-c-d-e-f', { a: 10, b: 60, c: 45, d: 55, e: 30, f: 45 }, '--r-----c', { r: 'raised:60', c: 'cleared:30' })
  })

  test('raiseBelow/clearAbove watches the low side', () => {
    const rule = { id: 'pressure-low', type: 'threshold', metric: 'pm25', raiseBelow: 2, clearAbove: 2.5 } as const
    run({ rules: [rule] }, 'a-b-c-d', { a: 3, b: 1.5, c: 2.2, d: 2.6 }, '--r---c', { r: 'raised:1.5', c: 'cleared:2.6' })
  })

  test('forSeconds: the condition must hold that long in reading time; a dip resets it', () => {
    const rule = { ...pmHigh, forSeconds: 10, clearForSeconds: 5 }
    // Readings every 5 s: above, above, dip into the band, then above for 10 s, then below for 5 s.
    run({ rules: [rule] }, 'a 4999ms b 4999ms c 4999ms d 4999ms e 4999ms f 4999ms g 4999ms h',
      { a: 60, b: 60, c: 45, d: 60, e: 60, f: 60, g: 30, h: 30 },
      '25000ms r 9999ms c', { r: 'raised:60', c: 'cleared:30' })
  })

  test('readings of non-GOOD quality neither raise nor clear unless includeNonGood', () => {
    const engine = run({ rules: [pmHigh] }, 'a-b-c', { a: { value: 90, quality: Quality.SATURATED }, b: 60, c: { value: 10, quality: Quality.STUCK } }, '--r', { r: 'raised:60' })
    expect(engine.stats().skipped.quality).toBe(2)
    run({ rules: [{ ...pmHigh, includeNonGood: true }] }, 'a', { a: { value: 90, quality: Quality.SATURATED } }, 'r', { r: 'raised:90' })
  })

  test('backfilled readings never raise, and do not clear either', () => {
    const backfill = (value: number) => ({ value, flags: RowFlags.BACKFILL })
    const engine = run({ rules: [pmHigh] }, 'a-b-c-d', { a: backfill(90), b: 60, c: backfill(10), d: 10 }, '--r---c', { r: 'raised:60', c: 'cleared:10' })
    expect(engine.stats().skipped.backfill).toBe(2)
  })

  test('device and domain filters pick the subjects; each subject has its own alarm', () => {
    const rule = { ...pmHigh, devices: ['aq-*'], domains: ['environment'] }
    run({ rules: [rule] }, 'a-b-c-d', {
      a: { value: 90, deviceId: 'aq-1' },
      b: { value: 90, deviceId: 'pump-1' },
      c: { value: 90, deviceId: 'aq-2', domain: 'water' },
      d: { value: 90, deviceId: 'aq-2' },
    }, 'a-----b', { a: 'raised:90', b: 'raised:90' })
  })

  test('a reading older than the last one evaluated is skipped', () => {
    const scheduler = newScheduler()
    const engine = new AlarmEngine({ rules: [pmHigh] }, { scheduler })
    const seen: AlarmEventDetail[] = []
    engine.events.subscribe((e) => seen.push(e))
    engine.onReading(readingAt(scheduler, 60, { time: 2_000 }))
    engine.onReading(readingAt(scheduler, 10, { time: 1_000 }))
    expect(seen.map((e) => e.state)).toEqual(['raised'])
    expect(engine.stats().skipped.outOfOrder).toBe(1)
  })
})

describe('the thresholds that watch a device', () => {
  test('threshold rules that match its id and domain, with direction and clear limit; other rule types and devices left out', () => {
    const engine = new AlarmEngine({
      rules: [
        pmHigh,
        { id: 'pressure-low', type: 'threshold', metric: 'pressure', domains: ['water'], raiseBelow: 1.5, severity: 'critical' },
        { id: 'aq-9-only', type: 'threshold', metric: 'pm10', devices: ['aq-9*'], raiseAbove: 100 },
        { id: 'pm25-rise', type: 'rate_of_change', metric: 'pm25', raiseAbove: 20 },
        { id: 'silent', type: 'stale', expectedIntervalSeconds: 60 },
      ],
    })
    expect(engine.thresholdsFor('aq-1', 'environment')).toEqual([
      { ruleId: 'pm25-high', metric: 'pm25', severity: 'major', direction: 'above', value: 50, clearValue: 40 },
    ])
    expect(engine.thresholdsFor('aq-90', 'environment').map((th) => th.ruleId)).toEqual(['pm25-high', 'aq-9-only'])
    expect(engine.thresholdsFor('pump-1', 'water')).toEqual([
      { ruleId: 'pm25-high', metric: 'pm25', severity: 'major', direction: 'above', value: 50, clearValue: 40 },
      { ruleId: 'pressure-low', metric: 'pressure', severity: 'critical', direction: 'below', value: 1.5, clearValue: 1.5 },
    ])
    expect(new AlarmEngine({ enabled: false, rules: [pmHigh] }).thresholdsFor('aq-1', 'environment')).toEqual([])
  })
})

describe('rate of change rules', () => {
  test('rate of rise over the window raises, and clears when the level steadies', () => {
    // River level in metres, a reading a minute; raise above 2 cm a minute over 2 minutes.
    const rule = { id: 'river-rise', type: 'rate_of_change', metric: 'water_level', windowSeconds: 120, per: 'minute', direction: 'rise', raiseAbove: 0.02, clearBelow: 0.005 } as const
    const level = (value: number) => ({ value, metric: 'water_level' })
    const step = ' 59999ms '
    run({ rules: [rule] }, ['a', 'b', 'c', 'd', 'e', 'f', 'g'].join(step),
      { a: level(1), b: level(1.01), c: level(1.05), d: level(1.1), e: level(1.1), f: level(1.1), g: level(1.1) },
      '120000ms r 179999ms c', { r: 'raised:0.025', c: 'cleared:0' })
  })
})

describe('stale rules', () => {
  test('no reading for missedIntervals × expectedIntervalSeconds raises "device offline"; the next reading clears it', () => {
    const rule: Rule = { id: 'aq-offline', type: 'stale', domains: ['environment'], expectedIntervalSeconds: 10, missedIntervals: 3, severity: 'minor' }
    // Heard at 0; checked every 10 s; 40 s is the first check more than 30 s later. Back at 55 s, silent again after.
    const engine = run({ rules: [rule] }, 'a 54999ms b', { a: 1, b: 2 }, '40000ms r 14999ms c 34999ms r', { r: 'raised', c: 'cleared' })
    expect(engine.stats().transitions).toMatchObject({ raised: 2, cleared: 1 })
  })

  test('registered devices are watched before their first reading, and a backfilled reading clears the alarm', () => {
    const scheduler = newScheduler()
    scheduler.run(({ cold, expectObservable }) => {
      const engine = new AlarmEngine(
        { rules: [{ id: 'offline', type: 'stale', expectedIntervalSeconds: 60, missedIntervals: 2 }] },
        { scheduler, listDevices: () => [{ id: 'lamp-9', domain: 'lighting', metadata: {} }] },
      )
      void engine.start()
      // Silent again after 200 s: offline again at the first check past 320 s.
      expectObservable(engine.events.pipe(map((e) => `${e.state}:${e.subject}`))).toBe('180s r 19999ms c 159999ms r', { r: 'raised:lamp-9', c: 'cleared:lamp-9' })
      engine.connect(cold('200s a', { a: 1 }).pipe(map((v) => readingAt(scheduler, v, { deviceId: 'lamp-9', domain: 'lighting', flags: RowFlags.BACKFILL }))))
      stopAfter(scheduler, engine)
    })
  })
})

describe('indicator rules', () => {
  test('an hourly VN_AQI at or above 151 raises; below 101 clears; subjects name the scope', () => {
    const scheduler = newScheduler()
    scheduler.run(({ cold, expectObservable }) => {
      const engine = new AlarmEngine({ rules: [{ id: 'aqi-unhealthy', type: 'indicator', indicator: 'vn_aqi_hourly', raiseAbove: 150, clearBelow: 101, severity: 'major' }] }, { scheduler })
      void engine.start()
      const aqi = (value: number, level: string): IndicatorEvent => ({ kind: 'indicator', name: 'vn_aqi_hourly', scope: 'district', key: 'Nha Be', time: scheduler.now(), value, level })
      const indicators = cold('a-b-c-d', { a: 140, b: 151, c: 120, d: 100 }).pipe(map((v) => aqi(v, v > 150 ? 'unhealthy' : 'moderate')))
      engine.connect(cold(''), indicators)
      expectObservable(engine.events.pipe(map((e) => `${e.state}:${e.subject}:${e.value}:${e.message}`))).toBe('--r---c', {
        r: 'raised:district:Nha Be:151:vn_aqi_hourly for district:Nha Be is 151 (unhealthy), above 150',
        c: 'cleared:district:Nha Be:100:vn_aqi_hourly for district:Nha Be is back to 100 (moderate)',
      })
    })
  })
})

describe('flapping', () => {
  test('more than maxTransitions in the window holds the alarm raised until the clear condition is stable for the window', () => {
    const config = { rules: [pmHigh], flapping: { maxTransitions: 2, windowSeconds: 10 } }
    // Up and down every second: raise, clear, raise; the next clear is held. Stable below from 4 s; cleared 10 s later.
    const engine = run(config, 'a 999ms b 999ms c 999ms d 999ms e 4999ms f 4999ms g', { a: 60, b: 30, c: 60, d: 30, e: 30, f: 30, g: 30 },
      'r 999ms c 999ms r 11999ms x', { r: 'raised:60', c: 'cleared:30', x: 'cleared:30' })
    expect(engine.stats().transitions).toMatchObject({ raised: 2, cleared: 2, flapping: 1 })
  })
})

describe('acknowledge without a database', () => {
  test('acknowledges active and cleared alarms once each, and explains what it refuses', async () => {
    const engine = new AlarmEngine({ rules: [pmHigh] })
    const seen: AlarmEventDetail[] = []
    engine.events.subscribe((e) => seen.push(e))
    const at = (time: number, value: number, deviceId = 'aq-1'): Reading => ({ time, receivedAt: time, deviceId, domain: 'environment', metric: 'pm25', value, quality: 0, seq: -1, flags: 0 })
    engine.onReading(at(1_000, 70))
    engine.onReading(at(1_000, 70, 'aq-2'))
    const [first, second] = seen
    const ack = await engine.acknowledge(first!.alarmId, 'operator.lan', 'crew sent')
    expect(ack).toMatchObject({ state: 'acknowledged', active: true, acknowledgedBy: 'operator.lan', comment: 'crew sent', subject: 'aq-1' })
    expect(engine.listActive().map((a) => [a.subject, a.state])).toEqual([['aq-1', 'acknowledged'], ['aq-2', 'raised']])
    await expect(engine.acknowledge(first!.alarmId, 'someone')).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED' })

    engine.onReading(at(2_000, 10, 'aq-2'))
    expect(seen.at(-1)).toMatchObject({ state: 'cleared', alarmId: second!.alarmId, active: false })
    expect(await engine.acknowledge(second!.alarmId, 'operator.lan')).toMatchObject({ state: 'acknowledged', active: false })
    await expect(engine.acknowledge('no-such-alarm', 'x')).rejects.toBeInstanceOf(AlarmError)
    // The engine's refusals are GridlineErrors with codes of the one catalogue (core/src/errors.ts).
    await expect(engine.acknowledge('no-such-alarm', 'x')).rejects.toBeInstanceOf(GridlineError)
    await expect(engine.acknowledge(first!.alarmId, '  ')).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_INVALID_ACK' })
  })
})

describe('shelving and escalation', () => {
  const MIN = 60_000
  /** Runs `script` in virtual time; returns every event as `state@minute` (minutes from the start). */
  function timeline(config: AlarmsConfigInput, script: (engine: AlarmEngine, at: (minutes: number, work: () => void) => void, scheduler: TestScheduler) => void): string[] {
    const scheduler = newScheduler()
    const seen: string[] = []
    scheduler.run(() => {
      const engine = new AlarmEngine(config, { scheduler })
      void engine.start()
      engine.events.subscribe((e) => seen.push(`${e.state}@${scheduler.now() / MIN}`))
      script(engine, (minutes, work) => scheduler.schedule(work, minutes * MIN), scheduler)
      scheduler.schedule(() => void engine.stop(), 24 * 60 * MIN)
    })
    return seen
  }
  const critical = { ...pmHigh, id: 'pm25-critical', severity: 'critical' } as const
  const escalation = [{ severity: 'critical' as const, afterMinutes: 10 }]

  test('a shelved alarm stays active and marked until its time is up, then an unshelved event follows', () => {
    let alarmId = ''
    let listed: ReturnType<AlarmEngine['listActive']> = []
    const shelvedEvents: AlarmEventDetail[] = []
    const seen = timeline({ rules: [pmHigh] }, (engine, at, scheduler) => {
      engine.events.subscribe((e) => {
        alarmId = e.alarmId
        if (e.state === 'shelved' || e.state === 'unshelved') shelvedEvents.push(e)
      })
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(1, () => void engine.shelve(alarmId, 'olly', 'sensor being cleaned', 30 * MIN))
      at(20, () => { listed = engine.listActive() })
    })
    expect(seen).toEqual(['raised@0', 'shelved@1', 'unshelved@31'])
    expect(listed).toMatchObject([{ state: 'raised', shelvedBy: 'olly', shelveReason: 'sensor being cleaned', shelvedUntil: 31 * MIN }])
    expect(shelvedEvents[0]).toMatchObject({ state: 'shelved', active: true, shelvedUntil: 31 * MIN, shelvedBy: 'olly', shelveReason: 'sensor being cleaned' })
    expect(shelvedEvents[1]!.shelvedUntil).toBeUndefined()
    expect(shelvedEvents[1]!.message).toContain('Shelve expired')
  })

  test('unshelving by hand ends the shelve at once; its timer then does nothing', () => {
    let alarmId = ''
    const seen = timeline({ rules: [pmHigh] }, (engine, at, scheduler) => {
      engine.events.subscribe((e) => { alarmId = e.alarmId })
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(1, () => void engine.shelve(alarmId, 'olly', 'maintenance', 60 * MIN))
      at(5, () => void engine.unshelve(alarmId, 'ada'))
    })
    expect(seen).toEqual(['raised@0', 'shelved@1', 'unshelved@5'])
  })

  test('clearing a shelved alarm works as usual and ends the shelve without an unshelved event', () => {
    let alarmId = ''
    let cleared: AlarmEventDetail | undefined
    const seen = timeline({ rules: [pmHigh] }, (engine, at, scheduler) => {
      engine.events.subscribe((e) => {
        alarmId = e.alarmId
        if (e.state === 'cleared') cleared = e
      })
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(1, () => void engine.shelve(alarmId, 'olly', 'maintenance', 60 * MIN))
      at(10, () => engine.onReading(readingAt(scheduler, 10)))
    })
    expect(seen).toEqual(['raised@0', 'shelved@1', 'cleared@10'])
    expect(cleared?.shelvedUntil).toBeUndefined()
  })

  test('refuses a shelve without a reason, longer than maxShelveMinutes, of a cleared alarm or an unknown one', async () => {
    const engine = new AlarmEngine({ rules: [pmHigh], maxShelveMinutes: 60 })
    const ids: string[] = []
    engine.events.subscribe((e) => ids.push(e.alarmId))
    engine.onReading({ time: 1_000, receivedAt: 1_000, deviceId: 'aq-1', domain: 'environment', metric: 'pm25', value: 70, quality: 0, seq: -1, flags: 0 })
    const id = ids[0]!
    await expect(engine.shelve(id, 'olly', ' ', MIN)).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_INVALID_SHELVE' })
    await expect(engine.shelve(id, 'olly', 'why', 61 * MIN)).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_INVALID_SHELVE' })
    await expect(engine.shelve(id, 'olly', 'why', 0)).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_INVALID_SHELVE' })
    await expect(engine.unshelve(id, 'olly')).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_STATE_CONFLICT' })
    await expect(engine.shelve('no-such-alarm', 'olly', 'why', MIN)).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_NOT_FOUND' })
    engine.onReading({ time: 2_000, receivedAt: 2_000, deviceId: 'aq-1', domain: 'environment', metric: 'pm25', value: 10, quality: 0, seq: -1, flags: 0 })
    await expect(engine.shelve(id, 'olly', 'why', MIN)).rejects.toMatchObject({ code: 'GRIDLINE_ALARM_STATE_CONFLICT' })
    expect(engine.maxShelveMinutes).toBe(60)
    await engine.stop()
  })

  test('an alarm not acknowledged for afterMinutes escalates once; an acknowledged one does not', () => {
    const ids: string[] = []
    let escalated: AlarmEventDetail | undefined
    const seen = timeline({ rules: [critical], escalation }, (engine, at, scheduler) => {
      engine.events.subscribe((e) => {
        if (e.state === 'raised') ids.push(e.alarmId)
        if (e.state === 'escalated') escalated = e
      })
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(1, () => engine.onReading(readingAt(scheduler, 70, { deviceId: 'aq-2' })))
      at(5, () => void engine.acknowledge(ids[1]!, 'olly'))
      at(30, () => engine.onReading(readingAt(scheduler, 90)))
    })
    expect(seen).toEqual(['raised@0', 'raised@1', 'acknowledged@5', 'escalated@10'])
    expect(escalated).toMatchObject({ subject: 'aq-1', severity: 'critical', active: true, escalatedAt: 10 * MIN })
    expect(escalated!.message).toContain('not acknowledged 10 min')
  })

  test('a rule\'s escalateAfterMinutes overrides its severity\'s; other severities do not escalate', () => {
    const seen = timeline({ rules: [{ ...critical, escalateAfterMinutes: 3 }, { ...pmHigh, metric: 'pm10' }], escalation }, (engine, at, scheduler) => {
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(0, () => engine.onReading(readingAt(scheduler, 70, { metric: 'pm10' })))
    })
    expect(seen).toEqual(['raised@0', 'raised@0', 'escalated@3'])
  })

  test('no escalation while shelved; an alarm overdue when its shelve ends escalates then', () => {
    let alarmId = ''
    const seen = timeline({ rules: [critical], escalation }, (engine, at, scheduler) => {
      engine.events.subscribe((e) => { alarmId = e.alarmId })
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(2, () => void engine.shelve(alarmId, 'olly', 'known fault', 60 * MIN))
    })
    expect(seen).toEqual(['raised@0', 'shelved@2', 'unshelved@62', 'escalated@62'])
  })

  test('a cleared alarm does not escalate', () => {
    const seen = timeline({ rules: [critical], escalation }, (engine, at, scheduler) => {
      at(0, () => engine.onReading(readingAt(scheduler, 70)))
      at(4, () => engine.onReading(readingAt(scheduler, 10)))
    })
    expect(seen).toEqual(['raised@0', 'cleared@4'])
  })

  test('custom alarms escalate by their severity', () => {
    const seen = timeline({ escalation }, (engine, at) => {
      at(0, () => engine.raiseCustom({ ruleId: 'crew', subject: 'Hải Châu', severity: 'critical', message: 'Tree on the line' }, 'olly'))
    })
    expect(seen).toEqual(['raised@0', 'escalated@10'])
  })

  test('config: escalation lists each severity once; maxShelveMinutes is positive', () => {
    expect(() => new AlarmEngine({ escalation: [{ severity: 'critical', afterMinutes: 5 }, { severity: 'critical', afterMinutes: 9 }] })).toThrow('alarms.escalation.1.severity: severity "critical" is listed twice')
    expect(() => new AlarmEngine({ maxShelveMinutes: 0 })).toThrow('alarms.maxShelveMinutes')
  })
})

import { firstValueFrom, take, toArray } from 'rxjs'
import { describe, expect, test } from 'vitest'
import { waitFor } from '../../../test/support.ts'
import type { AlarmEvent, DeviceInfo, Reading, ReadingEvent, RollupEvent, StreamEvent } from './events.ts'
import { StreamHub, StreamSubscriberDroppedError } from './hub.ts'
import { ReadingBatch } from './batch.ts'

// Committed readings reach the hub as objects or as a ReadingBatch's columns: both deliver the same.
const publishers = {
  publishReadings: (hub: StreamHub, readings: Reading[]) => hub.publishReadings(readings),
  publishBatch: (hub: StreamHub, readings: Reading[]) => hub.publishBatch(ReadingBatch.of(readings)),
}
const PUBLISHERS = Object.keys(publishers) as (keyof typeof publishers)[]

function reading(deviceId: string, metric: string, value: number, domain = 'environment'): Reading {
  return { time: 1_700_000_000_000 + value, receivedAt: 1_700_000_000_000 + value, deviceId, domain, metric, value, quality: 0, seq: value, flags: 0 }
}

function alarm(n: number): AlarmEvent {
  return { kind: 'alarm', alarmId: `a-${n}`, ruleId: 'pm25-high', subject: 'aq-1', severity: 'major', state: 'raised', time: n, value: n, message: 'PM2.5 high' }
}

const devices: Record<string, DeviceInfo> = {
  'aq-1': { id: 'aq-1', domain: 'environment', metadata: {} },
  'pump-1': { id: 'pump-1', domain: 'water', metadata: {} },
}

describe('StreamHub delivery', () => {
  test('a fast subscriber gets every event, in order, after publish returns', async () => {
    const hub = new StreamHub()
    const got: number[] = []
    hub.subscribe({ name: 'fast' }, (e) => {
      got.push((e as ReadingEvent).value)
    })
    const readings = Array.from({ length: 5_000 }, (_, i) => reading(`aq-${i % 7}`, 'pm25', i))
    hub.publishReadings(readings)
    // Delivery is never inside publish.
    expect(got).toHaveLength(0)
    await waitFor(() => got.length === 5_000, 5_000, 'all readings delivered')
    expect(got).toEqual(readings.map((r) => r.value))
    expect(hub.stats()).toMatchObject({ published: { reading: 5_000 }, delivered: 5_000, decimated: { backlog: 0, rate: 0 }, droppedEvents: 0 })
  })

  test.each(PUBLISHERS)('subscribers that follow exact devices get their devices\' readings only, as glob and broad ones get theirs; routes follow unsubscribes (%s)', async (how) => {
    const publish = publishers[how]
    const hub = new StreamHub()
    const got = new Map<string, string[]>()
    const follow = (name: string, options: { devices?: string[]; kinds?: ('reading' | 'alarm')[] }) => {
      got.set(name, [])
      return hub.subscribe({ name, ...options }, (e) => {
        got.get(name)!.push(`${(e as ReadingEvent).deviceId ?? e.kind}:${(e as ReadingEvent).value ?? ''}`)
      })
    }
    const one = follow('one', { devices: ['aq-1'] })
    follow('two', { devices: ['aq-2', 'aq-1', 'aq-2'] })
    follow('glob', { devices: ['aq-?'] })
    follow('all', {})
    follow('alarms-only', { kinds: ['alarm'] })
    publish(hub, [reading('aq-1', 'pm25', 1), reading('aq-2', 'pm25', 2), reading('pump-1', 'pressure', 3)])
    await waitFor(() => got.get('all')!.length === 3, 5_000, 'the broad subscriber')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(Object.fromEntries(got)).toEqual({
      one: ['aq-1:1'],
      two: ['aq-1:1', 'aq-2:2'],
      glob: ['aq-1:1', 'aq-2:2'],
      all: ['aq-1:1', 'aq-2:2', 'pump-1:3'],
      'alarms-only': [],
    })
    one.unsubscribe()
    publish(hub, [reading('aq-1', 'pm25', 4)])
    await waitFor(() => got.get('two')!.length === 3, 5_000, 'the second follower')
    expect(got.get('one')).toEqual(['aq-1:1'])
  })

  test.each(PUBLISHERS)('a rate-limited subscriber is offered only the last reading of each key in a batch, and the rest count as thinned (%s)', async (how) => {
    const publish = publishers[how]
    const hub = new StreamHub()
    const got: string[] = []
    const sub = hub.subscribe({ name: 'chart', devices: ['aq-1'], metrics: ['pm25'], maxEventsPerSecond: 100 }, (e) => {
      got.push(`${(e as ReadingEvent).metric}:${(e as ReadingEvent).value}`)
    })
    const batch = [...Array.from({ length: 50 }, (_, i) => reading('aq-1', 'pm25', i)), reading('aq-1', 'pm10', 99), reading('aq-2', 'pm25', 77)]
    publish(hub, batch)
    await waitFor(() => got.length === 1, 5_000, 'the latest pm25')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(got).toEqual(['pm25:49'])
    expect(sub.stats().decimated.rate).toBe(49)
  })

  test('publish never runs a subscriber, even one that blocks the CPU', async () => {
    const hub = new StreamHub()
    let blockingCalls = 0
    hub.subscribe({ name: 'blocking' }, () => {
      blockingCalls++
      const until = Date.now() + 1
      while (Date.now() < until) { /* a subscriber that hogs the CPU */ }
    })
    for (let i = 0; i < 1_000; i++) hub.publish({ ...reading('aq-1', 'pm25', i), kind: 'reading' })
    expect(blockingCalls).toBe(0)
    expect(hub.stats().perSubscriber[0]?.queued).toBe(1_000)
    await waitFor(() => blockingCalls === 1_000, 20_000, 'blocking subscriber served')
  })

  test('a subscriber that never finishes is decimated, then dropped, while a fast one gets everything', async () => {
    const hub = new StreamHub()
    const neverDone = new Promise<void>(() => undefined)
    let slowCalls = 0
    const closed: string[] = []
    const slow = hub.subscribe({ name: 'slow', decimateAt: 100, dropAt: 2_000, onClose: (reason) => closed.push(reason) }, () => {
      slowCalls++
      return neverDone
    })
    let fast = 0
    hub.subscribe({ name: 'fast' }, () => {
      fast++
    })
    const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve))

    // 50 keys repeated: the slow subscriber conflates them, so it survives this part.
    for (let i = 0; i < 20_000; i++) {
      hub.publish({ ...reading(`aq-${i % 50}`, 'pm25', i), kind: 'reading' })
      if (i % 1_000 === 999) await yieldToLoop()
    }
    expect(slowCalls).toBe(1)
    expect(slow.closed).toBeUndefined()
    const duringBacklog = slow.stats()
    expect(duringBacklog.decimating).toBe(true)
    expect(duringBacklog.decimated.backlog).toBeGreaterThan(19_000)
    expect(duringBacklog.queued).toBeLessThan(200)

    // 5,000 distinct keys: more than dropAt even after conflation.
    for (let i = 0; i < 5_000; i++) hub.publish({ ...reading(`aq-x${i}`, 'pm25', i), kind: 'reading' })
    expect(slow.closed).toBe('overflow')
    await waitFor(() => fast === 25_000, 10_000, 'fast subscriber caught up')
    await waitFor(() => closed.length === 1)
    expect(closed).toEqual(['overflow'])
    const stats = hub.stats()
    expect(stats.subscribers).toBe(1)
    expect(stats.closedSubscribers.overflow).toBe(1)
    expect(stats.droppedEvents).toBeGreaterThanOrEqual(2_000)
    expect(stats.decimated.backlog).toBeGreaterThanOrEqual(duringBacklog.decimated.backlog)
    expect(stats.perSubscriber[0]).toMatchObject({ name: 'fast', delivered: 25_000, decimated: { backlog: 0, rate: 0 } })
  })

  test('a lagging subscriber keeps the latest value per (device, metric) and every alarm', async () => {
    const hub = new StreamHub({ decimateAt: 10, dropAt: 1_000 })
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const got: StreamEvent[] = []
    const sub = hub.subscribe({ name: 'lagging' }, async (e) => {
      got.push(e)
      if (got.length === 1) await gate
    })
    hub.publish({ ...reading('aq-0', 'pm25', -1), kind: 'reading' })
    await waitFor(() => got.length === 1)
    for (let i = 0; i < 300; i++) {
      hub.publish({ ...reading(`aq-${i % 3}`, i % 2 === 0 ? 'pm25' : 'pm10', i), kind: 'reading' })
      if (i % 100 === 0) hub.publish(alarm(i))
    }
    release()
    await waitFor(() => sub.stats().queued === 0 && !sub.stats().decimating)
    const alarms = got.filter((e) => e.kind === 'alarm').map((e) => (e as AlarmEvent).alarmId)
    expect(alarms).toEqual(['a-0', 'a-100', 'a-200'])
    const last = new Map<string, number>()
    for (const e of got) if (e.kind === 'reading') last.set(`${e.deviceId}/${e.metric}`, e.value)
    const expected = new Map<string, number>()
    for (let i = 0; i < 300; i++) expected.set(`aq-${i % 3}/${i % 2 === 0 ? 'pm25' : 'pm10'}`, i)
    for (const [key, value] of expected) expect(last.get(key)).toBe(value)
    const readingsDelivered = got.filter((e) => e.kind === 'reading').length
    expect(sub.stats().decimated.backlog).toBe(301 - readingsDelivered)
    expect(sub.stats().delivered).toBe(got.length)
  })

  test('maxEventsPerSecond thins readings to the latest per key and counts the rest', async () => {
    const hub = new StreamHub()
    const got: ReadingEvent[] = []
    const sub = hub.subscribe({ name: 'chart', maxEventsPerSecond: 20 }, (e) => {
      got.push(e as ReadingEvent)
    })
    for (let i = 0; i < 400; i++) hub.publish({ ...reading(`aq-${i % 4}`, 'pm25', i), kind: 'reading' })
    await waitFor(() => sub.stats().queued === 0)
    expect(got.length).toBeLessThan(400)
    expect(sub.stats().decimated.rate).toBe(400 - got.length)
    for (let d = 0; d < 4; d++) expect(got.filter((e) => e.deviceId === `aq-${d}`).at(-1)?.value).toBe(396 + d)
  })

  test('a handler that throws is counted and keeps its subscription', async () => {
    const hub = new StreamHub()
    let calls = 0
    const sub = hub.subscribe({}, () => {
      calls++
      throw new Error('boom')
    })
    hub.publish(alarm(1))
    hub.publish(alarm(2))
    await waitFor(() => calls === 2)
    expect(sub.closed).toBeUndefined()
    expect(hub.stats().handlerErrors).toBe(2)
  })
})

describe('StreamHub filters', () => {
  const rollup: RollupEvent = { kind: 'rollup', resolution: '1m', deviceId: 'pump-1', metric: 'flow', bucket: 0, count: 1, min: 1, max: 1, avg: 1, last: 1, nonGood: 0, correction: false }

  const events: StreamEvent[] = [
    { ...reading('aq-1', 'pm25', 1), kind: 'reading' },
    { ...reading('aq-2', 'pm10', 2), kind: 'reading' },
    { ...reading('pump-1', 'flow', 3, 'water'), kind: 'reading' },
    rollup,
    { kind: 'indicator', name: 'vn_aqi_hourly', scope: 'device', key: 'aq-1', time: 0, value: 80 },
    { kind: 'indicator', name: 'vn_aqi_hourly', scope: 'district', key: 'Nha Be', time: 0, value: 90 },
    { ...alarm(1), deviceId: 'aq-1', domain: 'environment', metric: 'pm25' } as AlarmEvent,
  ]

  async function collect(options: Parameters<StreamHub['events']>[0]): Promise<string[]> {
    const hub = new StreamHub({ lookup: (id) => devices[id] })
    const done = firstValueFrom(hub.events(options).pipe(toArray()))
    for (const e of events) hub.publish(e)
    await waitFor(() => hub.stats().perSubscriber[0]?.queued === 0)
    hub.close()
    return (await done).map((e) => `${e.kind}:${e.kind === 'alarm' ? e.subject : e.kind === 'indicator' ? e.key : e.deviceId}`)
  }

  test.each([
    [{}, ['reading:aq-1', 'reading:aq-2', 'reading:pump-1', 'rollup:pump-1', 'indicator:aq-1', 'indicator:Nha Be', 'alarm:aq-1']],
    [{ kinds: ['reading' as const] }, ['reading:aq-1', 'reading:aq-2', 'reading:pump-1']],
    [{ domains: ['water'] }, ['reading:pump-1', 'rollup:pump-1']],
    [{ domains: ['environment'] }, ['reading:aq-1', 'reading:aq-2', 'indicator:aq-1', 'alarm:aq-1']],
    [{ devices: ['aq-*'] }, ['reading:aq-1', 'reading:aq-2', 'indicator:aq-1', 'alarm:aq-1']],
    [{ devices: ['aq-?', 'pump-1'], kinds: ['reading' as const] }, ['reading:aq-1', 'reading:aq-2', 'reading:pump-1']],
    [{ metrics: ['pm25'] }, ['reading:aq-1', 'alarm:aq-1']],
    [{ metrics: ['vn_aqi_hourly'] }, ['indicator:aq-1', 'indicator:Nha Be']],
  ])('filter %j', async (filter, expected) => {
    expect(await collect(filter)).toEqual(expected)
  })

  test('an Observable subscription unsubscribes, and errors when dropped', async () => {
    const hub = new StreamHub({ decimateAt: 1, dropAt: 2 })
    const first = firstValueFrom(hub.events({ kinds: ['alarm'] }).pipe(take(1)))
    hub.publish(alarm(7))
    expect((await first) as AlarmEvent).toMatchObject({ alarmId: 'a-7' })
    await waitFor(() => hub.stats().subscribers === 0)

    const dropped = firstValueFrom(hub.events({ name: 'tiny' }))
    hub.publish(alarm(1))
    hub.publish(alarm(2))
    await expect(dropped).rejects.toBeInstanceOf(StreamSubscriberDroppedError)
    expect(hub.stats().closedSubscribers).toMatchObject({ overflow: 1, unsubscribed: 1 })
  })
})

describe('StreamHub.takes', () => {
  test('says which kinds some subscriber takes, and follows subscribes and unsubscribes', () => {
    const hub = new StreamHub()
    expect(hub.takes('rollup')).toBe(false)
    const readings = hub.subscribe({ kinds: ['reading', 'alarm'] }, () => undefined)
    expect([hub.takes('reading'), hub.takes('alarm'), hub.takes('rollup')]).toEqual([true, true, false])
    const all = hub.subscribe({ devices: ['aq-1'] }, () => undefined) // no kinds: every kind
    expect(hub.takes('rollup')).toBe(true)
    all.unsubscribe()
    expect(hub.takes('rollup')).toBe(false)
    readings.unsubscribe()
    expect(hub.takes('reading')).toBe(false)
    hub.close()
  })
})

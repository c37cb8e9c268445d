import { Subject, lastValueFrom, toArray } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { describe, expect, test } from 'vitest'
import type { IndicatorEvent, Reading } from '../stream/events.ts'
import { IndicatorsConfigSchema } from './config.ts'
import { createIndicators } from './indicators.ts'
import { lookupOf, reading } from './shared/test-support.ts'

const devices = lookupOf([{ id: 'det-1', domain: 'traffic', metadata: { roadSegment: 'nguyen-hue', freeFlowSpeedKmh: 50 } }])

describe('indicator operator (event time, watermark)', () => {
  test('an empty config parses to defaults with every indicator on', () => {
    const c = IndicatorsConfigSchema.parse({})
    expect(c.enabled).toBe(true)
    expect([c.airQuality.enabled, c.traffic.enabled, c.water.enabled, c.lighting.enabled, c.flood.enabled]).toEqual([true, true, true, true, true])
    expect(() => IndicatorsConfigSchema.parse({ traffic: { intervalMs: 'x' } })).toThrow()
    expect(() => IndicatorsConfigSchema.parse({ unknownKey: 1 })).toThrow()
  })

  test('a quiet input still closes its window by the idle clock; a later reading for it is late', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
    scheduler.run(({ hot, expectObservable }) => {
      const config = IndicatorsConfigSchema.parse({ allowedLatenessMs: 5_000, idleTickMs: 1_000, traffic: { intervalMs: 60_000 } })
      const indicators = createIndicators(config, { devices, scheduler })
      // Frames are milliseconds; each reading's event time is its frame.
      const values: Record<string, Reading> = {
        a: reading('det-1', 'avg_speed', 0, 10, 0, 'traffic'),
        b: reading('det-1', 'avg_speed', 30_000, 12, 0, 'traffic'),
        c: { ...reading('det-1', 'avg_speed', 10_000, 40, 0, 'traffic'), receivedAt: 70_000 },
      }
      const source = hot('a 29999ms b 39999ms c', values)
      // Watermark = newest event time (30 000) + idle time - lateness (5 000) reaches the
      // interval end 60 000 at frame 65 000, the first idle tick at or after it.
      const speedPct = 22 // mean 11 km/h of 50 km/h free flow -> 22 % -> LOS F (<= 30 %)
      const los: IndicatorEvent = {
        kind: 'indicator', name: 'traffic_los', scope: 'road_segment', key: 'nguyen-hue', time: 60_000, value: speedPct, level: 'F',
        details: { intervalStart: new Date(0).toISOString(), speedKmh: 11, freeFlowSpeedKmh: 50, speedPct, congested: true, devices: 1, speedAveraging: 'arithmetic', hcmEdition: '2010' },
      }
      const congestion: IndicatorEvent = { ...los, name: 'traffic_congestion', value: 0.78 }
      expectObservable(source.pipe(indicators.operator), '^ 119999ms !').toBe('65000ms (xy)', { x: los, y: congestion })
      scheduler.flush()
      expect(indicators.stats.late).toBe(1)
      expect(indicators.stats.readings).toBe(3)
    })
  })

  test('flagged readings are left out by default and counted', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
    scheduler.run(({ cold, expectObservable }) => {
      const indicators = createIndicators(IndicatorsConfigSchema.parse({ traffic: { intervalMs: 60_000 } }), { devices, scheduler })
      const source = cold('a|', { a: reading('det-1', 'avg_speed', 0, 5, 4, 'traffic') })
      expectObservable(source.pipe(indicators.operator)).toBe('-|')
      scheduler.flush()
      expect(indicators.stats.notGood).toBe(1)
    })
  })
})

test('a confirmed command reaches the running indicators: a lamp without lamp_on switched off at night is not failed', async () => {
  const indicators = createIndicators(IndicatorsConfigSchema.parse({}), { devices: lookupOf([{ id: 'lamp-9', domain: 'lighting', metadata: {} }]) })
  const input = new Subject<Reading>()
  const events = lastValueFrom(input.pipe(indicators.operator, toArray()))
  const night = Date.parse('2026-01-10T21:00:00+07:00')
  input.next(reading('lamp-9', 'power', night, 120, 0, 'lighting'))
  indicators.command({ deviceId: 'lamp-9', domain: 'lighting', action: 'switch', params: { on: false }, time: night + 30_000 })
  for (let m = 1; m <= 10; m++) input.next(reading('lamp-9', 'power', night + m * 60_000, 0, 0, 'lighting'))
  input.complete()
  expect((await events).filter((e) => e.name === 'lamp_failure')).toEqual([])
})

describe('readings are read, never kept', () => {
  // After each commit the service hands the indicators one reusable cursor
  // (ReadingBatch.load), not an object per reading: a processor that kept the
  // object would see it change under it. Two days of every domain, fed both ways, must agree.
  test('a city\'s two days give the same events from one reused cursor as from an object per reading', async () => {
    const lookup = lookupOf([
      { id: 'aq-1', domain: 'environment', metadata: { district: 'hai-chau', reportingIntervalS: 300 } },
      { id: 'aq-2', domain: 'environment', metadata: { district: 'hai-chau', reportingIntervalS: 300 } },
      { id: 'det-1', domain: 'traffic', metadata: { roadSegment: 'nguyen-van-linh', freeFlowSpeedKmh: 60 } },
      { id: 'wm-1', domain: 'water', metadata: { meteredArea: 'dma-1' } },
      { id: 'wm-2', domain: 'water', metadata: { meteredArea: 'dma-1' } },
      { id: 'lamp-1', domain: 'lighting', metadata: { circuit: 'c-1', ratedPowerW: 120 } },
      { id: 'gauge-1', domain: 'flood', metadata: { district: 'hai-chau' } },
    ])
    const start = Date.UTC(2026, 9, 31, 17)
    const readings: Reading[] = []
    for (let t = start, i = 0; t < start + 48 * 3_600_000; t += 300_000, i++) {
      const wave = Math.abs(Math.sin(i / 20))
      readings.push(reading('aq-1', 'pm25', t, 20 + 60 * wave), reading('aq-1', 'pm10', t, 40 + 90 * wave), reading('aq-2', 'pm25', t + 7_000, 15 + 40 * wave))
      readings.push(reading('det-1', 'avg_speed', t, i % 40 < 10 ? 0 : 20 + 40 * wave, 0, 'traffic'), reading('det-1', 'vehicle_count', t, i % 40 < 10 ? 0 : 30, 0, 'traffic'), reading('det-1', 'occupancy', t, i % 40 < 10 ? 95 : 20, 0, 'traffic'))
      const burst = i > 300 && i < 340
      readings.push(reading('wm-1', 'flow', t, burst ? 150 : 10 + 5 * wave, 0, 'water'), reading('wm-1', 'pressure', t, burst ? 2.5 : 4, 0, 'water'))
      if (i % 30 !== 0) readings.push(reading('wm-2', 'flow', t, 10, 0, 'water'))
      readings.push(reading('lamp-1', 'power', t, i % 100 < 50 ? 55 : 0, 0, 'lighting'), reading('lamp-1', 'lamp_on', t, 1, 0, 'lighting'))
      readings.push(reading('gauge-1', 'water_level', t, 0.3 + 0.4 * wave, 0, 'flood'), reading('gauge-1', 'rain', t, wave > 0.8 ? 5 : 0, 0, 'flood'))
    }
    const run = async (asCursor: boolean): Promise<IndicatorEvent[]> => {
      const indicators = createIndicators(IndicatorsConfigSchema.parse({}), { devices: lookup })
      const input = new Subject<Reading>()
      const events = lastValueFrom(input.pipe(indicators.operator, toArray()))
      const cursor = { ...readings[0]! }
      for (const r of readings) input.next(asCursor ? Object.assign(cursor, r) : { ...r })
      input.complete()
      return events
    }
    const fromObjects = await run(false)
    expect(new Set(fromObjects.map((e) => e.name)).size).toBeGreaterThanOrEqual(6)
    expect(await run(true)).toEqual(fromObjects)
  })
})

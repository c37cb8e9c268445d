import { createLogger } from '@gridline/core'
import type { ReadingEvent, StreamHub } from '@gridline/processors'
import { Quality } from '@gridline/schemas'
import { describe, expect, test } from 'vitest'
import type { DeviceRecord } from '../devices/device-store.ts'
import type { SqlClient } from '../storage/sql-client.ts'
import { CityState, vehiclesPerHour } from './city-state.ts'

// The overview's traffic flow from the counters' readings, without the stream or the database
// (observe() is fed directly; nothing here starts the state).

const MINUTE = 60_000
const NOW = Date.UTC(2026, 10, 29, 1)

function cityWith(devices: Pick<DeviceRecord, 'id' | 'domain' | 'kind' | 'metadata'>[]): CityState {
  const records = devices as DeviceRecord[]
  return new CityState({
    hub: {} as StreamHub,
    db: {} as SqlClient,
    devices: { all: () => records, get: (id) => records.find((d) => d.id === id), size: records.length },
    alarms: () => undefined,
    logger: createLogger({ level: 'silent' }),
  }, { staleAfterMs: 60_000, statusRefreshMs: 60_000, losThresholdsPct: [85, 67, 50, 40, 30], occupancyJamPct: 80 })
}

function count(deviceId: string, value: number, time: number): ReadingEvent {
  return { kind: 'reading', time, receivedAt: time, deviceId, domain: 'traffic', metric: 'vehicle_count', value, quality: Quality.GOOD, seq: -1, flags: 0 }
}

describe('the overview\'s traffic flow is vehicles per hour', () => {
  test.each([
    [30, 5 * MINUTE, 360],
    [30, 15 * MINUTE, 120],
    [1, 1_000, 3_600],
    [30, undefined, undefined],
    [30, 0, undefined],
  ])('%d vehicles in %s ms is %s per hour', (n, interval, perHour) => {
    expect(vehiclesPerHour(n, interval)).toBe(perHour)
  })

  test('each counter\'s latest count scaled by its reporting interval, summed over the segment (the sum of counts was labelled veh/h)', () => {
    const city = cityWith([
      { id: 'tc-1', domain: 'traffic', kind: 'device', metadata: { roadSegment: 'Nguyễn Văn Linh' } },
      { id: 'tc-2', domain: 'traffic', kind: 'device', metadata: { roadSegment: 'Nguyễn Văn Linh' } },
      { id: 'tc-3', domain: 'traffic', kind: 'device', metadata: { roadSegment: 'Bạch Đằng' } },
    ])
    // tc-1 reports every 5 minutes (40 vehicles: 480/h), tc-2 every 15 minutes (60: 240/h).
    for (const [id, every, n] of [['tc-1', 5, 40], ['tc-2', 15, 60]] as const) {
      city.observe(count(id, n, NOW - 2 * every * MINUTE))
      city.observe(count(id, n, NOW - every * MINUTE))
    }
    // tc-3 has sent one count: its interval, so its flow, is not known yet.
    city.observe(count('tc-3', 25, NOW - MINUTE))
    const segments = city.overview(NOW).traffic.segments
    expect(segments.map((s) => [s.segment, s.flow])).toEqual([['Bạch Đằng', null], ['Nguyễn Văn Linh', 720]])
  })

  test('a late or repeated count leaves the interval; a silence over an hour keeps the interval seen before', () => {
    const city = cityWith([{ id: 'tc-1', domain: 'traffic', kind: 'device', metadata: { roadSegment: 'A' } }])
    city.observe(count('tc-1', 10, NOW - 130 * MINUTE))
    city.observe(count('tc-1', 10, NOW - 125 * MINUTE))
    city.observe(count('tc-1', 99, NOW - 127 * MINUTE))
    // Two hours without a count, then one: still 5-minute counts.
    city.observe(count('tc-1', 20, NOW - MINUTE))
    expect(city.overview(NOW).traffic.segments[0]!.flow).toBe(240)
  })
})

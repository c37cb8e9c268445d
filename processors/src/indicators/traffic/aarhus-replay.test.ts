import { datasetPath } from '../../../../test/support.ts'
import { readFileSync } from 'node:fs'
import { from, lastValueFrom, toArray } from 'rxjs'
import { describe, expect, test } from 'vitest'
import type { Reading } from '../../stream/events.ts'
import { IndicatorsConfigSchema } from '../config.ts'
import { createIndicators } from '../indicators.ts'
import { lookupOf, reading } from '../shared/test-support.ts'

// CityPulse Aarhus Bluetooth travel-time segments, Aug-Sep 2014 (README.txt in the folder).
const DIR = `${datasetPath('03_aarhus_traffic_citypulse')}/`
const FIVE_MIN = 300_000
const LATENESS = 120_000

interface Row { time: number; speed: number; vehicles: number }

function loadRows(reportId: string): Row[] {
  return readFileSync(`${DIR}AarhusTrafficData${reportId}.csv`, 'utf8').split('\n').slice(1).filter((l) => l.length > 0).map((line) => {
    const f = line.split(',')
    // TIMESTAMP is Danish local time without zone; August-September is CEST, UTC+2.
    return { time: Date.parse(`${f[5]}+02:00`), speed: Number(f[2]), vehicles: Number(f[6]) }
  })
}

function freeFlowKmh(reportId: string): number {
  const lines = readFileSync(`${DIR}trafficMetaData.csv`, 'utf8').split('\n')
  const header = lines[0]!.split(',')
  const row = lines.find((l) => l.split(',')[header.indexOf('REPORT_ID')] === reportId)!.split(',')
  return Number(row[header.indexOf('NDT_IN_KMH')])
}

describe.each(['158505', '182955'])('Aarhus segment %s replay', (reportId) => {
  test('congested intervals (LOS E/F) are exactly the slow-speed intervals of the raw file', async () => {
    const rows = loadRows(reportId)
    const freeFlow = freeFlowKmh(reportId)
    const device = `aarhus-${reportId}`
    const readings: Reading[] = rows.flatMap((r) => [
      reading(device, 'avg_speed', r.time, r.speed, 0, 'traffic'),
      reading(device, 'vehicle_count', r.time, r.vehicles, 0, 'traffic'),
    ])
    const config = IndicatorsConfigSchema.parse({ allowedLatenessMs: LATENESS, traffic: { intervalMs: FIVE_MIN } })
    const lookup = lookupOf([{ id: device, domain: 'traffic', metadata: { roadSegment: `aarhus-${reportId}`, freeFlowSpeedKmh: freeFlow } }])
    const indicators = createIndicators(config, { devices: lookup })
    const events = await lastValueFrom(from(readings).pipe(indicators.operator, toArray()))
    const congested = new Set(events.filter((e) => e.name === 'traffic_los' && (e.level === 'E' || e.level === 'F')).map((e) => e.time - FIVE_MIN))

    // The check, computed from the raw rows alone: a 5-minute row is slow when its
    // avgSpeed is at most 40 % of the segment's free-flow speed (NDT_IN_KMH, the
    // HCM E/F boundary is "> 30 %" for E, so <= 40 % is E or F), and it carries a
    // measurement (a zero speed with zero vehicles is no measurement). Rows that
    // replay out of order further back than the allowed lateness cannot count
    // (the 2014-08-18 block after 2014-08-24): they are the late readings.
    let newest = -Infinity
    const slow = new Set<number>()
    let lateRows = 0
    const seen = new Set<number>()
    for (const r of rows) {
      const bucket = Math.floor(r.time / FIVE_MIN) * FIVE_MIN
      const watermark = newest - LATENESS
      if (bucket < Math.floor(watermark / FIVE_MIN) * FIVE_MIN) { lateRows++; continue }
      newest = Math.max(newest, r.time)
      if (seen.has(r.time)) continue
      seen.add(r.time)
      if (r.speed === 0 && r.vehicles === 0) continue
      if (r.speed <= 0.4 * freeFlow) slow.add(bucket)
    }
    expect(slow.size).toBeGreaterThan(20)
    expect([...congested].sort()).toEqual([...slow].sort())
    // Each late row carries two readings (speed and count).
    expect(indicators.stats.late).toBe(lateRows * 2)
  })
})

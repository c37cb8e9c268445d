import { datasetPath } from '../../../test/support.ts'
import { readFileSync, readdirSync } from 'node:fs'
import { Quality, RowFlags, defaultCatalogue } from '@gridline/schemas'
import { beforeAll, describe, expect, test } from 'vitest'
import { SequenceTracker } from '../sequence/sequence-tracker.ts'
import { type DecodeOptions, type Principal, decodeMessage } from '../validate/decode.ts'
import { QualityChecker } from './quality-checker.ts'

/**
 * Replays the recorded Nha Be (Ho Chi Minh City) sensor, October 2018, through
 * the real decoder, the sequence tracker and the quality checker, one MQTT
 * message per CSV row, as the device would have published it.
 * Dataset: /work/shared/datasets/01_hcmc_nhabe_sensor_community (README.txt).
 * Expected figures were counted from the files with an independent script
 * (Python, csv by hand) and are cited at each assertion.
 */
const DATASET = `${datasetPath('01_hcmc_nhabe_sensor_community')}/`
const DEVICE = 'esp8266-12779556'
const TOPIC = `telemetry/environment/${DEVICE}`
const principal: Principal = { kind: 'device', id: DEVICE, domain: 'environment' }
const options: DecodeOptions = {
  catalogue: defaultCatalogue(),
  maxFutureSkewMs: 300_000,
  minTimestampMs: Date.parse('2000-01-01T00:00:00Z'),
  rejectedPayloadMaxBytes: 4096,
}
const NOMINAL_INTERVAL_MS = 150_000

interface Stored { time: number; metric: string; value: number; quality: number; flags: number }

const stored: Stored[] = []
const sequences = new SequenceTracker({ maxGapsPerDevice: 10_000 })
const quality = new QualityChecker()
let csvRows = 0
let emptyRows = 0

beforeAll(() => {
  const files = readdirSync(DATASET).filter((f) => f.endsWith('.csv')).sort()
  let seq = 0
  let previous = Number.NaN
  for (const file of files) {
    for (const line of readFileSync(DATASET + file, 'utf8').split('\n')) {
      if (line === '' || line.startsWith('Time')) continue
      const f = line.split(';')
      // 'YYYY/MM/DD HH:MM:SS', UTC per the README.
      const time = Date.parse(`${f[0]!.replaceAll('/', '-').replace(' ', 'T')}Z`)
      // The firmware measures every ~150 s; count the cycles it missed, as a device counter would.
      seq += Number.isNaN(previous) ? 0 : Math.max(1, Math.round((time - previous) / NOMINAL_INTERVAL_MS))
      previous = time
      const values: Record<string, number> = {}
      for (const [metric, column] of [['pm10', 7], ['pm25', 8], ['temperature', 11], ['humidity', 12]] as const) {
        if (f[column] !== '') values[metric] = Number(f[column])
      }
      // Two rows carry no measurement at all (2018-10-08 10:04:02, 2018-10-31 12:24:34): nothing to publish.
      if (Object.keys(values).length === 0) {
        emptyRows++
        continue
      }
      const payload = Buffer.from(JSON.stringify({ ts: time, seq, values }))
      const out = decodeMessage(TOPIC, payload, time + 1000, principal, options)
      expect(out.rejections).toEqual([])
      sequences.apply(out.rows)
      quality.apply(out.rows)
      const r = out.rows
      for (let i = 0; i < r.length; i++) stored.push({ time: r.time[i]!, metric: r.metric[i]!, value: r.value[i]!, quality: r.quality[i]!, flags: r.flags[i]! })
      csvRows++
    }
  }
})

const flagged = (metric: string, code: number) => stored.filter((s) => s.metric === metric && s.quality === code)

describe('HCMC Nha Be replay', () => {
  test('every CSV row is one reading', () => {
    // README: 13,260 data rows; 20 rows lack temperature/humidity and 2 lack PM.
    expect(csvRows + emptyRows).toBe(13_260)
    expect(emptyRows).toBe(2)
    expect(stored.filter((s) => s.metric === 'humidity')).toHaveLength(13_240)
    expect(stored.filter((s) => s.metric === 'pm25')).toHaveLength(13_258)
  })

  test('the saturated PM values are SATURATED and nothing else is', () => {
    // SDS_P1 = 1999.90 at 2018-10-08 10:47:24 and 2018-10-17 05:12:56; SDS_P2 = 999.90 at the latter.
    expect(flagged('pm10', Quality.SATURATED).map((s) => new Date(s.time).toISOString()))
      .toEqual(['2018-10-08T10:47:24.000Z', '2018-10-17T05:12:56.000Z'])
    expect(flagged('pm25', Quality.SATURATED).map((s) => s.value)).toEqual([999.9])
    expect(quality.counts.saturated).toBe(3)
  })

  test('the stuck humidity runs are STUCK from their 10th reading on', () => {
    // 57 runs of >= 10 identical humidity values, all at 99.90; the longest is 406 readings
    // (2018-10-28/29). Flagging from the 10th reading of each run gives 5,230 rows.
    const stuck = flagged('humidity', Quality.STUCK)
    expect(stuck).toHaveLength(5230)
    expect(new Set(stuck.map((s) => s.value))).toEqual(new Set([99.9]))
    expect(quality.counts.stuck).toBe(5230)
    // The longest run: 406 readings, so 397 flagged in a row.
    let longest = 0
    let current = 0
    for (const s of stored.filter((x) => x.metric === 'humidity')) {
      current = s.quality === Quality.STUCK ? current + 1 : 0
      longest = Math.max(longest, current)
    }
    expect(longest).toBe(397)
    // No other metric is stuck, and the hot 55 degC sun readings are not spikes (at most 2.2 degC/min).
    expect(stored.filter((s) => s.metric !== 'humidity' && s.quality === Quality.STUCK)).toEqual([])
    expect(quality.counts.spike).toBe(0)
  })

  test('the 674 temperatures above 45 degC (sun on the housing) are implausible for Vietnam, and no other reading is', () => {
    // Counted from the Temp column with an independent script: 13,240 values, 674 above 45.0
    // (up to 55.0), 24 exactly 45.0. The decoder's catalogue range (-20..60 degC) lets all of
    // them through as GOOD; the vietnam preset (-5..45 degC, inclusive) flags the 674.
    const temperature = stored.filter((s) => s.metric === 'temperature')
    expect(temperature).toHaveLength(13_240)
    const implausible = stored.filter((s) => (s.flags & RowFlags.IMPLAUSIBLE) !== 0)
    expect(implausible).toHaveLength(674)
    expect(implausible.every((s) => s.metric === 'temperature' && s.value > 45 && s.quality === Quality.OUT_OF_RANGE)).toBe(true)
    expect(Math.max(...implausible.map((s) => s.value))).toBe(55)
    expect(quality.counts.implausible).toBe(674)
    // Every other temperature, 45.0 included, is stored GOOD: no stuck, spike or range flag.
    const rest = temperature.filter((s) => s.value <= 45)
    expect(rest).toHaveLength(13_240 - 674)
    expect(rest.filter((s) => s.value === 45)).toHaveLength(24)
    expect(rest.every((s) => s.quality === Quality.GOOD && s.flags === 0)).toBe(true)
    // The decoder itself stored nothing OUT_OF_RANGE: every quality-1 row is the plausibility check's.
    expect(stored.filter((s) => s.quality === Quality.OUT_OF_RANGE)).toEqual(implausible)
  })

  test('the gaps are in the ledger with their times', () => {
    const gaps = sequences.gaps(DEVICE)
    // README: 12 gaps longer than 10 minutes, the largest ~1.8 h on 2018-10-29.
    const long = gaps.filter((g) => g.before - g.after > 10 * 60_000)
    expect(long).toHaveLength(12)
    const largest = long.reduce((a, b) => (b.before - b.after > a.before - a.after ? b : a))
    expect(new Date(largest.after).toISOString()).toBe('2018-10-29T08:34:59.000Z')
    expect(largest.before - largest.after).toBe(6_474_000)
    // The other gaps are single missed 150 s cycles (intervals of 225-600 s).
    expect(gaps.filter((g) => g.before - g.after <= 10 * 60_000).every((g) => g.to - g.from + 1 <= 3)).toBe(true)
    expect(sequences.duplicates).toBe(0)
  })
})

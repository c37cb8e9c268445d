import { datasetPath } from '../../../../test/support.ts'
import { readFileSync, readdirSync } from 'node:fs'
import { from, lastValueFrom, toArray } from 'rxjs'
import { describe, expect, test } from 'vitest'
import { Quality } from '@gridline/schemas'
import { IndicatorsConfigSchema } from '../config.ts'
import { createIndicators } from '../indicators.ts'
import { lookupOf, reading } from '../shared/test-support.ts'
import type { Reading } from '../../stream/events.ts'
import { independentHourlyVnAqi } from './vn-aqi-reference.ts'

// The recorded Nha Be (Ho Chi Minh City) SDS011 sensor, October 2018; see the folder's README.txt.
const DIR = `${datasetPath('01_hcmc_nhabe_sensor_community')}/`
const SENSOR = 'hcmc-nhabe-12779556'
const HOUR = 3_600_000

function loadReadings(): Reading[] {
  const out: Reading[] = []
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.csv')).sort()) {
    const lines = readFileSync(DIR + file, 'utf8').split('\n').slice(1)
    for (const line of lines) {
      const f = line.split(';')
      if (f.length < 9 || f[0] === '') continue
      // sensor.community archives are UTC.
      const time = Date.parse(f[0]!.replace(/\//g, '-').replace(' ', 'T') + 'Z')
      const pairs: [string, string | undefined, number][] = [['pm10', f[7], 1999.9], ['pm25', f[8], 999.9]]
      for (const [metric, raw, saturation] of pairs) {
        if (raw === undefined || raw === '') continue
        const value = Number(raw)
        // The quality stage (before the write) flags the SDS011's saturation value; indicators skip it.
        out.push(reading(SENSOR, metric, time, value, value >= saturation ? Quality.SATURATED : Quality.GOOD))
      }
    }
  }
  return out
}

async function hourlyVnAqi(readings: Reading[], airQuality: Record<string, unknown>, metadata: Record<string, unknown>) {
  const config = IndicatorsConfigSchema.parse({ airQuality: { usAqi: false, ...airQuality } })
  const indicators = createIndicators(config, { devices: lookupOf([{ id: SENSOR, domain: 'environment', metadata: { district: 'Nhà Bè', ...metadata } }]) })
  const events = await lastValueFrom(from(readings).pipe(indicators.operator, toArray()))
  const ours = new Map(events.filter((e) => e.name === 'vn_aqi_hourly' && e.scope === 'device').map((e) => [e.time, e.value]))
  return { indicators, events, ours }
}

function expectSameHours(ours: Map<number, number>, expected: Map<number, number>): void {
  expect([...ours.keys()].sort()).toEqual([...expected.keys()].sort())
  for (const [time, value] of expected) expect({ time: new Date(time).toISOString(), value: ours.get(time) }).toEqual({ time: new Date(time).toISOString(), value })
}

const iso = (t: number): string => new Date(t).toISOString().slice(0, 16)

describe('HCMC Nha Be replay', () => {
  const readings = loadReadings()

  test('hourly VN_AQI matches an independent calculation from the same rows, hour by hour', async () => {
    // Defaults: 75 % completeness, the interval inferred from the spacing of readings
    // (the device has no reportingIntervalS): 149-150 s, so 24 expected and 18 needed.
    const { indicators, events, ours } = await hourlyVnAqi(readings, {}, {})
    const expected = independentHourlyVnAqi(readings)
    expect(expected.size).toBe(554)
    expectSameHours(ours, expected)

    // The saturated PM rows never reached the index, and no reading was late.
    expect(indicators.stats.notGood).toBe(readings.filter((r) => r.quality !== Quality.GOOD).length)
    expect(indicators.stats.notGood).toBeGreaterThan(0)
    expect(indicators.stats.late).toBe(0)
    // The district (one sensor) follows its sensor; daily values exist for the full days.
    const district = events.filter((e) => e.name === 'vn_aqi_hourly' && e.scope === 'district')
    expect(district.length).toBe(ours.size)
    expect(events.filter((e) => e.name === 'vn_aqi_daily' && e.scope === 'device').length).toBeGreaterThanOrEqual(20)
  })

  test('the registry\'s reportingIntervalS gives the same hours as the inferred interval', async () => {
    // The README gives ~150 s (149-153 s); the median spacing is 149 s. Both round to 24 readings an hour.
    const { ours } = await hourlyVnAqi(readings, {}, { reportingIntervalS: 150 })
    const expected = independentHourlyVnAqi(readings, { intervalS: 150 })
    expectSameHours(ours, expected)
    expect(expected).toEqual(independentHourlyVnAqi(readings))
  })

  test('completeness leaves out the 11 thin hours, and the hours it changes are the NowCasts that reached them', async () => {
    // Good PM2.5 readings per UTC hour below 18 (75 % of 24), counted from the files by hand;
    // PM10 is the same but 2018-10-08 10:00 has 16 (its 1999.9 at 10:47 is SATURATED).
    const thin: [string, number][] = [
      ['2018-10-08T09:00', 15], ['2018-10-08T10:00', 17], // the recording starts at 09:21:52
      ['2018-10-10T19:00', 16], ['2018-10-20T10:00', 17], ['2018-10-20T11:00', 4],
      // The 29 October outage (12:00-20:00 local): 06:00, 09:00 and 11:00 have no reading at all.
      ['2018-10-29T05:00', 12], ['2018-10-29T07:00', 2], ['2018-10-29T08:00', 1], ['2018-10-29T10:00', 1], ['2018-10-29T12:00', 10],
      ['2018-10-30T06:00', 16],
    ]
    const counts = new Map<number, number>()
    for (const r of readings) if (r.metric === 'pm25' && r.quality === Quality.GOOD) counts.set(Math.floor(r.time / HOUR) * HOUR, (counts.get(Math.floor(r.time / HOUR) * HOUR) ?? 0) + 1)
    expect([...counts].filter(([, n]) => n < 18).map(([h, n]) => [iso(h), n])).toEqual(thin)

    // The former rule (any reading makes an hourly mean) still matches the independent
    // calculation under that rule: the only difference is completeness.
    const before = independentHourlyVnAqi(readings, { completenessPct: 0 })
    expectSameHours((await hourlyVnAqi(readings, { hourlyCompletenessPct: 0 }, {})).ours, before)
    const after = independentHourlyVnAqi(readings)

    // 9 hourly values disappear: without the thin hours fewer than 2 of c1, c2, c3 remain,
    // the decision's "no data" rule. (Labels are the hour's end, as the decision's.)
    expect([...before.keys()].filter((t) => !after.has(t)).map(iso)).toEqual([
      '2018-10-08T11:00', '2018-10-08T12:00', '2018-10-20T12:00', '2018-10-20T13:00',
      '2018-10-29T08:00', '2018-10-29T09:00', '2018-10-29T11:00', '2018-10-29T13:00', '2018-10-29T14:00',
    ])
    expect([...after.keys()].filter((t) => !before.has(t))).toEqual([])
    // 22 change value, each within the 12 hours after a thin hour (NowCast reaches back 12 hours,
    // and a missing hour weighs 0 in it), by at most a few points except two.
    const changed = [...after].filter(([t, v]) => before.get(t) !== v)
    expect(changed).toHaveLength(22)
    const thinStarts = thin.map(([h]) => Date.parse(`${h}:00Z`))
    expect(changed.every(([t]) => thinStarts.some((h) => t > h && t - h <= 12 * HOUR))).toBe(true)
    const big = changed.filter(([t, v]) => Math.abs(v - before.get(t)!) >= 10).map(([t, v]) => [iso(t), before.get(t), v])
    // Both are a thin, cleaner c1 after dirtier hours: without it the NowCast rests on the complete
    // hours before it, and the value rises. The hour ending 29 October 06:00 had 12 readings (PM2.5
    // mean 17.5 µg/m³; the hours before 18.1, 30.0, 50.4); the hour ending 30 October 07:00 had 16
    // (12.4 µg/m³, after 76.4). Completeness does not lean either way: it makes c1 a real hour.
    expect(big).toEqual([['2018-10-29T06:00', 47, 60], ['2018-10-30T07:00', 63, 101]])
  })
})

import { datasetPath } from '../../../../test/support.ts'
import { readFileSync, readdirSync } from 'node:fs'
import { from, lastValueFrom, toArray } from 'rxjs'
import { describe, expect, test } from 'vitest'
import { Quality } from '@gridline/schemas'
import { IndicatorsConfigSchema } from '../config.ts'
import { createIndicators } from '../indicators.ts'
import { lookupOf, reading } from '../shared/test-support.ts'
import type { Reading } from '../../stream/events.ts'

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

// An independent, deliberately plain computation: hourly means -> NowCast per the
// decision's text -> AQI from Table 2 -> the larger of PM2.5 and PM10 -> rounded.
function independentHourlyVnAqi(readings: Reading[]): Map<number, number> {
  const sums = new Map<string, { s: number; n: number }>()
  for (const r of readings) {
    if (r.quality !== Quality.GOOD) continue
    const k = `${r.metric}@${Math.floor(r.time / HOUR) * HOUR}`
    const a = sums.get(k) ?? { s: 0, n: 0 }
    a.s += r.value; a.n++
    sums.set(k, a)
  }
  const mean = (metric: string, hour: number): number | undefined => {
    const a = sums.get(`${metric}@${hour}`)
    return a === undefined ? undefined : a.s / a.n
  }
  const nowcast = (metric: string, hour: number): number | undefined => {
    const c: (number | undefined)[] = []
    for (let i = 0; i < 12; i++) c.push(mean(metric, hour - i * HOUR))
    if (c.slice(0, 3).filter((x) => x !== undefined).length < 2) return undefined
    const present = c.filter((x): x is number => x !== undefined)
    const ratio = Math.min(...present) / Math.max(...present)
    const w = ratio > 0.5 ? ratio : 0.5
    let num = 0, den = 0
    c.forEach((x, i) => { if (x !== undefined) { num += x * w ** i; den += w ** i } })
    return num / den
  }
  const table = (bp: number[], c: number): number => {
    const I = [0, 50, 100, 150, 200, 300, 400, 500]
    for (let i = 0; i < bp.length - 1; i++) {
      if (c <= bp[i + 1]!) return ((I[i + 1]! - I[i]!) / (bp[i + 1]! - bp[i]!)) * (c - bp[i]!) + I[i]!
    }
    return 500
  }
  const hours = new Set([...sums.keys()].map((k) => Number(k.split('@')[1])))
  const result = new Map<number, number>()
  for (const hour of hours) {
    const pm25 = nowcast('pm25', hour)
    const pm10 = nowcast('pm10', hour)
    if (pm25 === undefined && pm10 === undefined) continue
    const a25 = pm25 === undefined ? -1 : table([0, 25, 50, 80, 150, 250, 350, 500], pm25)
    const a10 = pm10 === undefined ? -1 : table([0, 50, 150, 250, 350, 420, 500, 600], pm10)
    result.set(hour + HOUR, Math.round(Math.max(a25, a10)))
  }
  return result
}

describe('HCMC Nha Be replay', () => {
  test('hourly VN_AQI matches an independent calculation from the same rows, hour by hour', async () => {
    const readings = loadReadings()
    const config = IndicatorsConfigSchema.parse({ airQuality: { usAqi: false } })
    const indicators = createIndicators(config, { devices: lookupOf([{ id: SENSOR, domain: 'environment', metadata: { district: 'Nhà Bè' } }]) })
    const events = await lastValueFrom(from(readings).pipe(indicators.operator, toArray()))

    const ours = new Map(events.filter((e) => e.name === 'vn_aqi_hourly' && e.scope === 'device').map((e) => [e.time, e.value]))
    const expected = independentHourlyVnAqi(readings)
    expect(expected.size).toBeGreaterThan(500)
    expect([...ours.keys()].sort()).toEqual([...expected.keys()].sort())
    for (const [time, value] of expected) expect({ time: new Date(time).toISOString(), value: ours.get(time) }).toEqual({ time: new Date(time).toISOString(), value })

    // The saturated PM rows never reached the index, and no reading was late.
    expect(indicators.stats.notGood).toBe(readings.filter((r) => r.quality !== Quality.GOOD).length)
    expect(indicators.stats.notGood).toBeGreaterThan(0)
    expect(indicators.stats.late).toBe(0)
    // The district (one sensor) follows its sensor; daily values exist for the full days.
    const district = events.filter((e) => e.name === 'vn_aqi_hourly' && e.scope === 'district')
    expect(district.length).toBe(ours.size)
    expect(events.filter((e) => e.name === 'vn_aqi_daily' && e.scope === 'device').length).toBeGreaterThanOrEqual(20)
  })
})

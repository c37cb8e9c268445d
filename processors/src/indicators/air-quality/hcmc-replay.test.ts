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

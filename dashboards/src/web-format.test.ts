import { describe, expect, test } from 'vitest'
import {
  AQI_COLORS, aqiLevel, aqiLevelOf, clampPercent, compareAlarms, floodColor, formatNumber, formatValue, losColor, relativeParts, severityRank, textOn,
} from '../web/src/format.ts'

describe('colour scales', () => {
  test('VN_AQI band colours are the official ones', () => {
    expect(AQI_COLORS).toEqual({ good: '#00e400', moderate: '#ffff00', poor: '#ff7e00', bad: '#ff0000', very_bad: '#8f3f97', hazardous: '#7e0023' })
  })

  test.each([
    [0, 'good'], [50, 'good'], [51, 'moderate'], [100, 'moderate'], [101, 'poor'], [150, 'poor'],
    [151, 'bad'], [200, 'bad'], [201, 'very_bad'], [300, 'very_bad'], [301, 'hazardous'], [500, 'hazardous'],
  ])('VN_AQI %d is %s', (value, level) => {
    expect(aqiLevelOf(value)).toBe(level)
  })

  test('the server level wins; the value is the fallback; nothing gives null', () => {
    expect(aqiLevel('bad', 20)).toBe('bad')
    expect(aqiLevel(null, 120)).toBe('poor')
    expect(aqiLevel('unknown', 20)).toBe('good')
    expect(aqiLevel(null, null)).toBeNull()
  })

  test('LOS runs green to dark red; unknown is grey', () => {
    expect(losColor('A')).toBe('#00c853')
    expect(losColor('b')).toBe('#64dd17')
    expect(losColor('F')).toBe('#8b0000')
    expect(losColor(null)).toBe('#607080')
    expect(losColor('Z')).toBe('#607080')
  })

  test('text on yellow and green is dark, on dark red and purple light', () => {
    expect(textOn('#ffff00')).toBe('#000')
    expect(textOn('#00e400')).toBe('#000')
    expect(textOn('#7e0023')).toBe('#fff')
    expect(textOn('#8f3f97')).toBe('#fff')
    expect(textOn('#ff0000')).toBe('#fff')
    expect(textOn('#00c853')).toBe('#000')
  })

  test('flood alerts 0–3 are clamped', () => {
    expect(floodColor(0)).toBe('#00c853')
    expect(floodColor(3)).toBe('#ff1744')
    expect(floodColor(7)).toBe('#ff1744')
    expect(floodColor(-1)).toBe('#00c853')
  })
})

describe('formatting', () => {
  test('numbers', () => {
    expect(formatNumber(1234.567, 1, 'en')).toBe('1,234.6')
    expect(formatNumber(1234.567, 1, 'vi')).toBe('1.234,6')
    expect(formatNumber(null)).toBe('–')
    expect(formatNumber(Number.NaN)).toBe('–')
  })

  test('values get decimals by magnitude and their unit', () => {
    expect(formatValue(24.123, 'ug/m3')).toBe('24.12 ug/m3')
    expect(formatValue(1520.4, 'kWh')).toBe('1,520 kWh')
    expect(formatValue(0.0456, 'bar')).toBe('0.046 bar')
    expect(formatValue(1, 'bool')).toBe('1')
  })

  test.each([
    [1_000, 'time.justNow', 0],
    [30_000, 'time.secondsAgo', 30],
    [5 * 60_000, 'time.minutesAgo', 5],
    [3 * 3_600_000, 'time.hoursAgo', 3],
    [2 * 86_400_000, 'time.daysAgo', 2],
  ])('%d ms ago is %s %d', (ago, key, n) => {
    expect(relativeParts(1_000_000_000_000 - ago, 1_000_000_000_000)).toEqual({ key, n })
  })

  test('fill percent is clamped to 0–100', () => {
    expect(clampPercent(65)).toBe(65)
    expect(clampPercent(130)).toBe(100)
    expect(clampPercent(-3)).toBe(0)
    expect(clampPercent(null)).toBe(0)
  })
})

describe('alarm order', () => {
  test('most severe first, then newest first', () => {
    const alarms = [
      { id: 'minor-old', severity: 'minor', raisedAt: 1 },
      { id: 'critical-old', severity: 'critical', raisedAt: 2 },
      { id: 'minor-new', severity: 'minor', raisedAt: 9 },
      { id: 'critical-new', severity: 'critical', raisedAt: 5 },
      { id: 'weird', severity: 'unknown', raisedAt: 100 },
      { id: 'info', severity: 'info', time: 50 },
    ]
    expect(alarms.sort(compareAlarms).map((a) => a.id)).toEqual(['critical-new', 'critical-old', 'minor-new', 'minor-old', 'info', 'weird'])
    expect(severityRank('critical')).toBe(0)
  })
})

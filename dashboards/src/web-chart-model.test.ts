import { describe, expect, test } from 'vitest'
import { defaultCatalogue } from '@gridline/schemas'
import {
  axisWidth, decimalsOf, displayUnit, legendDigits, legendValue, fromLocalInput, metricKind, niceStep, parseCustomRange, presetWindow, resolutionLabel, stateLabelKeys,
  tickLabels, toLocalInput, yRange,
} from '../web/src/chart-model.ts'
import { t } from '../web/src/i18n.ts'

/** A monospace stand-in for canvas measureText: 7 px a character. */
const mono = (s: string) => s.length * 7

describe('y axis width', () => {
  test('the axis is as wide as its widest label (energy 1,016.004 kWh was cut to "16.004" by a fixed 56 px)', () => {
    const labels = tickLabels([1016.002, 1016.003, 1016.004], 'en')
    expect(labels).toEqual(['1,016.002', '1,016.003', '1,016.004'])
    const width = axisWidth(labels, mono)
    expect(width).toBeGreaterThanOrEqual(mono('1,016.004') + 10)
    expect(width).toBeGreaterThan(56)
  })

  test('short labels keep a small axis; nothing is below the minimum', () => {
    expect(axisWidth(['0', '1'], mono)).toBe(32)
    expect(axisWidth([], mono)).toBe(32)
    expect(axisWidth([null, '', '12'], mono, 20)).toBe(14 + 19)
  })
})

describe('tick labels', () => {
  test.each([
    [[0, 0.25, 0.5, 0.75, 1], 'en', ['0.00', '0.25', '0.50', '0.75', '1.00']],
    [[0, 20, 40], 'en', ['0', '20', '40']],
    [[1000, 2000, 3000], 'en', ['1,000', '2,000', '3,000']],
    [[1000, 1500], 'vi', ['1.000', '1.500']],
    [[226.5, 227, 227.5], 'vi', ['226,5', '227,0', '227,5']],
    [[-0, 5], 'en', ['0', '5']],
  ] as const)('%j in %s is %j', (splits, lang, labels) => {
    expect(tickLabels(splits, lang)).toEqual(labels)
  })

  test('the legend prints the decimals its axis tells apart (1,016.023 kWh, not 1,016 kWh)', () => {
    expect(legendDigits([1016, 1016.06])).toBe(3)
    expect(legendDigits([0, 50])).toBe(1)
    expect(legendDigits([0, 2000])).toBe(0)
    expect(legendDigits([5, 5])).toBe(2)
  })

  test('decimals of a step', () => {
    expect([decimalsOf(5), decimalsOf(0.25), decimalsOf(0.001), decimalsOf(0.1 + 0.2)]).toEqual([0, 2, 3, 1])
  })
})

describe('scales', () => {
  test('the catalogue says which metrics are states (bool) and percentages (%)', () => {
    const catalogue = defaultCatalogue()
    const kinds = Object.fromEntries([...catalogue.domains.values()].flatMap((d) => d.metrics.map((m) => [`${d.domain}.${m.name}`, metricKind(m.unit)])))
    expect(kinds['lighting.lamp_on']).toBe('state')
    expect(kinds['lighting.lamp_fault']).toBe('state')
    expect(kinds['water.pump_on']).toBe('state')
    expect(kinds['water.valve_open']).toBe('state')
    expect(kinds['lighting.dim_level']).toBe('percent')
    expect(kinds['environment.humidity']).toBe('percent')
    expect(kinds['lighting.energy']).toBe('value')
  })

  test('a state is 0-1 whatever its values (lamp_fault read 0-100, lamp_on 0-2)', () => {
    expect(yRange('state', [[0, 0, 0]])).toEqual([-0.1, 1.1])
    expect(yRange('state', [[1, 1]])).toEqual([-0.1, 1.1])
    expect(yRange('state', [[]])).toEqual([-0.1, 1.1])
  })

  test('a percentage stays within 0-100 (dim_level at 100 read 0-200)', () => {
    const [lo, hi] = yRange('percent', [[100, 100, 100]], { min: 0, max: 100 })
    expect(hi).toBe(100)
    expect(lo).toBeGreaterThanOrEqual(0)
    expect(yRange('percent', [[0, 50, 100]])).toEqual([0, 100])
    expect(yRange('percent', [[]])).toEqual([0, 100])
    const [a, b] = yRange('percent', [[78, 80]])
    expect(a).toBeGreaterThanOrEqual(0)
    expect(b).toBeLessThanOrEqual(100)
    expect(a).toBeLessThan(78)
    expect(b).toBeGreaterThan(80)
  })

  test('a flat value gets a band around it, not 0 to twice the value', () => {
    const [lo, hi] = yRange('value', [[1016.004, 1016.004]])
    expect(lo).toBeLessThan(1016.004)
    expect(hi).toBeGreaterThan(1016.004)
    expect(lo).toBeGreaterThan(800)
    expect(yRange('value', [[0, 0]])).toEqual([-1, 1])
    expect(yRange('value', [[0, 0]], { min: 0 })).toEqual([0, 1])
  })

  test('the catalogue range bounds the axis; values (every series) and thresholds stay in view', () => {
    expect(yRange('value', [[2, 8]], { min: 0, max: 1000 })[0]).toBeGreaterThanOrEqual(0)
    const [lo, hi] = yRange('value', [[10, 20], [null, 25]], { thresholds: [50] })
    expect(lo).toBeLessThanOrEqual(10)
    expect(hi).toBeGreaterThanOrEqual(50)
    expect(yRange('value', [[]])).toEqual([0, 1])
    // A value outside the catalogue's range (there should be none: they are not GOOD) is still drawn.
    expect(yRange('value', [[-5, 10]], { min: 0 })[0]).toBe(-5)
  })

  test('nice steps', () => {
    expect([niceStep(0.7), niceStep(1.5), niceStep(3), niceStep(7), niceStep(0.0012), niceStep(0)]).toEqual([1, 2, 5, 10, 0.002, 1])
  })

  test('state labels follow the catalogue descriptions', () => {
    expect(stateLabelKeys('lamp_on').map((k) => t(k, undefined, 'en'))).toEqual(['Off', 'On'])
    expect(stateLabelKeys('lamp_fault').map((k) => t(k, undefined, 'en'))).toEqual(['OK', 'Fault'])
    expect(stateLabelKeys('valve_open').map((k) => t(k, undefined, 'en'))).toEqual(['Closed', 'Open'])
    expect(stateLabelKeys('pump_on').map((k) => t(k, undefined, 'en'))).toEqual(['Stopped', 'Running'])
    expect(stateLabelKeys('lamp_on').map((k) => t(k, undefined, 'vi'))).toEqual(['Tắt', 'Bật'])
  })
})

describe('legend values', () => {
  test.each([
    [{ metric: 'energy', unit: 'kWh' }, 1016.0234, 'en', 3, '1,016.023 kWh'],
    [{ metric: 'energy', unit: 'kWh' }, 1016.0234, 'vi', 3, '1.016,023 kWh'],
    [{ metric: 'energy', unit: 'kWh' }, 1016.0234, 'en', undefined, '1,016 kWh'],
    [{ metric: 'pm25', unit: 'ug/m3' }, 23.4, 'en', 1, '23.4 µg/m³'],
    [{ metric: 'temperature', unit: 'degC' }, 26.1, 'vi', 1, '26,1 °C'],
    [{ metric: 'power_factor', unit: 'ratio' }, 0.95, 'en', 2, '0.95'],
    [{ metric: 'lamp_on', unit: 'bool' }, 1, 'en', undefined, 'On'],
    [{ metric: 'lamp_fault', unit: 'bool' }, 0, 'vi', undefined, 'Bình thường'],
    [{ metric: 'lamp_on', unit: 'bool' }, 0.4, 'en', undefined, 'On 40%'],
    [{ metric: 'pm25', unit: 'ug/m3' }, null, 'en', 1, '–'],
  ] as const)('%j %s in %s (%s decimals) is %s', (series, value, lang, digits, text) => {
    expect(legendValue(series, value, lang, digits)).toBe(text)
  })
})

describe('units as people write them', () => {
  test.each([
    ['ug/m3', 'µg/m³'], ['mg/m3', 'mg/m³'], ['degC', '°C'], ['m3/h', 'm³/h'], ['km/h', 'km/h'], ['mm/h', 'mm/h'], ['kWh', 'kWh'],
    ['bool', ''], ['ratio', ''], ['%', '%'], ['US AQI', 'US AQI'], ['mg/L', 'mg/L'], ['km2', 'km²'], ['', ''], [null, ''],
  ])('%s is %s', (unit, text) => {
    expect(displayUnit(unit)).toBe(text)
  })

  test('every catalogue unit prints without ASCII stand-ins', () => {
    for (const d of defaultCatalogue().domains.values()) {
      for (const m of d.metrics) expect(displayUnit(m.unit), `${d.domain}.${m.name}`).not.toMatch(/ug\/|deg[CF]|m3/)
    }
  })
})

describe('time windows', () => {
  test('a preset range is the window ending now, not the data\'s span', () => {
    const now = Date.UTC(2026, 10, 29, 1)
    expect(presetWindow('24h', now)).toEqual({ from: now - 86_400_000, to: now })
    expect(presetWindow('7d', now)).toEqual({ from: now - 7 * 86_400_000, to: now })
    expect(presetWindow('live', now)).toEqual({ from: now - 600_000, to: now })
  })

  test('custom range inputs are Da Nang time', () => {
    expect(fromLocalInput('2026-11-29T08:00')).toBe(Date.UTC(2026, 10, 29, 1))
    expect(fromLocalInput('2026-11-29T08:00:30')).toBe(Date.UTC(2026, 10, 29, 1, 0, 30))
    expect(toLocalInput(Date.UTC(2026, 10, 29, 1))).toBe('2026-11-29T08:00')
    expect(fromLocalInput('yesterday')).toBeNaN()
  })

  test.each([
    ['2026-11-29T08:00', '2026-11-29T10:00', { ok: true, window: { from: Date.UTC(2026, 10, 29, 1), to: Date.UTC(2026, 10, 29, 3) } }],
    ['2026-11-29T10:00', '2026-11-29T08:00', { ok: false, error: 'chart.custom.order' }],
    ['', '2026-11-29T08:00', { ok: false, error: 'chart.custom.invalid' }],
    ['2024-01-01T00:00', '2026-01-01T00:00', { ok: false, error: 'chart.custom.tooLong' }],
  ])('from %s to %s', (from, to, result) => {
    expect(parseCustomRange(from, to)).toEqual(result)
  })

  test('resolution labels', () => {
    expect(t(resolutionLabel('raw').key, resolutionLabel('raw'), 'en')).toBe('raw readings')
    const minute = resolutionLabel('1m', 60_000)
    expect(t(minute.key, minute, 'en')).toBe('1 min average')
    const hours = resolutionLabel('1h', 3 * 3_600_000)
    expect(t(hours.key, hours, 'en')).toBe('3 h average')
  })
})

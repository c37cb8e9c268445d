import { loadCatalogue } from '@gridline/schemas'
import { expect, test } from 'vitest'
import { METRIC_NAMES, metricLabel } from '../web/src/metric-names.ts'

test('every catalogued metric has a name in English and in Vietnamese', () => {
  const missing: string[] = []
  for (const domain of loadCatalogue().domains.values()) {
    for (const metric of domain.metrics) {
      const names = METRIC_NAMES[metric.name]
      if (!names?.en.trim() || !names.vi.trim()) missing.push(`${domain.domain}.${metric.name}`)
    }
  }
  expect(missing).toEqual([])
})

test('a metric the table does not know shows its own name, and so do the names Object itself has', () => {
  expect(metricLabel('pm25', 'vi')).toBe('Bụi mịn PM2.5')
  expect(metricLabel('pm25', 'en')).toBe('PM2.5')
  expect(metricLabel('tank_sludge', 'vi')).toBe('tank_sludge')
  expect(metricLabel('constructor', 'en')).toBe('constructor')
  expect(metricLabel('toString', 'vi')).toBe('toString')
})

import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { expect, test } from 'vitest'
import { createStaMetrics, refusalOf, statusClass } from './metrics.ts'

test.each([
  ['operations.md'],
  ['sensorthings.md'],
])('docs/%s documents every SensorThings metric', async (file) => {
  const registry = new Registry()
  createStaMetrics(registry)
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name)
  const doc = readFileSync(new URL(`../../../docs/${file}`, import.meta.url), 'utf8')
  expect(names).toHaveLength(4)
  expect(names.filter((name) => !doc.includes(`\`${name}\``))).toEqual([])
})

test.each([
  [200, '2xx', undefined], [400, '4xx', 'bad_query'], [401, '4xx', 'unauthorized'], [404, '4xx', 'not_found'],
  [429, '4xx', 'rate_limited'], [503, '5xx', 'timeout'], [500, '5xx', undefined],
])('status %i: class %s, refusal %s', (status, cls, reason) => {
  expect(statusClass(status)).toBe(cls)
  expect(refusalOf(status)).toBe(reason)
})

import { readFileSync } from 'node:fs'
import type { Reading } from '@gridline/processors'
import pg from 'pg'
import { from, lastValueFrom, toArray } from 'rxjs'
import { expect, test } from 'vitest'
import { silentLogger } from '../../../test/support.ts'
import { ingestConfig } from '../config.ts'
import { createIngestMetrics } from '../metrics.ts'
import { ProcessorHost } from './processor-host.ts'
import { registerProcessorMetrics } from './processor-metrics.ts'
import { RejectionNotices } from './rejection-notices.ts'

test('docs/operations.md documents every metric the service exports', async () => {
  const metrics = createIngestMetrics()
  // The pool never connects: the host only needs it once started.
  const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/none' })
  const host = new ProcessorHost(ingestConfig().processors, { pool, directory: null, logger: silentLogger() })
  registerProcessorMetrics(metrics.registry, host)
  new RejectionNotices({ logger: silentLogger(), registry: metrics.registry })
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name)
    .filter((name) => !/^gridline_(process|nodejs)_/.test(name))
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8')
  expect(names.length).toBeGreaterThan(30)
  expect(names.filter((name) => !doc.includes(`\`${name}\``))).toEqual([])
  await pool.end()
})

test('incomplete air-quality hours and night flows reach /metrics', async () => {
  const metrics = createIngestMetrics()
  const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/none' })
  const host = new ProcessorHost(ingestConfig().processors, { pool, directory: null, logger: silentLogger() })
  registerProcessorMetrics(metrics.registry, host)
  const reading = (deviceId: string, metric: string, time: number, value: number): Reading =>
    ({ time, receivedAt: time, deviceId, domain: metric === 'flow' ? 'water' : 'environment', metric, value, quality: 0, seq: -1, flags: 0 })
  const hour = 3_600_000
  const t0 = Date.UTC(2026, 9, 29, 0, 0, 0)
  const input: Reading[] = []
  // PM2.5 every 150 s for two hours, then a single reading in the third hour (24 expected, 18 needed): one incomplete hour.
  for (let t = t0; t < t0 + 2 * hour; t += 150_000) input.push(reading('aq-1', 'pm25', t, 20))
  input.push(reading('aq-1', 'pm25', t0 + 2 * hour, 300))
  const counters = async (): Promise<string> => (await metrics.registry.metrics()).split('\n').filter((l) => /^gridline_indicator_(incomplete_hours|night_flow_incomplete)_total/.test(l)).join('\n')
  expect(await counters()).toBe('gridline_indicator_night_flow_incomplete_total 0')
  await lastValueFrom(from(input).pipe(host.indicators!.operator, toArray()))
  expect(await counters()).toBe('gridline_indicator_incomplete_hours_total{pollutant="pm25"} 1\ngridline_indicator_night_flow_incomplete_total 0')
  // A later count is added at the next collection.
  host.indicators!.stats.incompleteNightFlows++
  expect(await counters()).toBe('gridline_indicator_incomplete_hours_total{pollutant="pm25"} 1\ngridline_indicator_night_flow_incomplete_total 1')
  await pool.end()
})

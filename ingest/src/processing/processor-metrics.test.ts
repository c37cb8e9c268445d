import { readFileSync } from 'node:fs'
import pg from 'pg'
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

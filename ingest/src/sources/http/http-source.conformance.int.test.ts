import { createLogger } from '@gridline/core'
import { type DecodeOptions, ServerClock } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { DeviceStore } from '../../devices/device-store.ts'
import { LiveDeviceDirectory } from '../../devices/directory.ts'
import { TokenStore, TokenVerifier } from '../../devices/tokens.ts'
import { createIngestMetrics } from '../../metrics.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type TestDatabase, createMigratedTestDatabase } from '../../testing/index.ts'
import { type SendOutcome, sourceConformance } from '../conformance.ts'
import { HttpSourceSchema } from './config.ts'
import { HttpSource } from './http-source.ts'

// The shared source behaviour, through InfluxDB 2.x line protocol writes (fetch).
sourceConformance('http', async () => {
  const db: TestDatabase = await createMigratedTestDatabase()
  await new DeviceStore(pgSqlClient(db.pool)).add({ id: 'aq-conf', domain: 'environment' })
  const logger = createLogger({ level: 'silent' })
  const registry = new LiveDeviceDirectory(db.pool, db.url, logger)
  await registry.start()
  const decodeOptions: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: 0, rejectedPayloadMaxBytes: 1_024, serverClock: new ServerClock() }
  const source = new HttpSource('http', HttpSourceSchema.parse({ type: 'http', host: '127.0.0.1', port: 0 }), {
    decodeOptions, registry, tokens: new TokenVerifier(new TokenStore(pgSqlClient(db.pool))), authMode: 'none', metrics: createIngestMetrics(), logger, maxPendingRowsPerLogin: 10_000,
  })
  return {
    source,
    send(ports, ts, value) {
      const outcome: Promise<SendOutcome> = fetch(`http://127.0.0.1:${ports.port}/api/v2/write?precision=ms`, { method: 'POST', body: `env,device=aq-conf pm25=${value} ${ts}` })
        // 400 is the answer for "kept as a dead letter for good, do not resend" (InfluxDB clients drop the batch): an acknowledgement.
        .then((res) => ((res.status >= 200 && res.status < 300) || res.status === 400 ? 'acknowledged' : 'not acknowledged'), () => 'not acknowledged')
      return { outcome }
    },
    async cleanup() {
      await registry.stop()
      await db.drop()
    },
  }
})

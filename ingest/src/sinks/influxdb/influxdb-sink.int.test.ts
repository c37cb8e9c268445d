import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TokenStore } from '../../devices/tokens.ts'
import { pgSqlClient } from '../../storage/sql-client.ts'
import { type Influxd, startInfluxd, startTestService } from '../../testing/index.ts'
import { sinkConformance } from '../conformance.ts'
import { InfluxDbSinkSchema } from './config.ts'
import { InfluxDbSink } from './influxdb-sink.ts'

// The InfluxDB sink against a real InfluxDB: Debian's influxd 1.6.7 (the 1.x
// API), started here on free ports. The 2.x path runs the official client
// against gridline's own /api/v2/write (no InfluxDB 2.x server is available
// on this machine; docs/benchmarks.md and the sink's README say so).

async function points(influx: Influxd, db: string, where: string): Promise<{ metric: string; time: number; value: number; quality: number; seq: number | null; device: string; domain: string | null }[]> {
  const answer = await influx.query(`SELECT * FROM /.*/ WHERE ${where}`, db)
  const out = []
  for (const series of answer.results[0]?.series ?? []) {
    const col = (name: string) => series.columns.indexOf(name)
    for (const v of series.values) {
      out.push({ metric: series.name, time: v[col('time')] as number, value: v[col('value')] as number, quality: v[col('quality')] as number, seq: (v[col('seq')] as number | null) ?? null, device: v[col('device')] as string, domain: (v[col('domain')] as string | null) ?? null })
    }
  }
  return out
}

describe('with a real influxd 1.6.7', () => {
  let influx: Influxd
  beforeAll(async () => {
    influx = await startInfluxd()
    await influx.query('CREATE DATABASE conformance')
    await influx.query('CREATE DATABASE city')
  }, 30_000)
  afterAll(async () => {
    await influx?.destroy()
  })

  sinkConformance('influxdb 1.x', async () => ({
    sink: new InfluxDbSink('influx', InfluxDbSinkSchema.parse({ type: 'influxdb', version: 1, url: influx.url, db: 'conformance' })),
    async stored(deviceId) {
      return (await points(influx, 'conformance', `device = '${deviceId}'`)).map((p) => ({ deviceId: p.device, metric: p.metric, time: p.time, value: p.value, quality: p.quality, seq: p.seq }))
    },
    async cleanup() {},
  }), { overwrites: true })

  test('a service with the sink: every committed reading reaches InfluxDB, also those committed while influxd was stopped for a minute; no acknowledgement waited for it', async () => {
    const t = await startTestService({
      devices: [{ id: 'aq-1', domain: 'environment' }, { id: 'gw-1', kind: 'gateway' }, { id: 'pump-1', domain: 'water', gateway: 'gw-1' }],
      config: { sinks: { timescale: { type: 'timescale' }, influx: { type: 'influxdb', version: 1, url: influx.url, db: 'city', retryMaxMs: 1_000 } } },
    })
    try {
      const client = await t.connect('aq-1')
      const base = Date.parse('2026-12-06T02:00:00Z')
      const publish = async (from: number, n: number) => {
        for (let i = from; i < from + n; i++) await client.publishAsync('telemetry/environment/aq-1', JSON.stringify({ ts: base + i * 1_000, seq: i, values: { pm25: i / 2, temperature: 25 } }), { qos: 1 })
      }
      await publish(0, 50)
      // A gateway batch: its devices' domains come from the registry.
      const gw = await t.connect('gw-1')
      await gw.publishAsync('gateways/gw-1/telemetry', JSON.stringify({ readings: [{ device: 'pump-1', domain: 'water', ts: base, values: { flow: 120 } }] }), { qos: 1 })
      await waitFor(async () => (await points(influx, 'city', "device = 'aq-1'")).length === 100, 10_000)

      await influx.stop()
      const outageStarted = Date.now()
      const acked = Date.now()
      await publish(50, 100)
      // Acknowledged while InfluxDB is away: a PUBACK never waits for the secondary sink.
      expect(Date.now() - acked).toBeLessThan(20_000)
      const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text()
      expect(metrics).toMatch(/gridline_component_buffer_bytes\{component_id="influx",component_type="influxdb"\} [1-9]/)
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - outageStarted))))
      const lag = Number(/gridline_component_lag_seconds\{component_id="influx",component_type="influxdb"\} (\S+)/.exec(await (await fetch(`${t.httpUrl}/metrics`)).text())![1])
      expect(lag).toBeGreaterThan(30)
      await influx.start()

      await waitFor(async () => (await points(influx, 'city', "device = 'aq-1'")).length === 300, 30_000)
      const stored = await points(influx, 'city', "device = 'aq-1'")
      const pm25 = stored.filter((p) => p.metric === 'pm25').sort((a, b) => a.time - b.time)
      expect(pm25.map((p) => p.value)).toEqual(Array.from({ length: 150 }, (_, i) => i / 2))
      expect(pm25.every((p, i) => p.time === base + i * 1_000 && p.seq === i && p.domain === 'environment' && p.quality === 0)).toBe(true)
      expect(await points(influx, 'city', "device = 'pump-1'")).toEqual([{ metric: 'flow', time: base, value: 120, quality: 0, seq: null, device: 'pump-1', domain: 'water' }])
      const after = await (await fetch(`${t.httpUrl}/metrics`)).text()
      expect(after).not.toMatch(/gridline_component_dropped_rows_total\{[^}]*component_id="influx"/)
    } finally {
      await t.stop()
    }
  }, 150_000)
})

test('the 2.x path: the official client writes to a 2.x-compatible endpoint (gridline\'s own /api/v2/write) with a token', async () => {
  const target = await startTestService({
    devices: [{ id: 'gw-city', kind: 'gateway' }, { id: 'aq-9', domain: 'environment', gateway: 'gw-city' }],
    // The points' fields are value, quality and seq: value renamed to the metric, the other two kept as metrics of their own.
    config: { sources: { http: { type: 'http', host: '127.0.0.1', port: 0, lineProtocol: { deviceTags: ['device'], rename: { 'pm25.value': 'pm25' } } } }, catalogue: { unknownMetrics: 'store' } },
  })
  try {
    const { token } = await new TokenStore(pgSqlClient(target.db.pool)).create('gw-city')
    const sink = new InfluxDbSink('influx2', InfluxDbSinkSchema.parse({ type: 'influxdb', version: 2, url: target.sourceUrl('http'), org: 'city', bucket: 'telemetry', token }))
    expect(await sink.healthcheck()).toBe(true)
    const { Rows } = await import('@gridline/core')
    const rows = new Rows()
    rows.push(Date.parse('2026-12-06T03:00:00Z'), 'aq-9', 'pm25', 12.5, 0, 7, 0)
    const result = await sink.write([{ topic: '', clientId: null, receivedAt: Date.now(), payload: Buffer.alloc(0), decoded: { rows, readings: 1, rejections: [], unknownMetrics: 0, outOfRange: 0, domain: 'environment' }, ack: null }])
    expect(result.inserted).toBe(1)
    const { rows: stored } = await target.db.pool.query<{ metric: string; value: number }>("SELECT metric, value FROM telemetry WHERE device_id = 'aq-9' ORDER BY metric")
    expect(stored.map((r) => [r.metric, Number(r.value)])).toEqual([['pm25', 12.5], ['quality', 0], ['seq', 7]])
    await sink.close()
  } finally {
    await target.stop()
  }
})

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

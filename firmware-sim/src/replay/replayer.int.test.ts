import { datasetPath } from '../../../test/support.ts'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { type TestBroker, startTestBroker } from '../test-support/broker.ts'
import { loadDataset } from './dataset.ts'
import { loadMapping } from './mapping.ts'
import { Replayer } from './replayer.ts'
import { refusedLine } from '../cli.ts'
import mqtt from 'mqtt'

let broker: TestBroker
beforeEach(async () => {
  broker = await startTestBroker()
})
afterEach(async () => {
  await broker.close()
})

const mapping = (name: string) => loadMapping(fileURLToPath(new URL(`../../mappings/${name}.yaml`, import.meta.url)))

test('replays 300 rows of the HCMC recording into a broker, faithfully and in order', async () => {
  const dataset = loadDataset(datasetPath('01_hcmc_nhabe_sensor_community'), mapping('01_hcmc_nhabe_sensor_community'), { maxRows: 300 })
  const replayer = new Replayer({ url: broker.url, dataset, asFastAsPossible: true })
  const result = await replayer.run(5_000)
  const telemetry = broker.messages.filter((m) => m.topic === 'telemetry/environment/hcmc-nhabe-esp8266-12779556')
    .map((m) => JSON.parse(m.payload) as { ts: number; seq: number; values: Record<string, number> })
  expect(result.readingsSent).toBe(dataset.counts.readings)
  expect(telemetry).toHaveLength(result.readingsSent)
  expect(replayer.stats.acknowledged).toBe(result.readingsSent)
  expect(telemetry[0]).toEqual({ ts: Date.parse('2018-10-08T09:21:52Z'), seq: 0, values: { pm10: 31.52, pm25: 27.22 } })
  expect(telemetry.map((t) => t.seq)).toEqual(telemetry.map((_, i) => i))
  const rows = dataset.files.flatMap((f) => f.rows)
  expect(telemetry.map((t) => t.ts)).toEqual(rows.map((r) => r.ts))
  // Online, then offline on the clean end of the replay.
  const status = broker.messages.filter((m) => m.topic === 'status/environment/hcmc-nhabe-esp8266-12779556').map((m) => JSON.parse(m.payload).state)
  expect(status).toEqual(['online', 'offline'])
})

// The documented `--speed 300 --shift-to-now` once stored 2 of 40 readings:
// one offset for all rows stamped the later ones minutes ahead of the clock (ts_in_future).
test('paced replay with --shift-to-now: the first row lands now, and no reading is stamped after it is published', async () => {
  const dataset = loadDataset(datasetPath('03_aarhus_traffic_citypulse/AarhusTrafficData158505.csv'), mapping('03_aarhus_traffic_citypulse'), { maxRows: 4 })
  const before = Date.now()
  // 5-minute rows at 3,000x: 100 ms apart, on the clock and in their stamps.
  const result = await new Replayer({ url: broker.url, dataset, speed: 3_000, shiftToNow: true }).run(5_000)
  const messages = broker.messages.filter((m) => m.topic === 'telemetry/traffic/aarhus-158505')
  const telemetry = messages.map((m) => JSON.parse(m.payload) as { ts: number })
  const after = Date.now()
  expect(telemetry).toHaveLength(4)
  expect(telemetry[0]!.ts).toBeGreaterThanOrEqual(before)
  expect(telemetry.map((t, i) => i === 0 ? 0 : t.ts - telemetry[i - 1]!.ts).slice(1)).toEqual([100, 100, 100])
  expect(telemetry[3]!.ts).toBeLessThanOrEqual(after)
  for (const m of messages) expect((JSON.parse(m.payload) as { ts: number }).ts).toBeLessThanOrEqual(m.receivedAt)
  expect(result.shiftMs).toBe(telemetry[0]!.ts - Date.parse('2014-08-01T05:50:00Z'))
})

test('replays the newest ESB meter intervals into a broker oldest first, import and export in one reading', async () => {
  // The file is newest first: its first 600 rows are the last 300 intervals, import and export interleaved.
  const dataset = loadDataset(datasetPath('05_esb_smart_meter_ireland'), mapping('05_esb_smart_meter_ireland'), { maxRows: 600 })
  expect(dataset.counts.readings).toBeGreaterThanOrEqual(300)
  const result = await new Replayer({ url: broker.url, dataset, asFastAsPossible: true }).run(5_000)
  const telemetry = broker.messages.filter((m) => m.topic === 'telemetry/energy/esb-meter-1')
    .map((m) => JSON.parse(m.payload) as { ts: number; seq: number; values: Record<string, number> })
  expect(result.readingsSent).toBe(dataset.counts.readings)
  expect(telemetry).toHaveLength(dataset.counts.readings)
  expect(telemetry.map((t) => t.seq)).toEqual(telemetry.map((_, i) => i))
  expect(telemetry.every((t, i) => i === 0 || t.ts > telemetry[i - 1]!.ts)).toBe(true)
  // 04-10-2024 01:00 Irish summer time, the file's first line.
  expect(telemetry.at(-1)).toEqual({ ts: Date.parse('2024-10-04T00:00:00Z'), seq: telemetry.length - 1, values: { energy_export: 0, energy_import: 0.161 } })
})

// The replayer once printed "acknowledged 40, errors 0" while the service
// refused 38 of them: it now counts the service's notices on
// rejections/{domain}/{deviceId}, here published by a stand-in for the service.
test('the replayer counts the refusal notices of its devices by reason', async () => {
  const dataset = loadDataset(datasetPath('03_aarhus_traffic_citypulse/AarhusTrafficData158505.csv'), mapping('03_aarhus_traffic_citypulse'), { maxRows: 5 })
  const service = await mqtt.connectAsync(broker.url, { clientId: 'stand-in-service', reconnectPeriod: 0, protocolVersion: 4 })
  let n = 0
  service.on('message', (topic, payload) => {
    const { seq } = JSON.parse(payload.toString()) as { seq: number }
    const reason = seq === 0 ? 'value_invalid' : 'ts_in_future'
    if (n++ === 4) return // one stored
    service.publish('rejections/traffic/aarhus-158505', JSON.stringify({ reason, detail: 'stand-in', topic, receivedAt: new Date().toISOString() }), { qos: 1 })
  })
  await service.subscribeAsync('telemetry/traffic/aarhus-158505', { qos: 1 })
  // A notice for another device is not counted.
  const replayer = new Replayer({ url: broker.url, dataset, asFastAsPossible: true })
  const run = replayer.run(5_000)
  await service.publishAsync('rejections/traffic/aarhus-999', JSON.stringify({ reason: 'metric_unknown' }), { qos: 1 })
  await run
  await service.endAsync(true)
  expect(replayer.stats.acknowledged).toBe(5)
  expect(replayer.stats.refused).toEqual({ value_invalid: 1, ts_in_future: 3 })
  expect(refusedLine(replayer.stats.refused)).toBe('refused 4 (ts_in_future 3, value_invalid 1)')
  expect(refusedLine({})).toBe('refused 0')
})

import { SPARKPLUG_NAMESPACE, encodeSparkplug } from '@gridline/processors'
import { deviceTopic } from '@gridline/schemas'

/**
 * The data every scenario sends, generated the same way by the load
 * generators and by the copy-limit file, so both store exactly the same rows.
 *
 * Each reading carries one metric (rows == readings) and its own timestamp:
 * reading `i` of a device is stamped `baseTimeMs + i` ms, so no two rows share
 * (device_id, metric, time) and nothing is deduplicated.
 */

export const BENCH_DOMAIN = 'environment'

/** One shared secret: the bench measures throughput, not credential handling. */
export const BENCH_PASSWORD = 'gridline-bench-password'

/** Catalogued environment metrics; every value generated below is inside all of their plausible ranges, so quality stays 0. */
const METRICS = ['temperature', 'humidity', 'pm25', 'noise'] as const

export function benchDeviceId(index: number): string {
  return `bench-${String(index).padStart(4, '0')}`
}

export function benchTopic(deviceId: string): string {
  return deviceTopic(BENCH_DOMAIN, deviceId)
}

/** Reading `index` of a device as JSON: `{"ts":...,"seq":...,"values":{metric:value}}`. */
export function readingJson(baseTimeMs: number, index: number): string {
  const metric = METRICS[index % METRICS.length]!
  const value = 20 + (index % 50) / 10
  return `{"ts":${baseTimeMs + index},"seq":${index},"values":{"${metric}":${value}}}`
}

/** A device message holding readings `first` .. `first + count - 1`: one reading alone, several as an array. */
export function messagePayload(baseTimeMs: number, first: number, count: number): string {
  if (count === 1) return readingJson(baseTimeMs, first)
  const parts: string[] = new Array(count)
  for (let i = 0; i < count; i++) parts[i] = readingJson(baseTimeMs, first + i)
  return `[${parts.join(',')}]`
}

/**
 * Timestamps start this far before the run so every reading stays in the
 * past (the service refuses readings more than 5 minutes ahead) while still
 * landing in the partitions `maintainStorage` creates around now.
 */
export const BASE_TIME_OFFSET_MS = 60 * 60 * 1000

/** The first `n` bench device ids. (Here, not in scenarios.ts, which imports every scenario that uses it.) */
export const devices = (n: number) => Array.from({ length: n }, (_, i) => benchDeviceId(i))

/** Messages each batched connection sends so that the total readings equal settings.rows. */
export function batchedMessagesPerConnection(s: { rows: number; batchedConnections: number; readingsPerBatchMessage: number }): number {
  return Math.max(1, Math.round(s.rows / (s.batchedConnections * s.readingsPerBatchMessage)))
}

/**
 * Request `request` of the line-protocol load: `lines` points
 * `env,device=<id> pm25=<v> <ms>`, devices in turn, each point one stored row;
 * point `k` overall (request * lines + line) is device `k % n`'s reading
 * `floor(k / n)`, stamped `baseTimeMs + that` ms, so no two rows collide.
 * The same bodies go to gridline and to InfluxDB.
 */
export function lineProtocolBody(baseTimeMs: number, deviceIds: readonly string[], request: number, lines: number): string {
  const out: string[] = new Array(lines)
  const n = deviceIds.length
  for (let l = 0; l < lines; l++) {
    const k = request * lines + l
    const reading = Math.floor(k / n)
    out[l] = `env,device=${deviceIds[k % n]} pm25=${20 + (reading % 50) / 10} ${baseTimeMs + reading}`
  }
  return out.join('\n')
}

/** What an airrohr sensor with an SDS011 and a BME280 sends, as the firmware's strings, with its diagnostics; `i` varies the values. */
export function sensorValues(i: number): { value_type: string; value: string }[] {
  const v = (x: number) => x.toFixed(2)
  return [
    { value_type: 'SDS_P1', value: v(20 + (i % 40) / 4) },
    { value_type: 'SDS_P2', value: v(10 + (i % 30) / 4) },
    { value_type: 'BME280_temperature', value: v(27 + (i % 20) / 10) },
    { value_type: 'BME280_humidity', value: v(70 + (i % 25) / 5) },
    { value_type: 'BME280_pressure', value: v(100_800 + (i % 100)) },
    { value_type: 'samples', value: '614518' },
    { value_type: 'min_micro', value: '230' },
    { value_type: 'max_micro', value: '26719' },
    { value_type: 'signal', value: '-61' },
  ]
}

/**
 * The `sparkplug` scenario's readings: 10 Double metrics of a water pump
 * station, by their Sparkplug names (each maps to the water catalogue metric
 * of its snake case: `Inputs/Pump Speed` -> pump_speed) and their catalogue
 * names, each value inside the metric's plausible range. Alias k + 1 is metric k.
 */
export const SPARKPLUG_METRICS = [
  { name: 'Inputs/Flow', metric: 'flow', base: 120 },
  { name: 'Inputs/Pressure', metric: 'pressure', base: 3 },
  { name: 'Inputs/Level', metric: 'level', base: 4 },
  { name: 'Inputs/PH', metric: 'ph', base: 7 },
  { name: 'Inputs/Turbidity', metric: 'turbidity', base: 1 },
  { name: 'Inputs/Chlorine', metric: 'chlorine', base: 0.5 },
  { name: 'Inputs/Pump Speed', metric: 'pump_speed', base: 60 },
  { name: 'Inputs/Pump Current', metric: 'pump_current', base: 40 },
  { name: 'Inputs/Inflow', metric: 'inflow', base: 300 },
  { name: 'Inputs/Outflow', metric: 'outflow', base: 290 },
] as const

export const SPARKPLUG_DOMAIN = 'water'
/** The Sparkplug device id of every bench edge node's one device (its registry metadata `sparkplugDevice`). */
export const SPARKPLUG_DEVICE = 'PLC1'
export const sparkplugGatewayId = (i: number) => `bench-spb-gw-${String(i).padStart(4, '0')}`
export const sparkplugDeviceId = (i: number) => `bench-spb-${String(i).padStart(4, '0')}`

/** Value of metric k in message i. */
export const sparkplugValue = (k: number, i: number) => SPARKPLUG_METRICS[k]!.base + (i % 50) / 100

/** Message i of a water device as gridline JSON: the same 10 values as DDATA i, at baseTimeMs + i. */
export function waterJson(baseTimeMs: number, i: number): string {
  const values = SPARKPLUG_METRICS.map((m, k) => `"${m.metric}":${sparkplugValue(k, i)}`).join(',')
  return `{"ts":${baseTimeMs + i},"seq":${i},"values":{${values}}}`
}

const SPARKPLUG_GROUP = 'Water'
const sparkplugTopic = (type: string, edgeNode: string, device?: string) => `${SPARKPLUG_NAMESPACE}/${SPARKPLUG_GROUP}/${type}/${edgeNode}${device ? `/${device}` : ''}`

/**
 * An edge node's births, before its data: NBIRTH (bdSeq, Node Control/Rebirth;
 * seq 0) and its device's DBIRTH defining the 10 metrics with aliases (seq 1),
 * stamped `atMs`, outside the data's time range.
 */
export function sparkplugBirths(edgeNode: string, atMs: number): { topic: string; payload: Buffer }[] {
  return [
    {
      topic: sparkplugTopic('NBIRTH', edgeNode),
      payload: encodeSparkplug({ timestamp: atMs, seq: 0, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 0 }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }] }),
    },
    {
      topic: sparkplugTopic('DBIRTH', edgeNode, SPARKPLUG_DEVICE),
      payload: encodeSparkplug({ timestamp: atMs, seq: 1, metrics: SPARKPLUG_METRICS.map((m, k) => ({ name: m.name, alias: k + 1, type: 'Double', value: sparkplugValue(k, 0) })) }),
    },
  ]
}

export const sparkplugDataTopic = (edgeNode: string) => sparkplugTopic('DDATA', edgeNode, SPARKPLUG_DEVICE)

/** DDATA i of an edge node's device: the 10 metrics by alias only, one timestamp (baseTimeMs + i), seq after the births mod 256. */
export function sparkplugData(baseTimeMs: number, i: number): Buffer {
  return encodeSparkplug({ timestamp: baseTimeMs + i, seq: (i + 2) % 256, metrics: SPARKPLUG_METRICS.map((_, k) => ({ alias: k + 1, type: 'Double', value: sparkplugValue(k, i) })) })
}

/**
 * Alarm latency: from the moment a batch holding a threshold-crossing reading
 * reaches the engine to (1) the AlarmEvent's emission and (2) its delivery to
 * a live stream subscriber, under steady background load.
 *
 *   npx tsx processors/bench/measure-latency.ts [--rate 50000] [--seconds 10] [--devices 5000]
 *
 * Background readings arrive in batches every 10 ms (as committed batches
 * do); one device in fifty crosses its threshold in turn, then falls back so
 * the alarm clears. Also reports the engine's CPU cost per reading.
 */
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import type { Reading } from '../src/stream/events.ts'
import { StreamHub } from '../src/stream/hub.ts'
import type { AlarmEventDetail } from '../src/alarms/alarm-event.ts'
import { AlarmEngine } from '../src/alarms/engine.ts'

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '10' },
    devices: { type: 'string', default: '5000' },
  },
})
const rate = Number(args.rate)
const seconds = Number(args.seconds)
const deviceCount = Number(args.devices)
const TICK_MS = 10
const METRICS = ['pm25', 'pm10', 'temperature', 'humidity']

const engine = new AlarmEngine({
  rules: [
    { id: 'pm25-high', type: 'threshold', metric: 'pm25', raiseAbove: 150, clearBelow: 100, severity: 'major' },
    { id: 'pm10-high', type: 'threshold', metric: 'pm10', raiseAbove: 250, clearBelow: 200, forSeconds: 60 },
    { id: 'temp-rise', type: 'rate_of_change', metric: 'temperature', windowSeconds: 300, raiseAbove: 2 },
    { id: 'offline', type: 'stale', expectedIntervalSeconds: 60, missedIntervals: 5 },
  ],
  flapping: { maxTransitions: 1_000, windowSeconds: 60 },
})
const hub = new StreamHub()
await engine.start()

const crossings = new Map<string, number>()
const emitted: number[] = []
const delivered: number[] = []
engine.events.subscribe((e) => {
  const t0 = crossings.get(e.alarmId === '' ? '' : `${e.subject}/${e.state}`)
  if (t0 !== undefined) emitted.push(performance.now() - t0)
  hub.publish(e)
})
hub.subscribe({ kinds: ['alarm'], name: 'latency-probe' }, (e) => {
  const t0 = crossings.get(`${(e as AlarmEventDetail).subject}/${(e as AlarmEventDetail).state}`)
  if (t0 !== undefined) delivered.push(performance.now() - t0)
})
// A reading subscriber too, so the hub does the work it does in service.
hub.subscribe({ kinds: ['reading'], name: 'dashboard', maxEventsPerSecond: 200 }, () => undefined)

let sequence = 0
let engineMs = 0
let hubMs = 0
let lastTick = performance.now()
let readingsIn = 0
let crossingDevice = 0
let tickNo = 0
const startedAt = performance.now()

function tick(): void {
  const now = Date.now()
  // Timers drift; the batch holds what the rate owes since the last tick.
  const tickAt = performance.now()
  const perTick = Math.max(2, Math.round((rate * (tickAt - lastTick)) / 1000))
  lastTick = tickAt
  const batch: Reading[] = new Array(perTick)
  for (let i = 0; i < perTick; i++) {
    const n = sequence++
    const deviceId = `aq-${n % deviceCount}`
    const metric = METRICS[n % METRICS.length]!
    batch[i] = { time: now, receivedAt: now, deviceId, domain: 'environment', metric, value: 20 + (n % 50), quality: 0, seq: n, flags: 0 }
  }
  // Every fifth tick one device crosses (raised), and the one before falls back (cleared).
  if (tickNo++ % 5 === 0) {
    const up = `aq-${crossingDevice++ % deviceCount}`
    const down = `aq-${(crossingDevice + deviceCount - 2) % deviceCount}`
    const position = Math.floor(Math.random() * perTick)
    batch[position] = { time: now, receivedAt: now, deviceId: up, domain: 'environment', metric: 'pm25', value: 180, quality: 0, seq: -1, flags: 0 }
    batch[(position + 1) % perTick] = { time: now, receivedAt: now, deviceId: down, domain: 'environment', metric: 'pm25', value: 40, quality: 0, seq: -1, flags: 0 }
    const t0 = performance.now()
    crossings.set(`${up}/raised`, t0)
    crossings.set(`${down}/cleared`, t0)
  }
  const t = performance.now()
  engine.onReadings(batch)
  const t2 = performance.now()
  hub.publishReadings(batch)
  engineMs += t2 - t
  hubMs += performance.now() - t2
  readingsIn += batch.length
}

const timer = setInterval(tick, TICK_MS)
await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
clearInterval(timer)
await new Promise((resolve) => setTimeout(resolve, 200))
const elapsed = (performance.now() - startedAt) / 1000
await engine.stop()
hub.close()

function percentile(sorted: number[], p: number): string {
  if (sorted.length === 0) return 'n/a'
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(3)
}
const e = emitted.sort((a, b) => a - b)
const d = delivered.sort((a, b) => a - b)
const stats = engine.stats()
process.stdout.write(`readings: ${readingsIn} in ${elapsed.toFixed(1)} s (${Math.round(readingsIn / elapsed)}/s), ${deviceCount} devices, ${engine.stats().evaluated} rule evaluations` + '\n')
process.stdout.write(`alarm changes measured: ${e.length} (raised ${stats.transitions.raised}, cleared ${stats.transitions.cleared})` + '\n')
process.stdout.write(`crossing -> AlarmEvent emitted   ms: p50 ${percentile(e, 50)}  p95 ${percentile(e, 95)}  p99 ${percentile(e, 99)}  max ${percentile(e, 100)}` + '\n')
process.stdout.write(`crossing -> hub subscriber       ms: p50 ${percentile(d, 50)}  p95 ${percentile(d, 95)}  p99 ${percentile(d, 99)}  max ${percentile(d, 100)}` + '\n')
process.stdout.write(`CPU per reading: alarm engine ${((engineMs * 1e6) / readingsIn).toFixed(0)} ns, hub publish ${((hubMs * 1e6) / readingsIn).toFixed(0)} ns` + '\n')

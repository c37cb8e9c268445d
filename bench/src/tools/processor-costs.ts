/**
 * What each after-commit processor costs per reading, in one process with no
 * database: the pipeline-processors workload's shape (1,000,000 readings in
 * 200 committed batches of 5,000, 100 devices, 5 metrics, 1 ms apart, the
 * bench's alarm rules) fed as ReadingBatches to each consumer alone.
 *
 *   npx tsx bench/src/tools/processor-costs.ts [--rounds 5]
 *
 * Prints the median and range of ns per reading for each. It isolates the
 * processors' own arithmetic from the decode, the write and PostgreSQL,
 * which `gridline bench pipeline pipeline-processors` measure together.
 */
import { parseArgs } from 'node:util'
import { AlarmEngine, ReadingBatch, RollupWindows, StreamHub } from '@gridline/processors'
import { median } from '../stats.ts'

const METRICS = ['pm25', 'pm10', 'temperature', 'humidity', 'noise']
const RULES = [
  { id: 'bench-pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 150, clearBelow: 100, forSeconds: 60, severity: 'major' },
  { id: 'bench-temperature-rate', type: 'rate_of_change', metric: 'temperature', windowSeconds: 300, per: 'hour', raiseAbove: 1e9, severity: 'minor' },
  { id: 'bench-noise-high', type: 'threshold', metric: 'noise', raiseAbove: 120, clearBelow: 100, severity: 'warning' },
]

function workload(): ReadingBatch[] {
  const base = Date.now() - 3_600_000
  const batches: ReadingBatch[] = []
  for (let b = 0; b < 200; b++) {
    const batch = new ReadingBatch(5_000)
    for (let m = 0; m < 50; m++) {
      const message = b * 50 + m
      const device = `bench-${message % 100}`
      for (let i = 0; i < 100; i++) {
        const index = Math.floor(message / 100) * 100 + i
        batch.push(base + index, base, device, 'environment', METRICS[index % METRICS.length]!, 20 + (index % 50) / 10, 0, index, 0)
      }
    }
    batches.push(batch)
  }
  return batches
}

const consumers: Record<string, (batches: readonly ReadingBatch[]) => void> = {
  'rollup windows (1m and 1h)': (batches) => {
    const windows = new RollupWindows({ allowedLatenessMs: 30_000, idleTimeoutMs: 60_000, forgetDeviceAfterMs: 3_600_000, recomputeFirstBucket: true }, { emit: () => undefined, recompute: () => undefined })
    const now = Date.now()
    for (const batch of batches) windows.addBatch(batch, now)
  },
  'alarm engine (3 rules)': (batches) => {
    const engine = new AlarmEngine({ rules: RULES as never }, {})
    for (const batch of batches) engine.onBatch(batch)
  },
  'live stream hub (one rate-limited subscriber)': (batches) => {
    const hub = new StreamHub()
    hub.subscribe({ name: 'dashboard', kinds: ['reading', 'alarm'], maxEventsPerSecond: 100 }, () => undefined)
    for (const batch of batches) hub.publishBatch(batch)
    hub.close()
  },
  'building the ReadingBatch (copy of the rows)': (batches) => {
    for (const b of batches) {
      const copy = new ReadingBatch(b.length)
      for (let i = 0; i < b.length; i++) copy.push(b.time[i]!, b.receivedAt[i]!, b.deviceId[i]!, b.domain[i]!, b.metric[i]!, b.value[i]!, b.quality[i]!, b.seq[i]!, b.flags[i]!)
    }
  },
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } })
const rounds = Math.max(1, Number(values.rounds))
const batches = workload()
const readings = batches.reduce((n, b) => n + b.length, 0)
for (const [name, run] of Object.entries(consumers)) {
  run(batches) // warm-up
  const ns: number[] = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    run(batches)
    ns.push(Number(process.hrtime.bigint() - start) / readings)
  }
  process.stdout.write(`${name}: ${median(ns).toFixed(0)} ns per reading (${Math.min(...ns).toFixed(0)}-${Math.max(...ns).toFixed(0)}), ${rounds} rounds of ${readings.toLocaleString('en')} readings\n`)
}

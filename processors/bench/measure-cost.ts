/**
 * Per-reading cost of the before-write stage (SequenceTracker.apply +
 * QualityChecker.apply) and of the rollup operator, on one core, with
 * realistic shapes: 2,000 devices x 5 metrics, one message of one reading per
 * device per round. Not a test (speed belongs in bench); run:
 *   npx tsx processors/bench/measure-cost.ts
 */
import { Subject } from 'rxjs'
import { rollupWindows } from '../src/rollup/rollup-operator.ts'
import { SequenceTracker } from '../src/sequence/sequence-tracker.ts'
import type { Reading } from '../src/stream/events.ts'
import { Rows } from '@gridline/core'
import { QualityChecker } from '../src/quality/quality-checker.ts'

const DEVICES = 2000
const METRICS = ['pm25', 'pm10', 'temperature', 'humidity', 'noise']
const ROUNDS = 100
const T0 = Date.UTC(2026, 10, 28)
const ids = Array.from({ length: DEVICES }, (_, i) => `aq-${i}`)

function messages(round: number): Rows[] {
  return ids.map((id, d) => {
    const rows = new Rows()
    const time = T0 + round * 10_000 + d
    for (let m = 0; m < METRICS.length; m++) rows.push(time, id, METRICS[m]!, 20 + ((round * 7 + d + m) % 13) * 0.5, 0, round, 0)
    return rows
  })
}

function measureBeforeWrite(): void {
  const quality = new QualityChecker()
  const sequences = new SequenceTracker()
  const all = Array.from({ length: ROUNDS }, (_, r) => messages(r))
  for (const rows of all[0]!) { sequences.apply(rows); quality.apply(rows) }
  const start = process.hrtime.bigint()
  let n = 0
  for (let r = 1; r < ROUNDS; r++) for (const rows of all[r]!) {
    sequences.apply(rows)
    quality.apply(rows)
    n += rows.length
  }
  const ns = Number(process.hrtime.bigint() - start) / n
  process.stdout.write(`sequence + quality, before the write: ${ns.toFixed(0)} ns per row (${n} rows)` + '\n')
}

function measureRollup(): void {
  const subject = new Subject<Reading>()
  let events = 0
  subject.pipe(rollupWindows({ recomputeFirstBucket: false, idleCheckIntervalMs: 3_600_000 })).subscribe(() => events++)
  const readings: Reading[] = []
  for (let r = 0; r < ROUNDS; r++) for (let d = 0; d < DEVICES; d++) for (const metric of METRICS) {
    const time = T0 + r * 10_000 + d
    readings.push({ time, receivedAt: time, deviceId: ids[d]!, domain: 'environment', metric, value: r % 17, quality: 0, seq: r, flags: 0 })
  }
  const warm = readings.length / 10
  for (let i = 0; i < warm; i++) subject.next(readings[i]!)
  const start = process.hrtime.bigint()
  for (let i = warm; i < readings.length; i++) subject.next(readings[i]!)
  const ns = Number(process.hrtime.bigint() - start) / (readings.length - warm)
  subject.complete()
  process.stdout.write(`rollup operator (1m + 1h windows): ${ns.toFixed(0)} ns per reading (${readings.length - warm} readings, ${events} buckets emitted)` + '\n')
}

for (let i = 0; i < 3; i++) {
  measureBeforeWrite()
  measureRollup()
}

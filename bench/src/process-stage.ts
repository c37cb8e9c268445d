import { createLogger } from '@gridline/core'
import { type Envelope, type LiveDeviceDirectory, ProcessorHost, ingestConfig } from '@gridline/ingest'
import type { DecodedMessage, WritePosition } from '@gridline/processors'
import pg from 'pg'

/**
 * The processors as the ingest service composes them (ProcessorHost with its
 * default config plus a few alarm rules on the bench metrics): seq tracking
 * and quality checks per message before the write; rollups, indicators,
 * alarms and the live stream after each commit. `pipeline-processors`
 * measures this against `pipeline` (validate and write alone) in one run.
 */
export interface ProcessStage {
  readonly name: string
  /** Per decoded message, before the write. */
  prepare(decoded: DecodedMessage, at: WritePosition): void
  /** After each batch is committed. */
  committed(batch: readonly Envelope[]): void
  /** Flushes what the processors hold (rollups) and releases connections. */
  close(): Promise<void>
  /** The processors' backpressure, handed to the pipeline as the service does. */
  onCongestion(listener: (held: boolean) => void): void
}

/** Alarm rules on the bench workload's metrics: evaluated on every reading, rarely crossed. */
const BENCH_ALARM_RULES = [
  { id: 'bench-pm25-high', type: 'threshold', metric: 'pm25', domains: ['environment'], raiseAbove: 150, clearBelow: 100, forSeconds: 60, severity: 'major' },
  { id: 'bench-temperature-rate', type: 'rate_of_change', metric: 'temperature', windowSeconds: 300, per: 'hour', raiseAbove: 1e9, severity: 'minor' },
  { id: 'bench-noise-high', type: 'threshold', metric: 'noise', raiseAbove: 120, clearBelow: 100, severity: 'warning' },
] as const

const SWITCHABLE = ['quality', 'rollups', 'indicators', 'alarms'] as const

/**
 * `GRIDLINE_BENCH_PROCESSORS_OFF=rollups,indicators`: those processors off in the
 * processors' side of a run, to see what each costs (docs/benchmarks.md#what-each-processor-costs).
 */
function processorsTurnedOff(): Record<string, { enabled: false }> {
  const names = (process.env.GRIDLINE_BENCH_PROCESSORS_OFF ?? '').split(',').map((n) => n.trim()).filter(Boolean)
  for (const n of names) {
    if (!(SWITCHABLE as readonly string[]).includes(n)) throw new Error(`GRIDLINE_BENCH_PROCESSORS_OFF: "${n}" is not one of ${SWITCHABLE.join(', ')}`)
  }
  return Object.fromEntries(names.map((n) => [n, { enabled: false }]))
}

export const PROCESS_STAGE_NAME = 'all processors (seq, quality, rollups, indicators, alarms, live stream)'

/** `directory`: the registry the processors look devices up in (district, road segment, ...); none for the copy-limit workload. */
export async function createProcessStage(databaseUrl: string, directory: LiveDeviceDirectory | null = null): Promise<ProcessStage> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  pool.on('error', () => undefined)
  const config = ingestConfig({ processors: { alarms: { rules: BENCH_ALARM_RULES as never }, ...processorsTurnedOff() } as never })
  const host = new ProcessorHost(config.processors, { pool, directory, logger: createLogger({ level: 'silent' }) })
  await host.start()
  // A dashboard-like subscriber on the live stream, so fan-out is part of the cost.
  host.hub.subscribe({ name: 'bench-dashboard', kinds: ['reading', 'alarm'], maxEventsPerSecond: 100 }, () => undefined)
  return {
    name: PROCESS_STAGE_NAME,
    prepare: (decoded, at) => host.prepare(decoded, at),
    committed: (batch) => host.onCommitted(batch),
    onCongestion: (listener) => host.onCongestion(listener),
    async close() {
      await host.stop()
      await pool.end()
    },
  }
}

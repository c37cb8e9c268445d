import type { Reading } from '../reading.ts'

/** Where sources hand readings. */
export interface ReadingSink {
  /** Resolves once the reading is on disk, or was refused (counted by the agent); never rejects. */
  accept(reading: Reading): Promise<void>
  /** Counts southbound data that could not become a reading. */
  sourceError(reason: string): void
}

/** A southbound source. `start` is called once; `stop` once, after start. */
export interface Source {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
  /** For /healthz: state of the source. */
  health(): Record<string, unknown>
}

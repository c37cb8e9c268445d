import type pg from 'pg'
import type { IngestConfig } from '../config.ts'

/**
 * The service's connection pool settings: size from `database.poolSize`, and
 * JIT off unless `database.jit` (docs/storage.md#jit), as a startup option
 * so every connection has it, whichever query runs first.
 */
export function servicePoolConfig(config: Pick<IngestConfig, 'database'>, connectionString: string): pg.PoolConfig {
  return { connectionString, max: config.database.poolSize, ...(config.database.jit ? {} : { options: '-c jit=off' }) }
}

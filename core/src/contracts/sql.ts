/**
 * The little of a database client the schema code and the processors need,
 * so the same code runs on node-postgres (Pool or Client) and on PGlite
 * (TimescaleDB in WASM, tests).
 */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

export interface SqlClient {
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>
}

/** Adapts a node-postgres Client or Pool. */
export function pgSqlClient(pg: Queryable): SqlClient {
  return {
    async exec(sql) {
      await pg.query(sql)
    },
    async query<T>(sql: string, params?: unknown[]) {
      const result = await pg.query(sql, params)
      return { rows: result.rows as T[] }
    },
  }
}

export type StorageEngineName = 'timescaledb' | 'postgres'

/**
 * One schema step. Released migrations never change; add a new one.
 * `migrate()` runs every part's migrations in version order, each once, in
 * one transaction. Version ranges are owned per part so they never collide
 * (docs/storage.md#migrations).
 */
export interface Migration {
  version: number
  name: string
  sql: string | ((engine: StorageEngineName) => string)
}

/** A component's log: pino's child loggers fit it; tests pass a silent one. */
export interface ComponentLogger {
  debug(obj: object, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object, msg?: string): void
}

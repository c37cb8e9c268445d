/**
 * The little of a database client the schema code needs, so the same
 * migrations run on node-postgres and on PGlite (TimescaleDB in WASM, tests).
 */
export interface SqlClient {
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>
}

interface PgLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

/** Adapts a node-postgres Client or Pool. */
export function pgSqlClient(pg: PgLike): SqlClient {
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

/**
 * The one method processors need from a database client. A node-postgres
 * `Pool` or `Client` fits, and so does ingest's `SqlClient`.
 */
export interface SqlQueryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>
}

// The contract lives in core (shared with the processors); re-exported for ingest's callers.
export { type SqlClient, pgSqlClient } from '@gridline/core'

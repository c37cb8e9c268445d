import type { SqlClient } from '@gridline/core'

/**
 * The one method processors need from a database client (core's SqlClient
 * contract). A node-postgres `Pool` or `Client` fits.
 */
export type SqlQueryable = Pick<SqlClient, 'query'>

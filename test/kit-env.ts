import { inject } from 'vitest'

// The test kit (`@gridline/ingest/testing`) is plain code, not vitest's: it
// finds the database server the global setup chose through the environment.
process.env.GRIDLINE_TEST_ADMIN_URL = inject('databaseAdminUrl')

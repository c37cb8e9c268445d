import type { TestProject } from 'vitest/node'
import { testAdminUrl } from '@gridline/ingest/testing'
import { postgresReachable } from './support.ts'

/**
 * Finds the PostgreSQL the integration tests use: GRIDLINE_TEST_DATABASE_URL,
 * else the machine's own on 127.0.0.1:5432, else an embedded one under
 * data/test-pg. In CI a missing database is an error, never a skip.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The kit's default server (GRIDLINE_TEST_DATABASE_URL, else 127.0.0.1:5432); the workers are told the one chosen.
  const candidate = testAdminUrl()
  let stop = async () => {}
  let url = candidate
  if (!(await postgresReachable(candidate))) {
    if (process.env.CI) throw new Error(`CI: the test database ${candidate} is unreachable; .ci/run must start it.`)
    const { startEmbeddedPostgres } = await import('@gridline/cli/embedded-db')
    const embedded = await startEmbeddedPostgres('data/test-pg')
    url = embedded.url.replace(/\/gridline$/, '/postgres')
    stop = embedded.stop
  }
  project.provide('databaseAdminUrl', url)
  return stop
}


declare module 'vitest' {
  export interface ProvidedContext {
    databaseAdminUrl: string
  }
}

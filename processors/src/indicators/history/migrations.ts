import type { ProcessorMigration } from '../../storage/migration.ts'

/** Versions 50-59. Table documented in docs/indicators.md#history and docs/storage.md. */
export const INDICATOR_MIGRATIONS: ProcessorMigration[] = [
  {
    version: 50,
    name: 'indicator_values',
    sql: `
CREATE TABLE indicator_values (
  name text NOT NULL,
  scope text NOT NULL,
  key text NOT NULL,
  time timestamptz NOT NULL,
  value double precision NOT NULL,
  level text,
  details jsonb,
  revision integer NOT NULL DEFAULT 0,
  computed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, scope, key, time)
);
CREATE INDEX indicator_values_time_idx ON indicator_values (name, time);
`,
  },
]

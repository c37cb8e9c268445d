import type { ProcessorMigration } from '../storage/migration.ts'

function rollupTable(name: string): string {
  return `
CREATE TABLE ${name} (
  bucket timestamptz NOT NULL,
  device_id text NOT NULL,
  metric text NOT NULL,
  count integer NOT NULL,
  min double precision,
  max double precision,
  avg double precision,
  last double precision,
  non_good integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, metric, bucket)
);
CREATE INDEX ${name}_bucket_idx ON ${name} (bucket);
`
}

/**
 * Versions 10-19. Rollups are maintained by the processors on both engines
 * (docs/rollups.md says why), so the tables are the same everywhere.
 */
export const ROLLUP_MIGRATIONS: ProcessorMigration[] = [
  { version: 10, name: 'rollups telemetry_1m and telemetry_1h', sql: rollupTable('telemetry_1m') + rollupTable('telemetry_1h') },
  {
    version: 11,
    name: 'sequence_gaps',
    sql: `
CREATE TABLE sequence_gaps (
  device_id text NOT NULL,
  seq_from bigint NOT NULL,
  seq_to bigint NOT NULL,
  missing bigint GENERATED ALWAYS AS (seq_to - seq_from + 1) STORED,
  after_time timestamptz,
  before_time timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, seq_from),
  CHECK (seq_to >= seq_from)
);
`,
  },
]

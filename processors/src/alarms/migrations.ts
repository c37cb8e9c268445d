import type { ProcessorMigration } from '../storage/migration.ts'

/** Versions 20-29. Tables documented in docs/alarms.md#tables. */
export const ALARM_MIGRATIONS: ProcessorMigration[] = [
  {
    version: 20,
    name: 'alarms and alarm_events',
    sql: `
CREATE TABLE alarms (
  id uuid PRIMARY KEY,
  rule_id text NOT NULL,
  subject text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
  state text NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),
  flapping boolean NOT NULL DEFAULT false,
  message text NOT NULL,
  raised_at timestamptz NOT NULL,
  raised_value double precision,
  last_value double precision,
  cleared_at timestamptz,
  acknowledged_at timestamptz,
  acknowledged_by text,
  ack_comment text,
  device_id text,
  domain text,
  metric text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'cleared') = (cleared_at IS NOT NULL))
);
-- One active alarm per rule and subject, whatever the engine believes.
CREATE UNIQUE INDEX alarms_one_active_idx ON alarms (rule_id, subject) WHERE cleared_at IS NULL;
CREATE INDEX alarms_raised_at_idx ON alarms (raised_at DESC);
CREATE INDEX alarms_unacknowledged_idx ON alarms (raised_at DESC) WHERE acknowledged_at IS NULL;

CREATE TABLE alarm_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  alarm_id uuid NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
  rule_id text NOT NULL,
  subject text NOT NULL,
  severity text NOT NULL,
  transition text NOT NULL CHECK (transition IN ('raised', 'acknowledged', 'cleared', 'flapping')),
  time timestamptz NOT NULL,
  value double precision,
  actor text,
  comment text,
  message text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, id);
CREATE INDEX alarm_events_time_idx ON alarm_events (time);
CREATE INDEX alarm_events_rule_subject_idx ON alarm_events (rule_id, subject, time);
`,
  },
  {
    version: 21,
    name: 'alarm shelving and escalation',
    sql: `
ALTER TABLE alarms
  ADD COLUMN shelved_at timestamptz,
  ADD COLUMN shelved_until timestamptz,
  ADD COLUMN shelved_by text,
  ADD COLUMN shelve_reason text,
  ADD COLUMN escalated_at timestamptz;
ALTER TABLE alarm_events DROP CONSTRAINT alarm_events_transition_check;
ALTER TABLE alarm_events ADD CONSTRAINT alarm_events_transition_check
  CHECK (transition IN ('raised', 'acknowledged', 'cleared', 'flapping', 'shelved', 'unshelved', 'escalated'));
`,
  },
]

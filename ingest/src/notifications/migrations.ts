import type { SchemaMigration } from '../storage/schema.ts'

/**
 * The outbox of alarm notifications: one row per event and endpoint, so the
 * queue survives a restart. Version 35, in ingest's own range (30-39 with the
 * console's 30 and the commands' 31).
 */
export const NOTIFICATION_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 35,
    name: 'notification deliveries',
    sql: `
CREATE TABLE notification_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  endpoint text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
  idempotency_key uuid NOT NULL,
  alarm_id text NOT NULL,
  rule_id text NOT NULL,
  subject text NOT NULL,
  severity text NOT NULL,
  event_state text NOT NULL,
  body text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  window_start timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  last_status integer,
  last_error text,
  delivered_at timestamptz,
  dead_at timestamptz,
  dead_reason text,
  replays integer NOT NULL DEFAULT 0,
  UNIQUE (endpoint, idempotency_key)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_alarm ON notification_deliveries (endpoint, alarm_id, id) WHERE status = 'pending';
CREATE INDEX notification_deliveries_recent ON notification_deliveries (id DESC, status)`,
  },
]

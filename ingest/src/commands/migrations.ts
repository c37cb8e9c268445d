/**
 * Version 31: the device command log (docs/console-api.md#commands). Same
 * shape as the storage migrations; the lead's schema.ts applies it after the
 * processor migrations (20-29).
 *
 * No foreign key to devices: removing a device must not be blocked by, or
 * erase, the record of what operators told it to do.
 */
export const COMMAND_MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 31,
    name: 'device commands',
    sql: `
CREATE TABLE device_commands (
  id uuid PRIMARY KEY,
  device_id text NOT NULL,
  domain text NOT NULL,
  action text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL CHECK (status IN ('pending', 'ok', 'rejected', 'failed', 'timeout')),
  detail text,
  username text NOT NULL,
  sent_at timestamptz NOT NULL,
  replied_at timestamptz
);
CREATE INDEX device_commands_device_idx ON device_commands (device_id, sent_at DESC);
-- GET /api/commands without a device: newest first over every device.
CREATE INDEX device_commands_sent_at_idx ON device_commands (sent_at DESC);
`,
  },
]

/** The operator console's tables: users, their sessions, and the audit log. */
export const CONSOLE_MIGRATIONS = [
  {
    version: 30,
    name: 'console users, sessions and audit log',
    sql: `
CREATE TABLE console_users (
  name text PRIMARY KEY,
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
-- Only the SHA-256 of a session token is kept: a stolen table opens no session.
CREATE TABLE console_sessions (
  token_hash text PRIMARY KEY,
  user_name text NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  detail jsonb NOT NULL DEFAULT '{}',
  outcome text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
`,
  },
]

/**
 * The error catalogue: every error gridline raises on purpose has a stable
 * code, documented in docs/errors.md (a test keeps the two in sync).
 * Per-message problems on the hot path are not errors: they are rejections
 * with a reason code (see REJECT_REASONS in @gridline/schemas).
 */
export const ERROR_CODES = {
  GRIDLINE_CONFIG_INVALID: 'The configuration file or environment failed validation; the message lists every problem by path.',
  GRIDLINE_CONFIG_UNREADABLE: 'The configuration file could not be read or is not valid YAML.',
  GRIDLINE_PORT_IN_USE: 'A listener could not bind because the port is taken.',
  GRIDLINE_DATABASE_UNREACHABLE: 'The database could not be reached at start-up.',
  GRIDLINE_MIGRATION_FAILED: 'A schema migration failed; nothing after it ran.',
  GRIDLINE_SECOND_INSTANCE: 'Another ingest process already runs on the same database; one ingest process per database is the supported deployment.',
  GRIDLINE_DEVICE_EXISTS: 'A device with that id is already registered.',
  GRIDLINE_DEVICE_NOT_FOUND: 'No device with that id is registered.',
  GRIDLINE_USAGE: 'The command line was not understood.',
  GRIDLINE_SHUTTING_DOWN: 'The service is draining and takes no new messages; the client should reconnect later.',
  GRIDLINE_UNAUTHENTICATED: 'The console request has no valid session: log in (again).',
  GRIDLINE_FORBIDDEN: 'The logged-in user\'s role may not do this (viewer < operator < admin).',
  GRIDLINE_CSRF: 'A state-changing HTTP request did not come from a page of this origin (its Origin header names another, or it has none).',
  GRIDLINE_LOGIN_FAILED: 'The user name or password is wrong (the answer does not say which).',
  GRIDLINE_LOGIN_THROTTLED: 'Too many failed logins from this address or for this user name; wait for the Retry-After seconds.',
  GRIDLINE_BAD_REQUEST: 'The console request is malformed; the message says which field and what is accepted.',
  GRIDLINE_USER_EXISTS: 'A console user with that name already exists.',
  GRIDLINE_USER_NOT_FOUND: 'No console user has that name.',
  GRIDLINE_LAST_ADMIN: 'The last admin cannot be removed or demoted.',
  GRIDLINE_NOT_FOUND: 'Nothing is at that console path, or no record has that id.',
  GRIDLINE_INTERNAL: 'A console request failed inside the service; the service logged the cause.',
  GRIDLINE_COMMAND_INVALID: 'The device command is not one its domain accepts, or its parameters are wrong.',
  GRIDLINE_ALARM_NOT_FOUND: 'No alarm has that id.',
  GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED: 'The alarm was already acknowledged; the message says by whom.',
  GRIDLINE_ALARM_INVALID_ACK: 'An acknowledgement needs the name of who acknowledges (1-200 characters) and a comment of at most 2,000 characters.',
  GRIDLINE_ALARM_INVALID: 'A custom alarm or a severity is not one the alarm engine takes: the message says which field and what is accepted.',
  GRIDLINE_ALARM_INVALID_SHELVE: 'Shelving needs who shelves, a reason (1-2,000 characters) and a duration within the configured maximum.',
  GRIDLINE_ALARM_STATE_CONFLICT: 'The alarm is not in a state that allows this: only an active alarm can be shelved, only a shelved one unshelved.',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class GridlineError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GridlineError'
    this.code = code
  }
}

import { PROCESSOR_MIGRATIONS } from '@gridline/processors'
import { COMMAND_MIGRATIONS } from './commands/migrations.ts'
import { CONSOLE_MIGRATIONS } from './console/migrations.ts'
import { TOKEN_MIGRATIONS } from './devices/tokens.ts'
import { STA_MIGRATIONS } from './sta/migrations.ts'
import { NOTIFICATION_MIGRATIONS } from './notifications/migrations.ts'
import { DEFAULT_STORAGE_OPTIONS, type MigrationReport, STORAGE_MIGRATIONS, type SchemaMigration, type StorageOptions, migrateSchema } from './storage/schema.ts'
import type { SqlClient } from './storage/sql-client.ts'

/**
 * Every table gridline keeps, in version order: the storage's own (devices,
 * dead letters, telemetry, device status and logins), the processors'
 * (rollups, alarms), the console's (users, sessions, audit log) and the device
 * commands' and the HTTP source's API tokens. This is the composition: the storage module applies a list, each
 * part owns its migrations, and only this file knows them all.
 */
export const MIGRATIONS: readonly SchemaMigration[] = [
  ...STORAGE_MIGRATIONS,
  ...PROCESSOR_MIGRATIONS,
  ...CONSOLE_MIGRATIONS,
  ...COMMAND_MIGRATIONS,
  ...TOKEN_MIGRATIONS,
  ...STA_MIGRATIONS,
  ...NOTIFICATION_MIGRATIONS,
].sort((a, b) => a.version - b.version)

/**
 * Brings gridline's schema up to date (`migrateSchema` with every migration).
 * Idempotent and safe to run from several processes at once.
 */
export function migrate(db: SqlClient, options: StorageOptions = DEFAULT_STORAGE_OPTIONS): Promise<MigrationReport> {
  return migrateSchema(db, MIGRATIONS, options)
}

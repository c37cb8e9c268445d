import type { ProcessorMigration } from '../storage/migrations.ts'

/** Versions 20-29. */
export const ALARM_MIGRATIONS: ProcessorMigration[] = []

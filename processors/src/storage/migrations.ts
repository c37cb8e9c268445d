import { ALARM_MIGRATIONS } from '../alarms/migrations.ts'
import { INDICATOR_MIGRATIONS } from '../indicators/history/migrations.ts'
import { ROLLUP_MIGRATIONS } from '../rollup/migrations.ts'
import type { ProcessorMigration } from './migration.ts'

export type { ProcessorMigration, StorageEngineName } from './migration.ts'

/** Every processor's migrations, in version order. */
export const PROCESSOR_MIGRATIONS: readonly ProcessorMigration[] = [...ROLLUP_MIGRATIONS, ...ALARM_MIGRATIONS, ...INDICATOR_MIGRATIONS]
  .sort((a, b) => a.version - b.version)

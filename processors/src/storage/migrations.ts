import { ROLLUP_MIGRATIONS } from '../rollup/migrations.ts'
import { ALARM_MIGRATIONS } from '../alarms/migrations.ts'

import type { Migration } from '@gridline/core'

export type { StorageEngineName } from '@gridline/core'

/**
 * A schema step owned by a processor. The ingest service's `migrate()` runs
 * these after its own, in version order, each once, inside one transaction.
 * Version ranges are owned per processor so they never collide:
 * 10-19 rollups, 20-29 alarms, 30-39 device status (ingest).
 */
export type ProcessorMigration = Migration

export const PROCESSOR_MIGRATIONS: readonly ProcessorMigration[] = [...ROLLUP_MIGRATIONS, ...ALARM_MIGRATIONS]
  .sort((a, b) => a.version - b.version)

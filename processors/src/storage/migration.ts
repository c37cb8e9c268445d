import type { Migration } from '@gridline/core'

export type { StorageEngineName } from '@gridline/core'

/**
 * A schema step owned by a processor (core's Migration). The ingest
 * service's `migrate()` runs these with its own, in version order, each once,
 * inside one transaction. Version ranges are owned per processor so they
 * never collide: 10-19 rollups, 20-29 alarms, 50-59 indicator history; ingest owns 1-9, 30-49 and 70-79 (SensorThings).
 * (Its own module so each processor's migrations can name the type without
 * importing the list that collects them.)
 */
export type ProcessorMigration = Migration

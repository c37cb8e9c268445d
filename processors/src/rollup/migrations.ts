import type { ProcessorMigration } from '../storage/migrations.ts'

/** Versions 10-19. */
export const ROLLUP_MIGRATIONS: ProcessorMigration[] = []

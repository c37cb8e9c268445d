import type { Rows } from '@gridline/processors'

/**
 * The processors' stage of the `pipeline-processors` scenario: called once
 * per decoded message, after decode and validation and before the write,
 * with that message's rows; returns the rows to store. Synchronous, as it
 * runs on the ingest hot path.
 *
 * Identity until the processors stage exists; wire the real one here (and
 * set PROCESS_STAGE_NAME) and `pipeline-processors` measures it against
 * `pipeline` in the same run.
 */
export type ProcessStage = (rows: Rows) => Rows

export const processStage: ProcessStage = (rows) => rows

/** What the report calls the stage; "identity" says it is not wired yet. */
export const PROCESS_STAGE_NAME = 'identity'

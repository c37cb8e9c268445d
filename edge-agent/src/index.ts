export * from './agent.ts'
export * from './config.ts'
export * from './reading.ts'
// The disk queue lives in @gridline/core (the InfluxDB sink's buffer uses it too); re-exported where the agent's users found it.
export { DiskQueue, type DiskQueueOptions, DROP_REASONS, type DropReason, type FullPolicy, QueueFullError, type QueueStats, QueueCursor, type CursorRead, type QueuedRecord, type Segment } from '@gridline/core'
export * from './uplink/uplink.ts'
export { browseVariables } from './browse.ts'

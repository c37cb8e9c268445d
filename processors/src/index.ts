export * from './validate/decode.ts'
export * from './validate/rows.ts'
export * from './sequence/sequence-tracker.ts'
export * from './storage/migrations.ts'

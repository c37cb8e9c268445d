export * from './fleet.ts'
export * from './models.ts'
export * from './random.ts'

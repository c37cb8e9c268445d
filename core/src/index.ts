export * from './errors.ts'
export * from './logger.ts'
export * from './config.ts'
export * from './contracts/index.ts'

import { pino, type Logger } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level?: string
  /** Where JSON lines go; stdout by default. */
  destination?: NodeJS.WritableStream | number
}

/**
 * The one root logger of a process; components take `logger.child({ component })`.
 * Secrets are redacted by key wherever they appear in a logged object.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 1
  return pino(
    {
      level: options.level ?? 'info',
      redact: {
        paths: ['password', '*.password', 'passwordHash', '*.passwordHash', 'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination,
  )
}

/** A database or broker URL with its password replaced, fit to log. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '[unparseable url]'
  }
}

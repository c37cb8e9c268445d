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
      serializers: { err: serializeError },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination,
  )
}

/**
 * Errors are logged with a fixed set of fields. The default serializer copies
 * every enumerable property, and driver errors carry their connection (with
 * its parameters) along: nothing of that belongs in a log.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) }
  const e = err as Error & { code?: unknown; severity?: unknown; detail?: unknown; cause?: unknown }
  return {
    type: e.name,
    message: e.message,
    ...(typeof e.code === 'string' || typeof e.code === 'number' ? { code: e.code } : {}),
    ...(typeof e.severity === 'string' ? { severity: e.severity } : {}),
    ...(typeof e.detail === 'string' ? { detail: e.detail } : {}),
    stack: e.stack,
    ...(e.cause !== undefined ? { cause: serializeError(e.cause) } : {}),
  }
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

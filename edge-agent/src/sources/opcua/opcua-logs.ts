import type { Logger } from '@gridline/core'
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua'

/** node-opcua writes its own diagnostics with console.log; route them into the agent's pino logger instead. */
export function routeOpcuaLogs(logger: Logger): void {
  const text = (args: unknown[]) => args.map(String).join(' ')
  setWarningLogger((...args: unknown[]) => logger.debug({ library: 'node-opcua' }, text(args)))
  setErrorLogger((...args: unknown[]) => logger.debug({ library: 'node-opcua', level: 'error' }, text(args)))
  setDebugLogger((...args: unknown[]) => logger.trace({ library: 'node-opcua' }, text(args)))
}

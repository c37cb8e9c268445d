import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua-debug'

/**
 * Import first in a test file that loads node-opcua: its start-up self-check
 * (NODE-OPCUA-W27) and its warnings print with console.log, which the test
 * setup treats as a failure. They are kept in memory instead; the agent routes
 * them into its own logger once it is built.
 */
export const opcuaTestLog: string[] = []
const keep = (...args: unknown[]) => void opcuaTestLog.push(args.map(String).join(' '))
setWarningLogger(keep)
setErrorLogger(keep)
setDebugLogger(keep)

import type { CommandService } from '../commands/command-service.ts'

export type { CommandRecord, CommandStatus } from '../commands/command-service.ts'

/** What the console needs of the device command service: send, look up, and hear of every change. */
export type ConsoleCommands = Pick<CommandService, 'send' | 'waitForResult' | 'get' | 'list' | 'onChange'>

/**
 * What the console needs of the device command service (ingest/src/commands):
 * send, look up, and hear of every change.
 */
export type CommandStatus = 'pending' | 'ok' | 'rejected' | 'failed' | 'timeout'

export interface CommandRecord {
  id: string
  deviceId: string
  domain: string
  action: string
  params: Record<string, unknown>
  status: CommandStatus
  detail: string | null
  user: string
  sentAt: number
  repliedAt: number | null
}

export interface ConsoleCommands {
  send(input: { deviceId: string; action: string; params: Record<string, unknown> }, user: string): Promise<CommandRecord>
  waitForResult(id: string, timeoutMs?: number): Promise<CommandRecord>
  get(id: string): Promise<CommandRecord | undefined>
  list(filter: { deviceId?: string; limit?: number }): Promise<CommandRecord[]>
  onChange(listener: (record: CommandRecord) => void): () => void
}

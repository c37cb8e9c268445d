import { Counter, Gauge, type Registry } from 'prom-client'

export type CommandOutcome = 'sent' | 'ok' | 'rejected' | 'failed' | 'timeout'
export type IgnoredReplyReason = 'late' | 'unknown'

const OUTCOMES: CommandOutcome[] = ['sent', 'ok', 'rejected', 'failed', 'timeout']
const IGNORED: IgnoredReplyReason[] = ['late', 'unknown']

/**
 * The command service's Prometheus metrics (docs/operations.md#metrics).
 * Without a registry they are kept but exported nowhere (tests, tools).
 */
export function createCommandMetrics(registry: Registry | undefined, pending: () => number) {
  const registers = registry ? [registry] : []
  const commands = new Counter({
    name: 'gridline_commands_total', help: 'Device commands sent, and their results by outcome.', labelNames: ['outcome'] as const, registers,
  })
  const ignoredReplies = new Counter({
    name: 'gridline_command_replies_ignored_total',
    help: 'Well-formed command replies that changed nothing: late (the command had already timed out or been answered) or unknown (no such command for that device).',
    labelNames: ['reason'] as const, registers,
  })
  new Gauge({
    name: 'gridline_commands_pending', help: 'Commands sent and not yet answered or timed out.', registers,
    collect() {
      this.set(pending())
    },
  })
  // Every series exists from the start, so a rate() over a fresh process is 0 rather than absent.
  for (const outcome of OUTCOMES) commands.inc({ outcome }, 0)
  for (const reason of IGNORED) ignoredReplies.inc({ reason }, 0)
  return { commands, ignoredReplies }
}

export type CommandMetrics = ReturnType<typeof createCommandMetrics>

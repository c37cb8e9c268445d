import { z } from 'zod'
import { DEVICE_ID_PATTERN, parseRfc3339 } from './limits.ts'

/*
 * Device commands (docs/protocol.md#device-commands). The service publishes a
 * DeviceCommand on `commands/{domain}/{deviceId}` (QoS 1); the device answers
 * once per command id with a CommandReply on `replies/{domain}/{deviceId}`.
 */

const isoTime = z.string().max(64).refine((s) => !Number.isNaN(parseRfc3339(s)), 'expected an RFC 3339 date-time with offset')

/** What goes on `commands/{domain}/{deviceId}`. */
export const DeviceCommandSchema = z.strictObject({
  id: z.uuid().describe('Command id; the reply carries it back.'),
  action: z.string().min(1).max(64).describe('One of the actions of the device\'s domain (COMMAND_CATALOGUE).'),
  params: z.record(z.string(), z.unknown()).describe('The action\'s parameters; {} when it takes none.'),
  ts: isoTime.describe('When the service sent the command.'),
  expiresAt: isoTime.optional().describe('After this instant the service no longer waits for a reply: a device that gets the command later (after a reconnect) should reply "rejected" rather than act on it.'),
})
export type DeviceCommand = z.infer<typeof DeviceCommandSchema>

export const COMMAND_REPLY_STATUSES = ['ok', 'rejected', 'failed'] as const
export type CommandReplyStatus = (typeof COMMAND_REPLY_STATUSES)[number]

/** Largest reply accepted on `replies/{domain}/{deviceId}`; a reply is one short JSON object. */
export const MAX_REPLY_BYTES = 4096

/** What a device publishes on `replies/{domain}/{deviceId}`. No other field is allowed. */
export const CommandReplySchema = z.strictObject({
  id: z.string().min(1).max(128).describe('The id of the command answered.'),
  status: z.enum(COMMAND_REPLY_STATUSES).describe('ok: done; rejected: refused, nothing changed; failed: tried and could not.'),
  detail: z.string().max(1000).optional().describe('A sentence for the operator.'),
  ts: isoTime.optional().describe('When the device acted.'),
})
export type CommandReply = z.infer<typeof CommandReplySchema>

/** One command a domain accepts. */
export interface CommandDefinition {
  action: string
  description: string
  /** Parameter name to a description of what it accepts; empty when the action takes none. */
  params: Record<string, string>
  /** Checks the params; strict, so an unknown parameter is an error. */
  schema: z.ZodType<Record<string, unknown>>
}

const noParams = z.strictObject({})

/** The command catalogue: what each domain's devices accept. A domain not listed accepts none. */
export const COMMAND_CATALOGUE: Readonly<Record<string, readonly CommandDefinition[]>> = {
  lighting: [
    {
      action: 'switch',
      description: 'Switch the lamp on or off, overriding its dusk/dawn schedule until the next "schedule" command.',
      params: { on: 'boolean: true switches the lamp on, false off' },
      schema: z.strictObject({ on: z.boolean() }),
    },
    {
      action: 'dim',
      description: 'Set the dim level, overriding the night-time dimming schedule until the next "schedule" command.',
      params: { level: 'number from 0 to 100: the light output in %' },
      schema: z.strictObject({ level: z.number().min(0).max(100) }),
    },
    {
      action: 'schedule',
      description: 'Drop any switch or dim override: the lamp follows its dusk/dawn and dimming schedule again.',
      params: {},
      schema: noParams,
    },
  ],
  water: [
    {
      action: 'pump',
      description: 'Start or stop the pump, overriding its schedule until the next "schedule" command.',
      params: { running: 'boolean: true starts the pump, false stops it' },
      schema: z.strictObject({ running: z.boolean() }),
    },
    {
      action: 'schedule',
      description: 'Drop the start/stop override: the pump follows its schedule again.',
      params: {},
      schema: noParams,
    },
  ],
}

/** A command as listed to operators (GET /api/devices/:id `commands`). */
export interface CommandDescription {
  action: string
  params: Record<string, string>
  description: string
}

/** The commands a domain's devices accept, in catalogue order; empty for a domain with none. */
export function commandsFor(domain: string): CommandDescription[] {
  return definitionsFor(domain).map(({ action, params, description }) => ({ action, params: { ...params }, description }))
}

export type CommandValidation =
  | { ok: true; params: Record<string, unknown> }
  | { ok: false; error: string }

/**
 * Checks that `action` with `params` is a command `domain` accepts. The error
 * says what is wrong and what is accepted, for the operator who sent it.
 */
export function validateCommand(domain: string, action: string, params: unknown): CommandValidation {
  const accepted = definitionsFor(domain)
  if (accepted.length === 0) return { ok: false, error: `Devices of domain "${domain}" accept no commands.` }
  const definition = accepted.find((d) => d.action === action)
  if (!definition) {
    return { ok: false, error: `"${action}" is not a ${domain} command; ${domain} devices accept ${accepted.map((d) => `"${d.action}"`).join(', ')}.` }
  }
  const expected = `"${action}" takes ${describeParams(definition.params)}`
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return { ok: false, error: `params must be an object; ${expected}.` }
  }
  const parsed = definition.schema.safeParse(params)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => issue.path.length > 0 ? `params.${issue.path.join('.')}: ${issue.message}` : `params: ${issue.message}`)
    return { ok: false, error: `${problems.join('; ')}; ${expected}.` }
  }
  return { ok: true, params: parsed.data }
}

// Own keys only: a domain named "constructor" or "__proto__" must not reach Object.prototype.
function definitionsFor(domain: string): readonly CommandDefinition[] {
  return Object.hasOwn(COMMAND_CATALOGUE, domain) ? COMMAND_CATALOGUE[domain]! : []
}

function describeParams(params: Record<string, string>): string {
  const entries = Object.entries(params)
  if (entries.length === 0) return 'no params ({})'
  return `{${entries.map(([name, what]) => `"${name}": ${what}`).join(', ')}}`
}

/** Where the service publishes commands for a device; the device subscribes to exactly this. */
export const commandTopic = (domain: string, deviceId: string): string => `commands/${domain}/${deviceId}`
/** Where a device publishes its replies; it may publish replies nowhere else. */
export const replyTopic = (domain: string, deviceId: string): string => `replies/${domain}/${deviceId}`

/** True for topics the reply intake handles rather than the telemetry decoder. */
export const isReplyTopic = (topic: string): boolean => topic.startsWith('replies/')

/** Parses `replies/{domain}/{deviceId}`; null when the topic is not a reply topic at all. */
export function parseReplyTopic(topic: string): { domain: string; deviceId: string } | { invalid: 'topic_invalid' | 'device_id_invalid' } | null {
  if (!isReplyTopic(topic)) return null
  const parts = topic.split('/')
  if (parts.length !== 3 || !parts[1]) return { invalid: 'topic_invalid' }
  if (!DEVICE_ID_PATTERN.test(parts[2]!)) return { invalid: 'device_id_invalid' }
  return { domain: parts[1], deviceId: parts[2]! }
}

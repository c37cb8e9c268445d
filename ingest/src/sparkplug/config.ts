import { COMMAND_CATALOGUE, METRIC_NAME_PATTERN, commandsFor } from '@gridline/schemas'
import { z } from 'zod'

const MetricMap = z.record(z.string().min(1).max(256), z.union([z.string().regex(METRIC_NAME_PATTERN), z.null()]))
  .describe('Sparkplug metric name (its full path, `Inputs/Flow Rate`) to a catalogue metric, or null: not stored.')

/** A command of the command catalogue written to a Sparkplug metric (docs/sparkplug.md#commands). */
const CommandWrite = z.strictObject({
  metric: z.string().min(1).max(256).describe('The Sparkplug metric written (its full name as born: `Outputs/Pump Run`).'),
  param: z.string().min(1).max(64).optional().describe('The command parameter whose value is written; default: the action\'s only parameter.'),
  value: z.union([z.boolean(), z.number()]).optional().describe('A fixed value written instead of a parameter (for an action without parameters: `schedule` -> `Outputs/Auto: true`). Default for such an action: true.'),
})

const CommandMap = z.record(z.string().regex(/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/, '<domain>.<action>'), CommandWrite)
  .superRefine((map, ctx) => {
    for (const [key, write] of Object.entries(map)) {
      const [domain, action] = key.split('.') as [string, string]
      const definition = commandsFor(domain).find((c) => c.action === action)
      if (!definition) {
        ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" is not a command of the catalogue (${describeCatalogue()})` })
        continue
      }
      const params = Object.keys(definition.params)
      if (write.param !== undefined && !params.includes(write.param)) ctx.addIssue({ code: 'custom', path: [key, 'param'], message: `"${key}" has no parameter "${write.param}"; it takes ${params.length === 0 ? 'none' : params.join(', ')}` })
      if (write.param === undefined && write.value === undefined && params.length > 1) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" takes ${params.join(', ')}: name the one written with param` })
    }
  })
  .describe('Device commands (`<domain>.<action>` of the command catalogue) written as a DCMD (NCMD for a device mapped to `$node`) to a metric.')

function describeCatalogue(): string {
  return Object.keys(COMMAND_CATALOGUE).flatMap((d) => commandsFor(d).map((c) => `${d}.${c.action}`)).join(', ')
}

/**
 * How gridline acts as a Sparkplug B host application on one broker
 * (docs/sparkplug.md): the top-level `sparkplug` section for the embedded
 * broker, a subscription's `sparkplug` key for an MQTT client source.
 */
export const SparkplugSchema = z.strictObject({
  hostId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('gridline').describe('The host application id: gridline publishes its retained STATE on spBv1.0/STATE/<hostId> (Sparkplug 3.0), which edge nodes configured with this primary host wait for.'),
  rebirthIntervalMs: z.number().int().min(100).default(5_000).describe('At most one rebirth request (NCMD Node Control/Rebirth) per edge node this often, however many messages call for one.'),
  metrics: MetricMap.default({}).describe('For every edge node and device: Sparkplug metric name to catalogue metric (or null: not stored). Names not listed follow the default rule: the path in snake case, or its last level when the catalogue has that.'),
  commands: CommandMap.default({}),
  nodes: z.record(z.string().min(1).max(64), z.strictObject({
    metrics: MetricMap.default({}).describe('This edge node\'s own metrics (NBIRTH/NDATA) and its devices\' (over `metrics` above).'),
    commands: CommandMap.default({}).describe('This edge node\'s devices\' command writes (over `commands` above).'),
    devices: z.record(z.string().min(1).max(64), z.strictObject({ metrics: MetricMap.default({}), commands: CommandMap.default({}) })).default({}).describe('Per Sparkplug device of this edge node (over the node\'s).'),
  })).default({}).describe('Per edge node (by its id, which is the gateway\'s registry id).'),
})

export type SparkplugConfig = z.output<typeof SparkplugSchema>

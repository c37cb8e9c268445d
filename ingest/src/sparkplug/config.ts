import { METRIC_NAME_PATTERN } from '@gridline/schemas'
import { z } from 'zod'

const MetricMap = z.record(z.string().min(1).max(256), z.union([z.string().regex(METRIC_NAME_PATTERN), z.null()]))
  .describe('Sparkplug metric name (its full path, `Inputs/Flow Rate`) to a catalogue metric, or null: not stored.')

/**
 * How gridline acts as a Sparkplug B host application on one broker
 * (docs/sparkplug.md): the top-level `sparkplug` section for the embedded
 * broker, a subscription's `sparkplug` key for an MQTT client source.
 */
export const SparkplugSchema = z.strictObject({
  hostId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('gridline').describe('The host application id: gridline publishes its retained STATE on spBv1.0/STATE/<hostId> (Sparkplug 3.0), which edge nodes configured with this primary host wait for.'),
  rebirthIntervalMs: z.number().int().min(100).default(5_000).describe('At most one rebirth request (NCMD Node Control/Rebirth) per edge node this often, however many messages call for one.'),
  metrics: MetricMap.default({}).describe('For every edge node and device: Sparkplug metric name to catalogue metric (or null: not stored). Names not listed follow the default rule: the path in snake case, or its last level when the catalogue has that.'),
  nodes: z.record(z.string().min(1).max(64), z.strictObject({
    metrics: MetricMap.default({}).describe('This edge node\'s own metrics (NBIRTH/NDATA) and its devices\' (over `metrics` above).'),
    devices: z.record(z.string().min(1).max(64), z.strictObject({ metrics: MetricMap.default({}) })).default({}).describe('Per Sparkplug device of this edge node (over the node\'s).'),
  })).default({}).describe('Per edge node (by its id, which is the gateway\'s registry id).'),
})

export type SparkplugConfig = z.output<typeof SparkplugSchema>

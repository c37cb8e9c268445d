import { readFileSync } from 'node:fs'
import { GridlineError } from '@gridline/core'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

const MetricSource = z.union([
  z.string().transform((column) => ({ column, scale: 1, offset: 0, suffix: undefined as string | undefined, boolean: false })),
  z.strictObject({
    column: z.string().describe('Column to read.'),
    scale: z.number().default(1).describe('Multiplies the value (unit conversion), applied before offset.'),
    offset: z.number().default(0).describe('Added after scaling.'),
    suffix: z.string().optional().describe('Unit text after the number in the cell, removed before parsing: "%", "°C", " km/h".'),
    boolean: z.boolean().default(false).describe('Send 0 as false and anything else as true.'),
  }),
])

const DeviceMapping = z.strictObject({
  id: z.string().min(1).describe('Device id; {COLUMN} inserts a cell, {COLUMN|slug} a lower-case ASCII form of it.'),
  domain: z.string().min(1).describe('Catalogue domain of the device.'),
  metrics: z.record(z.string(), MetricSource).describe('Metric name to the column it comes from.'),
})

export const ReplayMappingSchema = z.strictObject({
  description: z.string().optional(),
  files: z.string().default('*.csv').describe('File names to read when replaying a folder; * matches any characters.'),
  delimiter: z.string().length(1).default(','),
  timestamp: z.strictObject({
    column: z.string(),
    format: z.string().default('iso').describe('iso, or a pattern of YYYY YY MM DD HH mm ss.'),
    zone: z.string().default('Z').describe('Offset of times written without one: Z or +hh:mm.'),
  }),
  missing: z.array(z.string()).default(['', 'N/A', 'NA', 'NaN', 'null']).describe('Cell texts that mean "no value".'),
  devices: z.array(DeviceMapping).min(1),
})

export type ReplayMapping = z.infer<typeof ReplayMappingSchema>
export type MetricSourceMapping = z.infer<typeof MetricSource>

/** Reads a mapping file (YAML or JSON); every problem is reported with its path. */
export function loadMapping(path: string): ReplayMapping {
  let raw: unknown
  try {
    raw = parseYaml(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new GridlineError('GRIDLINE_CONFIG_INVALID', `Cannot read the mapping file ${path}: ${(err as Error).message}`, { cause: err })
  }
  const parsed = ReplayMappingSchema.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')
    throw new GridlineError('GRIDLINE_CONFIG_INVALID', `The mapping file ${path} is invalid: ${problems}`)
  }
  return parsed.data
}

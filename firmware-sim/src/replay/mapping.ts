import { readFileSync } from 'node:fs'
import { GridlineError } from '@gridline/core'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { zoneProblem } from './zone.ts'

const valueTransform = {
  scale: z.number().default(1).describe('Multiplies the value (unit conversion), applied before offset.'),
  offset: z.number().default(0).describe('Added after scaling.'),
  suffix: z.string().optional().describe('Unit text after the number in the cell, removed before parsing: "%", "°C", " km/h".'),
  boolean: z.boolean().default(false).describe('Send 0 as false and anything else as true.'),
}
const NO_TRANSFORM = { scale: 1, offset: 0, suffix: undefined as string | undefined, boolean: false }

const MetricSource = z.union([
  z.string().transform((column) => ({ column, ...NO_TRANSFORM })),
  z.strictObject({ column: z.string().describe('Column to read.'), ...valueTransform }),
])

const PivotMetric = z.union([
  z.string().transform((metric) => ({ metric, ...NO_TRANSFORM })),
  z.strictObject({ metric: z.string().describe('Metric the row\'s value is.'), ...valueTransform }),
])

const PivotMapping = z.strictObject({
  key: z.string().describe('Column saying what the row measures (e.g. "Read Type").'),
  value: z.string().describe('Column holding the number.'),
  metrics: z.record(z.string(), PivotMetric).describe('Key cell text to the metric it is; rows with other keys are counted as key_unmapped.'),
})

const DeviceMapping = z.strictObject({
  id: z.string().min(1).describe('Device id; {COLUMN} inserts a cell, {COLUMN|slug} a lower-case ASCII form of it.'),
  domain: z.string().min(1).describe('Catalogue domain of the device.'),
  metrics: z.record(z.string(), MetricSource).optional().describe('Wide files: metric name to the column it comes from.'),
  pivot: PivotMapping.optional().describe('Long files (one value per row): rows of the same device and time merge into one reading.'),
  eachColumn: z.string().min(1).optional().describe('A regular expression matched against whole header names: the entry stands for one device per matching column, with $0 (the column) and $1, $2 ... (its groups) put into id and metric columns.'),
  catalogueMetrics: z.boolean().default(false).describe('Wide files: every column named like a catalogued metric of the domain is that metric, besides those in metrics.'),
}).refine((d) => (d.metrics === undefined && !d.catalogueMetrics) !== (d.pivot === undefined), { message: 'a device needs either metrics or catalogueMetrics (wide file) or pivot (long file), not both' })

export const ReplayMappingSchema = z.strictObject({
  description: z.string().optional(),
  files: z.string().default('*.csv').describe('File names to read when replaying a folder; * matches any characters.'),
  delimiter: z.string().length(1).default(','),
  timestamp: z.strictObject({
    column: z.string(),
    format: z.string().default('iso').describe('iso, or a pattern of YYYY YY MM DD HH mm ss.'),
    zone: z.string().default('Z').superRefine((zone, ctx) => {
      const problem = zoneProblem(zone)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }).describe('Zone of times written without an offset: Z, +hh:mm, or an IANA zone such as Europe/Dublin.'),
  }),
  order: z.enum(['recorded', 'time']).default('recorded')
    .describe('recorded: each file\'s rows go in file order; time: each file is sorted by time first (stable).'),
  missing: z.array(z.string()).default(['', 'N/A', 'NA', 'NaN', 'null']).describe('Cell texts that mean "no value".'),
  devices: z.array(DeviceMapping).min(1),
})

export type ReplayMapping = z.infer<typeof ReplayMappingSchema>
export type MetricSourceMapping = z.infer<typeof MetricSource>
export type PivotMetricMapping = z.infer<typeof PivotMetric>
export type ValueTransform = Omit<MetricSourceMapping, 'column'>

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

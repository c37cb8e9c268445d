import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { DOMAIN_PATTERN, METRIC_NAME_PATTERN } from './limits.ts'

export const MetricDefinitionSchema = z.strictObject({
  name: z.string().regex(METRIC_NAME_PATTERN).describe('Metric name as it appears in a reading\'s values.'),
  unit: z.string().min(1).describe('Unit of the value (ug/m3, bar, km/h, bool, ...).'),
  description: z.string().min(1),
  min: z.number().describe('Lowest plausible value; below it a reading is stored with quality 1.'),
  max: z.number().describe('Highest plausible value; above it a reading is stored with quality 1.'),
}).refine((m) => m.min <= m.max, { message: 'min must not exceed max' })

export const DomainCatalogueSchema = z.strictObject({
  domain: z.string().regex(DOMAIN_PATTERN),
  description: z.string(),
  metrics: z.array(MetricDefinitionSchema).min(1),
})

export type MetricDefinition = z.infer<typeof MetricDefinitionSchema>
export type DomainCatalogue = z.infer<typeof DomainCatalogueSchema>

/**
 * The metric catalogue: one JSON file per domain in `schemas/catalogue/`.
 * A new domain is a new file; no code changes.
 */
export class Catalogue {
  readonly domains: ReadonlyMap<string, DomainCatalogue>
  private readonly metrics = new Map<string, Map<string, MetricDefinition>>()

  constructor(domains: DomainCatalogue[]) {
    const byName = new Map<string, DomainCatalogue>()
    for (const domain of domains) {
      if (byName.has(domain.domain)) throw new Error(`Domain "${domain.domain}" is defined twice in the catalogue.`)
      byName.set(domain.domain, domain)
      const metrics = new Map<string, MetricDefinition>()
      for (const metric of domain.metrics) {
        if (metrics.has(metric.name)) throw new Error(`Metric "${metric.name}" is defined twice in domain "${domain.domain}".`)
        metrics.set(metric.name, metric)
      }
      this.metrics.set(domain.domain, metrics)
    }
    this.domains = byName
  }

  hasDomain(domain: string): boolean {
    return this.domains.has(domain)
  }

  /** The metric's definition in that domain, or undefined when it is not catalogued. */
  metric(domain: string, name: string): MetricDefinition | undefined {
    return this.metrics.get(domain)?.get(name)
  }
}

const CATALOGUE_DIR = fileURLToPath(new URL('../catalogue/', import.meta.url))

/** Reads and validates every `*.json` in a catalogue folder (the shipped one by default). */
export function loadCatalogue(dir: string = CATALOGUE_DIR): Catalogue {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  const domains = files.map((file) => {
    const path = join(dir, file)
    const parsed = DomainCatalogueSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
      throw new Error(`Catalogue file ${file} is invalid: ${problems}`)
    }
    return parsed.data
  })
  return new Catalogue(domains)
}

let shipped: Catalogue | undefined
/** The catalogue shipped with gridline, loaded once. */
export function defaultCatalogue(): Catalogue {
  shipped ??= loadCatalogue()
  return shipped
}

import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { ingestConfig } from './config.ts'
import { SINK_PLUGINS, SOURCE_PLUGINS } from './plugins.ts'

// The convention meta-test (Telegraf's plugins/all_test.go): every plugin folder
// has what it must, is listed in the registry, and its sample config validates
// on its own and inside a whole service config.

const here = fileURLToPath(new URL('.', import.meta.url))
const kinds = [
  { kind: 'sources', registry: SOURCE_PLUGINS as Record<string, { schema: { parse(v: unknown): unknown }; summary: string }> },
  { kind: 'sinks', registry: SINK_PLUGINS as Record<string, { schema: { parse(v: unknown): unknown }; summary: string }> },
] as const

describe.each(kinds)('$kind', ({ kind, registry }) => {
  const folders = readdirSync(join(here, kind), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)

  test('every folder is a registered plugin and every registered plugin has a folder', () => {
    expect(folders.length).toBeGreaterThan(0)
    expect([...folders].sort()).toEqual(Object.keys(registry).sort())
  })

  test.each(folders)('%s has config.ts, sample.yaml, a README naming its type, and tests', (type) => {
    const dir = join(here, kind, type)
    for (const file of ['config.ts', 'sample.yaml', 'README.md']) expect(existsSync(join(dir, file)), `${kind}/${type}/${file}`).toBe(true)
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(`\`${type}\``)
    expect(readdirSync(dir).some((f) => f.endsWith('.test.ts')), `${kind}/${type} has no tests`).toBe(true)
    expect(registry[type]!.summary.length).toBeGreaterThan(20)
  })

  test.each(folders)('%s: its sample config validates, alone and in a service config', (type) => {
    const sample = parseYaml(readFileSync(join(here, kind, type, 'sample.yaml'), 'utf8')) as Record<string, unknown>
    expect(sample.type).toBe(type)
    expect(() => registry[type]!.schema.parse(sample)).not.toThrow()
    // A service needs its embedded broker beside any other source, and its primary sink beside any other sink.
    const others = kind === 'sources' && type !== 'mqtt_broker' ? { mqtt: { type: 'mqtt_broker' } } : kind === 'sinks' && type !== 'timescale' ? { timescale: { type: 'timescale' } } : {}
    const config = ingestConfig({ [kind]: { ...others, sample } }) as unknown as Record<string, Record<string, { type: string }>>
    expect(config[kind]!.sample!.type).toBe(type)
  })
})

test('sinks: every sink runs the shared conformance suite', () => {
  for (const type of Object.keys(SINK_PLUGINS)) {
    const dir = join(here, 'sinks', type)
    const runs = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).some((f) => readFileSync(join(dir, f), 'utf8').includes('sinkConformance('))
    expect(runs, `sinks/${type} does not call sinkConformance`).toBe(true)
  }
})

test('sources: every source runs the shared conformance suite', () => {
  for (const type of Object.keys(SOURCE_PLUGINS)) {
    const dir = join(here, 'sources', type)
    const runs = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).some((f) => readFileSync(join(dir, f), 'utf8').includes('sourceConformance('))
    expect(runs, `sources/${type} does not call sourceConformance`).toBe(true)
  }
})

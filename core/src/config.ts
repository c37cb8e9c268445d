import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { GridlineError } from './errors.ts'

/** An environment variable that overrides one config key. */
export interface EnvOverride {
  env: string
  /** Dotted path of the key, e.g. `mqtt.port`. */
  path: string
  type: 'string' | 'number' | 'boolean'
}

/**
 * Options for a `.refine`/`.superRefine` on an object that must run even when
 * other keys of that object are wrong (zod skips a refinement once its object
 * has issues), so a config's every problem is listed at once. The check then
 * sees unvalidated values and must compare only what has the right type.
 */
export const EVEN_WITH_OTHER_PROBLEMS = { when: (payload: { value: unknown }) => typeof payload.value === 'object' && payload.value !== null }

/** True when both are numbers (for cross-field checks that run on unvalidated values). */
export function bothNumbers(a: unknown, b: unknown): boolean {
  return typeof a === 'number' && typeof b === 'number'
}

/** Reads a YAML file into a plain object; a missing path means an empty config. */
export function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {}
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GridlineError('GRIDLINE_CONFIG_UNREADABLE', `Cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (err) {
    throw new GridlineError('GRIDLINE_CONFIG_UNREADABLE', `Config file ${path} is not valid YAML: ${(err as Error).message}`, { cause: err })
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GridlineError('GRIDLINE_CONFIG_INVALID', `Config file ${path} must hold a mapping at the top level.`)
  }
  return parsed as Record<string, unknown>
}

/** Applies the documented environment overrides onto a raw config object (a copy). */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  overrides: readonly EnvOverride[],
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const copy = structuredClone(raw)
  const sources = new Map<string, string>()
  for (const o of overrides) {
    const text = env[o.env]
    if (text === undefined || text === '') continue
    sources.set(o.path, `from env ${o.env}=${JSON.stringify(text)}`)
    let value: unknown = text
    if (o.type === 'number') value = text.trim() !== '' && !Number.isNaN(Number(text)) ? Number(text) : text
    if (o.type === 'boolean') value = text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text
    setPath(copy, o.path.split('.'), value)
  }
  envSources.set(copy, sources)
  return copy
}

/** Which keys of a raw config came from which environment variable, so an error can say so. */
const envSources = new WeakMap<object, ReadonlyMap<string, string>>()

/**
 * Validates a raw config with its zod schema. On failure throws one error
 * listing every problem by path, e.g. `mqtt.port: expected number, received string`.
 */
export function validateConfig<S extends z.ZodType>(schema: S, raw: unknown, source = 'config'): z.output<S> {
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const sources = typeof raw === 'object' && raw !== null ? envSources.get(raw) : undefined
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.')
    const source = sources?.get(path)
    return `  ${path ? path : '(top level)'}${source ? ` (${source})` : ''}: ${issue.message}`
  })
  throw new GridlineError('GRIDLINE_CONFIG_INVALID', `The ${source} has ${problems.length} problem(s):\n${problems.join('\n')}`)
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

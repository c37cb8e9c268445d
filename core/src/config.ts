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
  for (const o of overrides) {
    const text = env[o.env]
    if (text === undefined || text === '') continue
    let value: unknown = text
    if (o.type === 'number') value = text.trim() !== '' && !Number.isNaN(Number(text)) ? Number(text) : text
    if (o.type === 'boolean') value = text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text
    setPath(copy, o.path.split('.'), value)
  }
  return copy
}

/**
 * Validates a raw config with its zod schema. On failure throws one error
 * listing every problem by path, e.g. `mqtt.port: expected number, received string`.
 */
export function validateConfig<S extends z.ZodType>(schema: S, raw: unknown, source = 'config'): z.output<S> {
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `  ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`)
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

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import { applyEnvOverrides, readConfigFile, validateConfig } from './config.ts'
import { GridlineError } from './errors.ts'

const schema = z.strictObject({
  mqtt: z.strictObject({ port: z.number().int().default(1883), host: z.string().default('0.0.0.0') }).prefault({}),
  batch: z.strictObject({ maxItems: z.number().positive().default(100) }).prefault({}),
})

describe('validateConfig', () => {
  test('fills defaults', () => {
    expect(validateConfig(schema, {})).toEqual({ mqtt: { port: 1883, host: '0.0.0.0' }, batch: { maxItems: 100 } })
  })

  test('lists every problem by path in one error', () => {
    const err = (() => {
      try {
        validateConfig(schema, { mqtt: { port: 'x', extra: 1 }, batch: { maxItems: -1 }, unknown: true }, 'config test.yaml')
      } catch (e) {
        return e as GridlineError
      }
    })()
    expect(err).toBeInstanceOf(GridlineError)
    expect(err!.code).toBe('GRIDLINE_CONFIG_INVALID')
    expect(err!.message).toContain('The config test.yaml has 4 problem(s)')
    for (const path of ['mqtt.port:', 'mqtt:', 'batch.maxItems:', '(top level):']) expect(err!.message).toContain(path)
  })
})

describe('applyEnvOverrides', () => {
  test('overrides documented keys with typed values and leaves the input alone', () => {
    const raw = { mqtt: { host: 'a' } }
    const out = applyEnvOverrides(raw, [
      { env: 'MQTT_PORT', path: 'mqtt.port', type: 'number' },
      { env: 'MAX', path: 'batch.maxItems', type: 'number' },
      { env: 'UNSET', path: 'mqtt.host', type: 'string' },
    ], { MQTT_PORT: '1884', MAX: 'lots' })
    expect(out).toEqual({ mqtt: { host: 'a', port: 1884 }, batch: { maxItems: 'lots' } })
    expect(raw).toEqual({ mqtt: { host: 'a' } })
    // A non-number stays a string so validation names it.
    expect(() => validateConfig(schema, out)).toThrow(/batch\.maxItems/)
  })
})

describe('readConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gridline-config-'))
  test('reads YAML; an empty file is an empty config', () => {
    writeFileSync(join(dir, 'a.yaml'), 'mqtt:\n  port: 1884\n')
    writeFileSync(join(dir, 'empty.yaml'), '')
    expect(readConfigFile(join(dir, 'a.yaml'))).toEqual({ mqtt: { port: 1884 } })
    expect(readConfigFile(join(dir, 'empty.yaml'))).toEqual({})
    expect(readConfigFile(undefined)).toEqual({})
  })

  test('unreadable files, bad YAML and non-mappings are reported with the file name', () => {
    writeFileSync(join(dir, 'bad.yaml'), 'mqtt: [\n')
    writeFileSync(join(dir, 'list.yaml'), '- 1\n- 2\n')
    expect(() => readConfigFile(join(dir, 'missing.yaml'))).toThrow(/Cannot read config file .*missing\.yaml/)
    expect(() => readConfigFile(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml is not valid YAML/)
    expect(() => readConfigFile(join(dir, 'list.yaml'))).toThrow(/must hold a mapping/)
  })
})

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { brokerConfig, ingestConfig, loadIngestConfig } from './config.ts'

test('defaults are the documented ones', () => {
  const config = loadIngestConfig(undefined, {})
  expect(brokerConfig(config)!.port).toBe(1883)
  expect(config.http.port).toBe(8080)
  expect(config.auth.mode).toBe('devices')
  expect(config.database.url).toBeUndefined()
  expect(config.storage.timescale).toBe('auto')
})

test('environment variables override the documented keys', () => {
  const config = loadIngestConfig(undefined, { DATABASE_URL: 'postgres://db/x', MQTT_PORT: '0', HTTP_PORT: '9090', AUTH_MODE: 'none', LOG_LEVEL: 'debug' })
  expect(config.database.url).toBe('postgres://db/x')
  expect(brokerConfig(config)!.port).toBe(0)
  expect(config.http.port).toBe(9090)
  expect(config.auth.mode).toBe('none')
  expect(config.log.level).toBe('debug')
})

test('a bad environment value is reported by its config path', () => {
  expect(() => loadIngestConfig(undefined, { MQTT_PORT: '70000', AUTH_MODE: 'maybe' })).toThrow(/mqtt\.port[\s\S]*auth\.mode|auth\.mode[\s\S]*mqtt\.port/)
})

test('a bad environment value names the variable and the value it came from', () => {
  expect(() => loadIngestConfig(undefined, { MQTT_PORT: 'abc' })).toThrow('mqtt.port (from env MQTT_PORT="abc"): expected a port number from 0 to 65535, or false, got "abc"')
  // The same key from a file says nothing of the environment.
  const dir = mkdtempSync(join(tmpdir(), 'gridline-config-'))
  writeFileSync(join(dir, 'c.yaml'), 'mqtt:\n  port: abc\n')
  expect(() => loadIngestConfig(join(dir, 'c.yaml'), {})).toThrow(/\n  mqtt\.port: expected a port number/)
})

function problems(overrides: Record<string, unknown>): string[] {
  try {
    ingestConfig(overrides)
  } catch (err) {
    return (err as Error).message.split('\n').slice(1).map((l) => l.trim())
  }
  return []
}

// validate-config once listed 7 problems but not the hysteresis one, which
// showed only once the others were fixed: zod skips an object's refinements
// when that object has other issues.
test('cross-field checks are listed together with the other problems of their section', () => {
  const listed = problems({
    mqtt: { port: 70000 },
    ingest: { maxBatchRows: -1, retryMinMs: 9000, retryMaxMs: 100, maxPendingRows: 'many', shedAtPendingRows: 10 },
    processors: { alarms: { rules: [
      { id: 'BAD ID', type: 'threshold', metric: 'pm25', severity: 'huge', raiseAbove: 50, clearBelow: 60 },
      { id: 'roc', type: 'rate_of_change', metric: 'flow', per: 'fortnight', raiseAbove: 5, clearBelow: 9 },
      { id: 'ind', type: 'indicator', indicator: 'vn_aqi_hourly', scopes: ['planet'], raiseBelow: 10, clearAbove: 'x' },
      { id: 'roc', type: 'stale', expectedIntervalSeconds: 10, severity: 'loud' },
      null,
    ] } },
  })
  expect(listed).toEqual(expect.arrayContaining([
    expect.stringMatching(/^mqtt\.port: /),
    expect.stringMatching(/^ingest\.maxBatchRows: /),
    'ingest.retryMinMs: retryMinMs must not exceed retryMaxMs',
    expect.stringMatching(/^ingest\.maxPendingRows: /),
    expect.stringMatching(/^processors\.alarms\.rules\.0\.severity: /),
    'processors.alarms.rules.0.clearBelow: clearBelow (60) must not be above raiseAbove (50): hysteresis clears on the safe side',
    expect.stringMatching(/^processors\.alarms\.rules\.1\.per: /),
    'processors.alarms.rules.1.clearBelow: clearBelow (9) must not be above raiseAbove (5)',
    expect.stringMatching(/^processors\.alarms\.rules\.2\.clearAbove: /),
    'processors.alarms.rules.3.id: duplicate rule id "roc" (also rules.1)',
    expect.stringMatching(/^processors\.alarms\.rules\.4: /),
  ]))
  // A non-number is reported once, by its type, not again by a comparison with it.
  expect(listed.filter((l) => l.includes('shedAtPendingRows'))).toEqual([])
})

test('caller defaults apply under the file and the environment', () => {
  expect(loadIngestConfig(undefined, {}, { log: { level: 'warn' } }).log.level).toBe('warn')
  expect(loadIngestConfig(undefined, { LOG_LEVEL: 'error' }, { log: { level: 'warn' } }).log.level).toBe('error')
})

describe('docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')

  test('documents every key', () => {
    const config = ingestConfig({ database: { url: 'postgres://x/y' } }) as unknown as Record<string, Record<string, unknown>>
    const keys = Object.entries(config).flatMap(([section, values]) => Object.keys(values).map((key) => `${section}.${key}`))
    expect(keys.length).toBeGreaterThan(20)
    expect(keys.filter((key) => !doc.includes(`\`${key}\``))).toEqual([])
  })

  test('its sample file is valid', () => {
    const sample = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!
    const dir = mkdtempSync(join(tmpdir(), 'gridline-doc-'))
    writeFileSync(join(dir, 'sample.yaml'), sample)
    expect(() => loadIngestConfig(join(dir, 'sample.yaml'), {})).not.toThrow()
  })
})

describe('mqtt.tls', () => {
  test('is on with certFile and keyFile, from the file or the environment', () => {
    const config = loadIngestConfig(undefined, { MQTT_TLS_PORT: '0', MQTT_TLS_CERT: 's.pem', MQTT_TLS_KEY: 's.key', MQTT_TLS_CA: 'ca.pem' })
    expect(brokerConfig(config)!.tls).toMatchObject({ port: 0, certFile: 's.pem', keyFile: 's.key', caFile: 'ca.pem' })
    expect(brokerConfig(ingestConfig())!.tls.port).toBe(8883)
  })

  test('refuses half a pair, a CA without a listener, and no listener at all', () => {
    expect(() => ingestConfig({ mqtt: { tls: { certFile: 's.pem' } } })).toThrow(/mqtt\.tls\.certFile.*together/)
    expect(() => ingestConfig({ mqtt: { tls: { caFile: 'ca.pem' } } })).toThrow(/mqtt\.tls\.caFile/)
    expect(() => ingestConfig({ mqtt: { port: false } })).toThrow(/mqtt\.port.*nothing would listen/)
    expect(ingestConfig({ mqtt: { port: false, tls: { certFile: 's.pem', keyFile: 's.key' } } }).sources.mqtt).toMatchObject({ port: false })
  })
})

describe('sources and sinks maps', () => {
  const legacy = [
    'mqtt:',
    '  host: 127.0.0.1',
    '  port: 1884',
    '  maxConnections: 10',
    '  tls: { port: 8884, certFile: s.pem, keyFile: s.key, caFile: ca.pem }',
    'ingest:',
    '  maxBatchRows: 1000',
    '',
  ].join('\n')
  const mapped = [
    'sources:',
    '  mqtt:',
    '    type: mqtt_broker',
    '    host: 127.0.0.1',
    '    port: 1884',
    '    maxConnections: 10',
    '    tls: { port: 8884, certFile: s.pem, keyFile: s.key, caFile: ca.pem }',
    'sinks:',
    '  timescale: { type: timescale }',
    'ingest:',
    '  maxBatchRows: 1000',
    '',
  ].join('\n')

  test('a config written before the maps loads unchanged: its mqtt section is sources.mqtt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridline-config-'))
    writeFileSync(join(dir, 'legacy.yaml'), legacy)
    writeFileSync(join(dir, 'mapped.yaml'), mapped)
    const old = loadIngestConfig(join(dir, 'legacy.yaml'), {})
    const now = loadIngestConfig(join(dir, 'mapped.yaml'), {})
    expect(old).toEqual(now)
    expect(old.sources).toEqual({ mqtt: expect.objectContaining({ type: 'mqtt_broker', host: '127.0.0.1', port: 1884, maxConnections: 10 }) })
    expect(old.sinks).toEqual({ timescale: { type: 'timescale', dedupeHoldMs: 1_000 } })
    expect(brokerConfig(old)).toMatchObject({ id: 'mqtt', port: 1884, tls: { port: 8884, caFile: 'ca.pem' } })
    // The environment overrides the broker in both forms.
    expect(brokerConfig(loadIngestConfig(join(dir, 'legacy.yaml'), { MQTT_PORT: '1999' }))!.port).toBe(1999)
    expect(brokerConfig(loadIngestConfig(join(dir, 'mapped.yaml'), { MQTT_PORT: '1999' }))!.port).toBe(1999)
  })

  test('without either, the service has the embedded broker and the timescale sink', () => {
    const config = ingestConfig()
    expect(Object.keys(config.sources)).toEqual(['mqtt'])
    expect(config.sources.mqtt).toMatchObject({ type: 'mqtt_broker', port: 1883 })
    expect(Object.keys(config.sinks)).toEqual(['timescale'])
  })

  test('a source id may be any name; the type decides the plugin, and unknown types and keys are errors by path', () => {
    expect(brokerConfig(ingestConfig({ sources: { devices: { type: 'mqtt_broker', port: 0 } } }))).toMatchObject({ id: 'devices', port: 0 })
    expect(() => ingestConfig({ sources: { x: { type: 'telepathy' } } })).toThrow(/sources\.x\.type/)
    expect(() => ingestConfig({ sources: { x: { type: 'mqtt_broker', prot: 1 } } })).toThrow(/sources\.x/)
    expect(() => ingestConfig({ sources: { X: { type: 'mqtt_broker' } } })).toThrow(/sources\.X: "X" is not a component id/)
    expect(() => ingestConfig({ sources: {} })).toThrow(/no source/)
    expect(() => ingestConfig({ sources: { x: { type: 'mqtt_broker', port: false } } })).toThrow(/sources\.x\.port.*nothing would listen/)
  })

  test('an http source comes with its defaults, beside the embedded broker it needs', () => {
    const config = ingestConfig({ sources: { mqtt: { type: 'mqtt_broker' }, influx: { type: 'http' } } })
    expect(config.sources.influx).toMatchObject({ type: 'http', port: 8086, maxBodyBytes: 26_214_400, lineProtocol: { deviceTags: ['device'] }, sensorCommunity: { requireAuth: true } })
    // The legacy mqtt section is that broker too.
    expect(ingestConfig({ mqtt: { port: 0 }, sources: { influx: { type: 'http' } } }).sources.mqtt).toMatchObject({ type: 'mqtt_broker', port: 0 })
    expect(() => ingestConfig({ sources: { influx: { type: 'http' } } })).toThrow(/an mqtt_broker source is needed/)
    expect(() => ingestConfig({ sources: { mqtt: { type: 'mqtt_broker' }, influx: { type: 'http', lineProtocol: { rename: { t: 'Not-A-Metric' } } } } })).toThrow(/sources\.influx\.lineProtocol\.rename\.t/)
  })

  test('the alias and the map cannot both name the broker; one primary sink; one embedded broker', () => {
    expect(() => ingestConfig({ mqtt: { port: 1 }, sources: { mqtt: { type: 'mqtt_broker' } } })).toThrow(/alias of sources\.mqtt/)
    expect(() => ingestConfig({ sinks: {} })).toThrow(/exactly one timescale sink/)
    expect(() => ingestConfig({ sinks: { a: { type: 'timescale' }, b: { type: 'timescale' } } })).toThrow(/exactly one timescale sink/)
    expect(() => ingestConfig({ sources: { a: { type: 'mqtt_broker' }, b: { type: 'mqtt_broker', port: 2 } } })).toThrow(/at most one mqtt_broker/)
  })
})

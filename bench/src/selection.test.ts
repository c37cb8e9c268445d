import { describe, expect, test } from 'vitest'
import { DEFAULT_SCENARIOS, selectScenarios } from './selection.ts'

describe('selectScenarios', () => {
  test('runs everything but soak and sta when nothing is named', () => {
    const s = selectScenarios([])
    expect(s.scenarios).toEqual(DEFAULT_SCENARIOS)
    expect(s.scenarios).not.toContain('soak')
    expect(s.scenarios).not.toContain('sta')
    expect(s.scenarios).toContain('alarm-latency')
    expect(s.added).toEqual([])
  })

  test.each([
    { names: ['writer'], scenarios: ['copy-limit', 'writer'], added: ['copy-limit'] },
    { names: ['overload'], scenarios: ['ingest-single', 'overload'], added: ['ingest-single'] },
    { names: ['soak', 'copy-limit'], scenarios: ['copy-limit', 'ingest-single', 'soak'], added: ['ingest-single'] },
    { names: ['broker'], scenarios: ['broker'], added: [] },
    { names: ['alarm-latency'], scenarios: ['alarm-latency'], added: [] },
    { names: ['sta'], scenarios: ['sta'], added: [] },
    { names: ['map'], scenarios: ['map'], added: [] },
    { names: ['peers', 'alarm-latency'], scenarios: ['ingest-single', 'alarm-latency', 'peers'], added: ['ingest-single'] },
    { names: ['mqtt-client', 'sparkplug'], scenarios: ['sparkplug', 'mqtt-client'], added: [] },
    { names: ['mqtt-client', 'peers'], scenarios: ['ingest-single', 'peers', 'mqtt-client'], added: ['ingest-single'] },
  ])('$names runs $scenarios in round order', ({ names, scenarios, added }) => {
    expect(selectScenarios(names)).toEqual({ scenarios, added })
  })

  test('refuses an unknown name and lists the known ones', () => {
    expect(() => selectScenarios(['copy-limit', 'warp'])).toThrow(/unknown scenario "warp".*copy-limit, writer/)
  })
})

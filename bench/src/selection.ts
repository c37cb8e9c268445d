/**
 * Scenario names, what `gridline bench` runs when none is named, and which
 * scenarios another needs in the same round for its ratio or its rate.
 */

/** Every scenario, in the order a round runs them. */
export const SCENARIOS = [
  'copy-limit',
  'writer',
  'pipeline',
  'pipeline-processors',
  'indicator-history',
  'pipeline-city',
  'broker',
  'ingest-batched',
  'dashboards',
  'map',
  'line-protocol',
  'sensor-community',
  'influxdb-sink',
  'sparkplug',
  'ingest-single',
  'alarm-latency',
  'peers',
  'mqtt-client',
  'overload',
  'sta',
  'soak',
] as const

export type ScenarioName = (typeof SCENARIOS)[number]

/**
 * What runs when no scenario is named: everything but the long soak and
 * sta (10 million readings loaded each round; run it by name).
 */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = SCENARIOS.filter((s) => s !== 'soak' && s !== 'sta')

/**
 * Scenarios a scenario needs in the same round: copy-limit is the yardstick
 * of the storing scenarios (line-protocol's too), ingest-single's rate sets the overload levels,
 * the soak's pace and the figure the peers are compared with.
 */
const NEEDS: Partial<Record<ScenarioName, ScenarioName[]>> = {
  'writer': ['copy-limit'],
  'pipeline': ['copy-limit'],
  'pipeline-processors': ['copy-limit'],
  'ingest-batched': ['copy-limit'],
  'line-protocol': ['copy-limit'],
  'overload': ['ingest-single'],
  'peers': ['ingest-single'],
  'soak': ['ingest-single'],
}

export interface Selection {
  /** Scenarios to run, in round order. */
  scenarios: ScenarioName[]
  /** Those run only because a named one needs them. */
  added: ScenarioName[]
}

export function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name)
}

/** The named scenarios (default when none) plus what they need, in round order; throws on an unknown name. */
export function selectScenarios(names: readonly string[]): Selection {
  const unknown = names.filter((n) => !isScenarioName(n))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.map((n) => `"${n}"`).join(', ')}; the scenarios are: ${SCENARIOS.join(', ')}`)
  const asked = new Set<ScenarioName>(names.length > 0 ? (names as ScenarioName[]) : DEFAULT_SCENARIOS)
  const chosen = new Set(asked)
  for (const name of asked) for (const need of NEEDS[name] ?? []) chosen.add(need)
  const scenarios = SCENARIOS.filter((s) => chosen.has(s))
  return { scenarios, added: scenarios.filter((s) => !asked.has(s)) }
}

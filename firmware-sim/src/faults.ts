import { GridlineError } from '@gridline/core'

/** Every fault the simulator can inject; docs/simulator.md describes each. */
export const FAULT_KINDS = [
  'dropout', 'stuck', 'spike', 'lamp_failure', 'burst', 'clock_skew', 'duplicate', 'reconnect_burst', 'malformed',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** Probability per reading (0..1) that a fault starts on a device. Absent or 0: off. */
export type FaultRates = Partial<Record<FaultKind, number>>

/** The rates `--faults all` switches on: a few faults an hour per device at one reading a second. */
export const DEFAULT_FAULT_RATES: Record<FaultKind, number> = {
  dropout: 0.002,
  stuck: 0.001,
  spike: 0.002,
  lamp_failure: 0.0002,
  burst: 0.0002,
  clock_skew: 0.0005,
  duplicate: 0.002,
  reconnect_burst: 0.0002,
  malformed: 0.001,
}

/**
 * Parses `dropout=0.01,spike=0.005`, `all` (every fault at its default rate),
 * `all=0.01`, a bare name (its default rate) or `none`.
 */
export function parseFaultRates(spec: string): FaultRates {
  const rates: FaultRates = {}
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name = '', rateText] = part.split('=').map((s) => s.trim())
    if (name === 'none') continue
    const rate = rateText === undefined ? undefined : Number(rateText)
    if (rate !== undefined && (!Number.isFinite(rate) || rate < 0 || rate > 1)) {
      throw new GridlineError('GRIDLINE_USAGE', `Fault rate "${part}" must be a number from 0 to 1 (a probability per reading).`)
    }
    if (name === 'all') {
      for (const kind of FAULT_KINDS) rates[kind] = rate ?? DEFAULT_FAULT_RATES[kind]
    } else if ((FAULT_KINDS as readonly string[]).includes(name)) {
      rates[name as FaultKind] = rate ?? DEFAULT_FAULT_RATES[name as FaultKind]
    } else {
      throw new GridlineError('GRIDLINE_USAGE', `Unknown fault "${name}"; known faults: ${FAULT_KINDS.join(', ')}, all, none.`)
    }
  }
  return rates
}

/**
 * Malformed payloads, each refused by the ingest service with the reason that
 * names it (docs/errors.md).
 */
export const MALFORMED_VARIANTS = [
  'json_malformed', 'value_invalid', 'ts_invalid', 'reading_unknown_field', 'values_empty', 'payload_not_object',
] as const
export type MalformedVariant = (typeof MALFORMED_VARIANTS)[number]

/** Fleet-wide fault counts: how often each fault started, and how many readings it touched. */
export class FaultCounters {
  readonly started: Record<FaultKind, number> = zeroes(FAULT_KINDS)
  readonly readings: Record<FaultKind, number> = zeroes(FAULT_KINDS)
  readonly malformed: Record<MalformedVariant, number> = zeroes(MALFORMED_VARIANTS)
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>
}

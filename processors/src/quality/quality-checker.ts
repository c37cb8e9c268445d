import { Quality, RowFlags } from '@gridline/schemas'
import { ROW_STRIDE, type Rows } from '@gridline/core'
import { type QualityConfigInput, QualityConfigSchema, resolvePlausibleRanges, resolveQualityRules } from './config.ts'
import type { QualityRule } from './defaults.ts'
import type { PlausibleRange } from './plausibility.ts'

/**
 * judge()'s verdict for a reading outside the plausible range; apply() stores it as
 * OUT_OF_RANGE with RowFlags.IMPLAUSIBLE (the reason), so it is no quality code itself.
 */
const IMPLAUSIBLE = -1

/** A rule compiled to plain fields, so the per-row loop reads no optional chains. */
interface CompiledRule {
  stuckReadings: number
  stuckMinDurationMs: number
  stuckIgnore: number[]
  saturationMax: number
  saturationMin: number
  maxRatePerSecond: number
  plausibleMin: number
  plausibleMax: number
}

/** What the checker remembers about one (device, metric). */
interface SeriesState {
  runValue: number
  runLength: number
  runStart: number
  /** The last reading that passed the spike check: spikes are measured against it, not against the spike. */
  baseValue: number
  baseTime: number
}

export interface QualityCounts {
  stuck: number
  saturated: number
  spike: number
  /** Readings outside the region's plausible range: stored OUT_OF_RANGE with RowFlags.IMPLAUSIBLE. */
  implausible: number
}

function compile(rule: QualityRule, range: PlausibleRange): CompiledRule {
  return {
    plausibleMin: range.min ?? -Infinity,
    plausibleMax: range.max ?? Infinity,
    stuckReadings: rule.stuckReadings ?? 0,
    stuckMinDurationMs: rule.stuckMinDurationMs ?? 0,
    stuckIgnore: rule.stuckIgnoreValues ?? [],
    saturationMax: rule.saturationMax ?? Infinity,
    saturationMin: rule.saturationMin ?? -Infinity,
    maxRatePerSecond: rule.maxRatePerSecond ?? 0,
  }
}

/**
 * Plausibility, stuck, saturation and spike checks on the hot path, before the write.
 * `apply` is synchronous, allocates nothing per row once a series is known,
 * and only ever turns a GOOD row into OUT_OF_RANGE (with RowFlags.IMPLAUSIBLE:
 * outside the region's plausible range), STUCK, SATURATED or SPIKE: a device's
 * own BAD or UNCERTAIN, or the decoder's OUT_OF_RANGE, is kept and such rows
 * do not feed the checks' memory. When a row fails several checks the code is
 * SATURATED, then OUT_OF_RANGE (implausible), then SPIKE, then STUCK; an
 * implausible row, like a saturated one, is never a spike baseline.
 *
 * A stuck run is flagged from the reading that completes it (the Nth, once it
 * also spans `stuckMinDurationMs`) onwards. The first N-1 readings of the run
 * were already written as GOOD and stay so: rewriting committed rows would put a
 * database round trip on the hot path. docs/rollups.md shows the query that
 * finds a run's start.
 *
 * Readings are judged in arrival order; one older than the series' last
 * accepted reading skips the spike check (its rate is unknown).
 * Not safe to share between concurrent callers; the ingest hot path is one thread.
 */
export class QualityChecker {
  readonly counts: QualityCounts = { stuck: 0, saturated: 0, spike: 0, implausible: 0 }
  private readonly rules = new Map<string, CompiledRule>()
  private readonly series = new Map<string, Map<string, SeriesState>>()
  private readonly enabled: boolean

  constructor(config: QualityConfigInput = {}) {
    const parsed = QualityConfigSchema.parse(config)
    this.enabled = parsed.enabled
    const rules = resolveQualityRules(parsed)
    const ranges = resolvePlausibleRanges(parsed)
    for (const metric of new Set([...rules.keys(), ...ranges.keys()])) this.rules.set(metric, compile(rules.get(metric) ?? {}, ranges.get(metric) ?? {}))
  }

  /** Checks every row of one decoded message and rewrites `quality` (and the IMPLAUSIBLE bit of `flags`) in place. */
  apply(rows: Rows): void {
    if (!this.enabled) return
    const data = rows.data
    for (let i = 0; i < data.length; i += ROW_STRIDE) {
      if (data[i + 4] !== Quality.GOOD) continue
      const rule = this.rules.get(data[i + 2] as string)
      if (rule === undefined) continue
      const verdict = this.judge(rule, data[i + 1] as string, data[i + 2] as string, data[i] as number, data[i + 3] as number)
      if (verdict === IMPLAUSIBLE) {
        data[i + 4] = Quality.OUT_OF_RANGE
        data[i + 6] = (data[i + 6] as number) | RowFlags.IMPLAUSIBLE
      } else if (verdict !== Quality.GOOD) data[i + 4] = verdict
    }
  }

  /** Drops what is remembered about a device (removed from the registry). */
  forget(deviceId: string): void {
    this.series.delete(deviceId)
  }

  private judge(rule: CompiledRule, deviceId: string, metric: string, time: number, value: number): number {
    let perDevice = this.series.get(deviceId)
    if (perDevice === undefined) {
      perDevice = new Map()
      this.series.set(deviceId, perDevice)
    }
    let state = perDevice.get(metric)
    let verdict: number = Quality.GOOD
    if (value >= rule.saturationMax || value <= rule.saturationMin) verdict = Quality.SATURATED
    else if (value > rule.plausibleMax || value < rule.plausibleMin) verdict = IMPLAUSIBLE
    if (state === undefined) {
      // A flagged first reading is no baseline for the spike check: -Infinity lets the next one set it.
      state = { runValue: value, runLength: 1, runStart: time, baseValue: value, baseTime: verdict === Quality.GOOD ? time : -Infinity }
      perDevice.set(metric, state)
      return this.count(verdict)
    }

    if (rule.maxRatePerSecond > 0 && time > state.baseTime) {
      // Floor the interval at one second so two readings a few ms apart are not judged on noise.
      const seconds = Math.max((time - state.baseTime) / 1000, 1)
      if (Math.abs(value - state.baseValue) > rule.maxRatePerSecond * seconds) {
        if (verdict === Quality.GOOD) verdict = Quality.SPIKE
      } else if (verdict === Quality.GOOD) {
        state.baseValue = value
        state.baseTime = time
      }
    }

    if (rule.stuckReadings > 0) {
      if (value === state.runValue) {
        state.runLength++
        if (verdict === Quality.GOOD && state.runLength >= rule.stuckReadings && time - state.runStart >= rule.stuckMinDurationMs &&
            !rule.stuckIgnore.includes(value)) verdict = Quality.STUCK
      } else {
        state.runValue = value
        state.runLength = 1
        state.runStart = time
      }
    }
    return this.count(verdict)
  }

  private count(verdict: number): number {
    if (verdict === Quality.STUCK) this.counts.stuck++
    else if (verdict === Quality.SATURATED) this.counts.saturated++
    else if (verdict === Quality.SPIKE) this.counts.spike++
    else if (verdict === IMPLAUSIBLE) this.counts.implausible++
    return verdict
  }
}

/** Factory in the shape every processor has: (config, deps) -> instance. */
export function createQualityChecker(config: QualityConfigInput = {}): QualityChecker {
  return new QualityChecker(config)
}

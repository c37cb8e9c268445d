/**
 * The pure parts of the console's charts (no DOM, no uPlot): what kind of scale a metric
 * gets, its y range, tick labels and the width of the axis that holds them, units as
 * people write them, the x window of a chosen range, the resolution's label, and the
 * custom range's inputs. Unit-tested from dashboards/src/web-chart-model.test.ts.
 */
import { formatNumber, formatValue } from './format.ts'
import { t, type Lang, type MessageKey } from './i18n.ts'

/**
 * How a metric is drawn. The catalogue (schemas/catalogue/*.json) says it with the unit:
 * `bool` metrics are states (a step line at 0 and 1, labelled off/on or ok/fault), `%`
 * ones are percentages (the axis stays within 0-100), the rest are values.
 */
export type MetricKind = 'state' | 'percent' | 'value'

export function metricKind(unit: string | null | undefined): MetricKind {
  if (unit === 'bool') return 'state'
  if (unit === '%') return 'percent'
  return 'value'
}

/** Catalogue units with no printable text: a state has labels, a ratio is a plain number. */
const UNITLESS = new Set(['bool', 'ratio'])

/**
 * A catalogue unit (ASCII: `ug/m3`, `degC`, `m3/h`) as people write it (`µg/m³`, `°C`,
 * `m³/h`); '' for units that are not printed (bool, ratio). Unknown units pass unchanged.
 */
export function displayUnit(unit: string | null | undefined): string {
  if (!unit || UNITLESS.has(unit)) return ''
  return unit
    .replace(/\bdeg([CF])\b/g, '°$1')
    .replace(/\bu(g|m|s|A|V|W|S)\b/g, 'µ$1')
    // A power of a length after a letter: m2, m3, cm3, km2 (not PM2.5, which has a dot after it).
    .replace(/\b(k|c|d|m)?m([23])(?![.\d])/g, (_whole, prefix: string | undefined, power: string) => `${prefix ?? ''}m${power === '2' ? '²' : '³'}`)
}

/** The labels of a state's 0 and 1, from the catalogue's descriptions (on/off, ok/fault, closed/open, stopped/running). */
export function stateLabelKeys(metric: string): [MessageKey, MessageKey] {
  if (/(^|_)fault$|(^|_)alarm$|(^|_)error$/.test(metric)) return ['chart.state.ok', 'chart.state.fault']
  if (/(^|_)open$/.test(metric)) return ['chart.state.closed', 'chart.state.open']
  if (/^pump_on$|(^|_)running$/.test(metric)) return ['chart.state.stopped', 'chart.state.running']
  return ['chart.state.off', 'chart.state.on']
}

/** A step of 1, 2 or 5 times a power of ten, at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1
  const power = 10 ** Math.floor(Math.log10(raw))
  const f = raw / power
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
  return nice * power
}

export interface YRangeOptions {
  /** The catalogue's plausible range: the axis does not run past it (readings outside are not GOOD, and not charted). */
  min?: number | null | undefined
  max?: number | null | undefined
  /** Alarm thresholds to keep in view. */
  thresholds?: readonly number[]
}

/** The y range of a state: 0 and 1 with room for the line's width. */
export const STATE_RANGE: readonly [number, number] = [-0.1, 1.1]

/**
 * The y axis range for the values drawn (every series), rounded out to nice steps, within
 * the catalogue's range and 0-100 for a percentage; a state is always 0-1. A flat series
 * gets a band around its value (uPlot's default made a constant 0 read 0-100 and a
 * constant 1 read 0-2); no values give 0-1 (0-100 for a percentage).
 */
export function yRange(kind: MetricKind, series: readonly (readonly (number | null | undefined)[])[], options: YRangeOptions = {}): [number, number] {
  if (kind === 'state') return [STATE_RANGE[0], STATE_RANGE[1]]
  let lo = Infinity
  let hi = -Infinity
  for (const values of series) {
    for (const v of values) {
      if (typeof v !== 'number' || !Number.isFinite(v)) continue
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
  }
  const dataLo = lo
  const dataHi = hi
  for (const v of options.thresholds ?? []) {
    if (!Number.isFinite(v)) continue
    lo = Math.min(lo, v)
    hi = Math.max(hi, v)
  }
  let floor = options.min ?? -Infinity
  let ceil = options.max ?? Infinity
  if (kind === 'percent') {
    floor = Math.max(floor, 0)
    ceil = Math.min(ceil, 100)
  }
  if (lo === Infinity) return kind === 'percent' ? [Math.max(0, floor), Math.min(100, ceil)] : [0, 1]
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
    lo -= pad
    hi += pad
  }
  const step = niceStep((hi - lo) / 5)
  let a = Math.floor(lo / step) * step
  let b = Math.ceil(hi / step) * step
  // Data exactly on a gridline stays on it; otherwise a little room above and below.
  if (a === lo && a !== 0 && lo === dataLo) a -= step
  if (b === hi && hi === dataHi) b += step
  a = Math.max(a, floor)
  b = Math.min(b, ceil)
  // Values outside the catalogue's range (should there be any) are still shown.
  if (dataLo < a) a = dataLo
  if (dataHi > b) b = dataHi
  if (a === b) b = a + 1
  return [round(a, step), round(b, step)]
}

function round(v: number, step: number): number {
  const d = decimalsOf(step)
  return Number(v.toFixed(Math.min(20, d)))
}

/** Decimals a step needs to be printed exactly (0.25 → 2, 5 → 0). */
export function decimalsOf(step: number): number {
  if (!Number.isFinite(step) || step <= 0) return 0
  for (let d = 0; d <= 10; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6) return d
  return 10
}

export function localeOf(lang: Lang): string {
  return lang === 'vi' ? 'vi-VN' : 'en-GB'
}

/**
 * The y axis's tick labels in the user's locale, every label with the decimals the ticks'
 * spacing needs (1,016.002 beside 1,016.004, not 1,016 beside 1,016).
 */
export function tickLabels(splits: readonly number[], lang: Lang): string[] {
  let step = Infinity
  for (let i = 1; i < splits.length; i++) step = Math.min(step, Math.abs(splits[i]! - splits[i - 1]!))
  const digits = Number.isFinite(step) ? decimalsOf(Number(step.toPrecision(6))) : 0
  const format = new Intl.NumberFormat(localeOf(lang), { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return splits.map((v) => (Number.isFinite(v) ? format.format(v === 0 ? 0 : v) : ''))
}

/** Decimals for a value on an axis spanning `range`: enough to tell apart values 1 % of the span apart, at most 6. */
export function legendDigits(range: readonly [number, number]): number {
  const span = Math.abs(range[1] - range[0])
  if (!(span > 0)) return 2
  return Math.min(6, decimalsOf(niceStep(span / 100)))
}

/** Space between a label and the plot: uPlot's tick length plus its gap, and a margin. */
export const AXIS_TICK_PX = 10
export const AXIS_GAP_PX = 5
export const AXIS_MARGIN_PX = 4

/**
 * The y axis's width for its labels: the widest label as `measure` (canvas measureText with
 * the axis font) gives it, plus ticks, gap and a margin. The axis used to be 56 px whatever
 * it held, so "1,016.004" lost its first digits.
 */
export function axisWidth(labels: readonly (string | null | undefined)[], measure: (text: string) => number, minimumPx = 32): number {
  let widest = 0
  for (const label of labels) if (label) widest = Math.max(widest, measure(label))
  return Math.max(minimumPx, Math.ceil(widest) + AXIS_TICK_PX + AXIS_GAP_PX + AXIS_MARGIN_PX)
}

/** The preset ranges of the charts, in ms: the x axis always spans the chosen one. */
export const RANGE_MS = {
  live: 10 * 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
  '90d': 90 * 86_400_000,
  '365d': 365 * 86_400_000,
} as const
export type PresetRange = keyof typeof RANGE_MS

export interface TimeWindow {
  /** Epoch ms, inclusive. */
  from: number
  /** Epoch ms. */
  to: number
}

/** The x window of a preset range ending now: "24 h" is now-24 h .. now, whatever the data's span. */
export function presetWindow(range: PresetRange, now: number): TimeWindow {
  return { from: now - RANGE_MS[range], to: now }
}

/** How the resolution the series API answered with is shown: raw readings, 1 min, 1 h (or n h when hours were merged). */
export function resolutionLabel(resolution: string, stepMs?: number): { key: MessageKey; n: number } {
  if (resolution === 'raw') return { key: 'chart.resolution.raw', n: 0 }
  if (resolution === '1m') return { key: 'chart.resolution.minutes', n: Math.max(1, Math.round((stepMs || 60_000) / 60_000)) }
  return { key: 'chart.resolution.hours', n: Math.max(1, Math.round((stepMs || 3_600_000) / 3_600_000)) }
}

/** Console times are Da Nang's (UTC+7, no daylight saving), whatever the browser's zone. */
const LOCAL_OFFSET_MS = 7 * 3_600_000
/** The longest custom range the series API answers. */
export const MAX_CUSTOM_RANGE_MS = 366 * 86_400_000

/** A time as a datetime-local input's value in Da Nang time ("2026-11-29T08:00"). */
export function toLocalInput(ms: number): string {
  return new Date(ms + LOCAL_OFFSET_MS).toISOString().slice(0, 16)
}

/** A datetime-local input's value (Da Nang time) as epoch ms; NaN when it is not one. */
export function fromLocalInput(text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?$/.exec(text.trim())
  if (!m) return NaN
  return Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}+07:00`)
}

/** The custom range typed into the from/to inputs, or the message key of what is wrong with it. */
export function parseCustomRange(fromText: string, toText: string): { ok: true; window: TimeWindow } | { ok: false; error: MessageKey } {
  const from = fromLocalInput(fromText)
  const to = fromLocalInput(toText)
  if (Number.isNaN(from) || Number.isNaN(to)) return { ok: false, error: 'chart.custom.invalid' }
  if (to <= from) return { ok: false, error: 'chart.custom.order' }
  if (to - from > MAX_CUSTOM_RANGE_MS) return { ok: false, error: 'chart.custom.tooLong' }
  return { ok: true, window: { from, to } }
}

/** A value as the legend prints it: a state's label (or the share of time on, for an average), else the value and unit. */
export function legendValue(s: { metric: string; unit: string | null | undefined }, v: number | null, lang: Lang, digits?: number): string {
  if (v === null || !Number.isFinite(v)) return '–'
  if (metricKind(s.unit) === 'state') {
    const [off, on] = stateLabelKeys(s.metric).map((k) => t(k, undefined, lang))
    if (v === 0) return off!
    if (v === 1) return on!
    return `${on} ${new Intl.NumberFormat(localeOf(lang), { style: 'percent', maximumFractionDigits: 0 }).format(v)}`
  }
  if (digits === undefined) return formatValue(v, displayUnit(s.unit), lang)
  const unit = displayUnit(s.unit)
  const text = formatNumber(v, digits, lang)
  return unit ? `${text} ${unit}` : text
}

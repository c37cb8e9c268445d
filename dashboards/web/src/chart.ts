/**
 * A uPlot chart of one or more series (a device's metrics, or an indicator). Raw series and
 * the live buffer are a line; a single rollup (1 min, 1 h) is the average line with its
 * min–max band; states (on/off, ok/fault) are a step line on 0 and 1 with their labels.
 * The x axis spans the chosen range (not the data's), the y axis is sized to its labels,
 * alarm thresholds are dashed lines, an empty range says so. Dragging across the plot
 * calls `onSelect` with the window chosen (the page zooms by loading it).
 *
 * Tests read the chart from its element's data-* attributes (no pixels): data-range,
 * data-points, data-empty, data-kind, data-paths, data-x-from/-to (ms), data-y-min/-max,
 * data-y-labels (|-separated), data-y-axis-width and data-y-label-width (px),
 * data-thresholds, data-resolution, data-series.
 */
import uPlot from 'uplot'
import {
  axisWidth, displayUnit, legendDigits, legendValue, metricKind, resolutionLabel, stateLabelKeys, tickLabels, yRange, type MetricKind, type TimeWindow,
} from './chart-model.ts'
import { h, setText } from './dom.ts'
import { formatDateTime, formatNumber, formatValue, SEVERITY_COLORS, type Severity } from './format.ts'
import { getLang, t } from './i18n.ts'

const TIME_ZONE = 'Asia/Ho_Chi_Minh'
const COLORS = ['#4fc3f7', '#ffb74d', '#81c784', '#f06292', '#ba68c8', '#fff176'] as const
const BAND = 'rgba(79, 195, 247, 0.18)'
const AXIS = '#9fb3c8'
const GRID = 'rgba(255, 255, 255, 0.07)'
/** The axis font, set on the axes and used to measure their labels. */
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'

/** uPlot's axis templates are US style (4pm, 11/29); operators here read 16:00 and 29/11. */
function dayFirst24h(tpl: string): string {
  return tpl
    .replace('{h}{aa}', '{HH}:00')
    .replace('{h}', '{HH}')
    .replace('{aa}', '')
    .replace('{M}/{D}', '{D}/{M}')
}

let measureCtx: CanvasRenderingContext2D | null | undefined
function measure(text: string): number {
  measureCtx ??= document.createElement('canvas').getContext('2d')
  if (!measureCtx) return text.length * 7
  measureCtx.font = AXIS_FONT
  return measureCtx.measureText(text).width
}

/** One series of a chart. */
export interface ChartSeries {
  /** The metric (thresholds and state labels are matched on it). */
  metric: string
  /** The legend's name (the metric, with its device when several devices are drawn). */
  label: string
  /** The catalogue's unit (bool, %, ug/m3, ...); '' when unknown. */
  unit: string
  /** The catalogue's plausible range, which bounds the axis. */
  min?: number | null | undefined
  max?: number | null | undefined
  /** Epoch milliseconds, ascending. */
  times: number[]
  values: (number | null)[]
  /** A rollup's min and max per point (drawn as a band when the chart has one series). */
  mins?: (number | null)[] | undefined
  maxs?: (number | null)[] | undefined
}

/** An alarm rule's limit, drawn on the series of its metric. */
export interface ChartThreshold {
  ruleId: string
  metric: string
  severity: string
  value: number
  direction: 'above' | 'below'
}

/** What one drawing shows. */
export interface ChartView {
  /** The chosen range's name (live, 1h, 24h, 7d, custom, ...), for data-range. */
  range: string
  /** The x axis: the chosen range, whatever the data spans. */
  window: TimeWindow
  series: ChartSeries[]
  /** What the series API answered with (raw, 1m, 1h and the step), shown beside the title. */
  resolution?: { resolution: string; stepMs?: number | undefined } | undefined
  thresholds?: ChartThreshold[] | undefined
}

interface ScaleInfo { key: string; unit: string; kind: MetricKind; metric: string; min?: number | null | undefined; max?: number | null | undefined }

export interface MetricChartOptions {
  /** data-metric of the element (the first metric). */
  metric: string
  title: string
  /** Called with the window dragged across the plot (at least a few pixels wide). */
  onSelect?: (window: TimeWindow) => void
}

export class MetricChart {
  readonly el: HTMLElement
  readonly metric: string
  private readonly plotBox: HTMLElement
  private readonly emptyBox: HTMLElement
  private readonly resolutionBox: HTMLElement
  private readonly unitBox: HTMLElement
  private readonly legendTime: HTMLElement
  private readonly legendItems: HTMLElement
  private plot: uPlot | undefined
  private signature = ''
  private view: ChartView = { range: '', window: { from: 0, to: 1 }, series: [] }
  private scales: ScaleInfo[] = []
  private yRanges = new Map<string, [number, number]>()
  private axisLabels: { labels: string[]; width: number } = { labels: [], width: 0 }
  private drawnThresholds: number[] = []
  private readonly resize: ResizeObserver

  constructor(private readonly options: MetricChartOptions) {
    this.metric = options.metric
    this.plotBox = h('div', { class: 'chart-plot' })
    this.emptyBox = h('div', { class: 'chart-empty', 'data-testid': 'chart-empty', hidden: true }, t('chart.empty'))
    this.resolutionBox = h('span', { class: 'chart-resolution muted', 'data-testid': 'chart-resolution' })
    this.unitBox = h('span', { class: 'muted' })
    this.legendTime = h('span', { class: 'chart-legend-time muted', 'data-testid': 'chart-legend-time' })
    this.legendItems = h('span', { class: 'chart-legend-items' })
    this.el = h('figure', { class: 'chart', 'data-testid': 'chart', 'data-metric': options.metric, 'data-range': '', 'data-points': '0', 'data-empty': 'true' },
      h('figcaption', {}, h('span', { class: 'chart-title' }, options.title, this.unitBox), this.resolutionBox),
      h('div', { class: 'chart-body' }, this.plotBox, this.emptyBox),
      h('div', { class: 'chart-legend', 'data-testid': 'chart-legend' }, this.legendItems, this.legendTime))
    this.resize = new ResizeObserver(() => {
      const width = this.width()
      if (this.plot && Math.abs(this.plot.width - width) > 2) this.plot.setSize({ width, height: this.height() })
    })
    this.resize.observe(this.plotBox)
  }

  private width(): number {
    return Math.max(200, Math.floor(this.plotBox.clientWidth || 400))
  }

  private height(): number {
    return 200
  }

  /** Draws `view`; the plot is rebuilt only when its series, units or band change. */
  show(view: ChartView): void {
    this.view = view
    const banded = view.series.length === 1 && view.series[0]!.mins !== undefined && view.series[0]!.maxs !== undefined
    this.scales = scalesOf(view.series)
    const signature = JSON.stringify([banded, view.series.map((s) => [s.label, s.unit]), getLang()])
    // One range per scale: its series' values (and band), within the catalogue range, with the thresholds of its metrics.
    this.yRanges.clear()
    for (const scale of this.scales) {
      const members = view.series.filter((s) => scaleKeyOf(s) === scale.key)
      const values = members.flatMap((s) => (banded ? [s.values, s.mins ?? [], s.maxs ?? []] : [s.values]))
      const limits = (view.thresholds ?? []).filter((th) => members.some((s) => s.metric === th.metric)).map((th) => th.value)
      this.yRanges.set(scale.key, yRange(scale.kind, values, { min: scale.min, max: scale.max, thresholds: limits }))
    }
    const data = aligned(view.series, banded)
    if (!this.plot || this.signature !== signature) {
      this.plot?.destroy()
      this.signature = signature
      this.plot = new uPlot(this.uplotOptions(banded), data, this.plotBox)
      this.buildLegend()
    } else {
      this.plot.setData(data)
    }
    const points = view.series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0)
    const first = view.series[0]
    const unit = displayUnit(first?.unit)
    setText(this.unitBox, view.series.length === 1 && unit ? ` (${unit})` : '')
    const res = view.resolution
    if (res) {
      const label = resolutionLabel(res.resolution, res.stepMs)
      setText(this.resolutionBox, t(label.key, { n: label.n }))
      this.el.dataset['resolution'] = res.resolution
    } else {
      setText(this.resolutionBox, '')
      delete this.el.dataset['resolution']
    }
    this.emptyBox.hidden = points > 0
    const ds = this.el.dataset
    ds['range'] = view.range
    ds['points'] = String(view.series.reduce((n, s) => n + s.times.length, 0))
    ds['empty'] = String(points === 0)
    ds['kind'] = this.scales[0]?.kind ?? 'value'
    ds['paths'] = this.scales[0]?.kind === 'state' ? 'step' : 'line'
    ds['series'] = view.series.map((s) => s.label).join(',')
    // The x scale as drawn is written after the drawing (uPlot commits in a microtask).
    ds['xFrom'] = String(view.window.from)
    ds['xTo'] = String(view.window.to)
    const y = this.yRanges.get(this.scales[0]?.key ?? '')
    ds['yMin'] = String(y?.[0] ?? '')
    ds['yMax'] = String(y?.[1] ?? '')
    this.updateLegend(null)
  }

  private uplotOptions(banded: boolean): uPlot.Options {
    const lang = getLang()
    const series: uPlot.Series[] = [{}]
    this.view.series.forEach((s, i) => {
      const kind = metricKind(s.unit)
      series.push({
        label: s.label,
        scale: scaleKeyOf(s),
        stroke: COLORS[i % COLORS.length],
        width: 2,
        points: { show: false },
        spanGaps: false,
        ...(kind === 'state' ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
      })
    })
    if (banded) {
      series.push(
        { label: 'min', scale: scaleKeyOf(this.view.series[0]!), stroke: 'rgba(79,195,247,0.35)', width: 1, points: { show: false } },
        { label: 'max', scale: scaleKeyOf(this.view.series[0]!), stroke: 'rgba(79,195,247,0.35)', width: 1, points: { show: false } },
      )
    }
    const scales: uPlot.Scales = {
      x: { time: true, range: () => [this.view.window.from / 1000, this.view.window.to / 1000] },
    }
    const axes: uPlot.Axis[] = [{ stroke: AXIS, font: AXIS_FONT, grid: { stroke: GRID }, ticks: { stroke: GRID } }]
    this.scales.forEach((scale, i) => {
      scales[scale.key] = { auto: true, range: () => this.yRanges.get(scale.key) ?? [0, 1] }
      const stateLabels = scale.kind === 'state' ? stateLabelKeys(scale.metric).map((k) => t(k)) : undefined
      axes.push({
        scale: scale.key,
        side: i % 2 === 0 ? 3 : 1,
        stroke: AXIS,
        font: AXIS_FONT,
        grid: { show: i === 0, stroke: GRID },
        ticks: { stroke: GRID },
        ...(stateLabels ? { splits: () => [0, 1] } : {}),
        values: (_u, splits) => (stateLabels ? splits.map((v) => (v === 0 ? stateLabels[0]! : v === 1 ? stateLabels[1]! : '')) : tickLabels(splits, lang)),
        size: (_u, values) => {
          const width = axisWidth(values ?? [], measure)
          if (i === 0) this.axisLabels = { labels: [...(values ?? [])], width }
          return width
        },
      })
    })
    return {
      width: this.width(),
      height: this.height(),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TIME_ZONE),
      fmtDate: (tpl) => uPlot.fmtDate(dayFirst24h(tpl)),
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: false },
      series,
      bands: banded ? [{ series: [3, 2], fill: BAND }] : [],
      scales,
      axes,
      hooks: {
        draw: [(u) => this.afterDraw(u)],
        setCursor: [(u) => this.updateLegend(u.cursor.idx ?? null)],
        setSelect: [(u) => this.selected(u)],
      },
    }
  }

  /** A drag across the plot: the window it covers goes to the page, and the selection is cleared. */
  private selected(u: uPlot): void {
    const { left, width } = u.select
    if (width < 5) return
    const from = Math.round(u.posToVal(left, 'x') * 1000)
    const to = Math.round(u.posToVal(left + width, 'x') * 1000)
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
    if (to > from) this.options.onSelect?.({ from, to })
  }

  /** Thresholds as dashed lines in their severity's colour; the attributes tests read. */
  private afterDraw(u: uPlot): void {
    const drawn: number[] = []
    const ctx = u.ctx
    const { left, width } = u.bbox
    for (const th of this.view.thresholds ?? []) {
      const s = this.view.series.find((x) => x.metric === th.metric)
      if (!s) continue
      const key = scaleKeyOf(s)
      const range = this.yRanges.get(key)
      if (!range || th.value < range[0] || th.value > range[1]) continue
      const y = Math.round(u.valToPos(th.value, key, true)) + 0.5
      const color = SEVERITY_COLORS[th.severity as Severity] ?? '#90a4ae'
      ctx.save()
      ctx.strokeStyle = color
      ctx.lineWidth = Math.max(1, uPlot.pxRatio)
      ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio])
      ctx.beginPath()
      ctx.moveTo(left, y)
      ctx.lineTo(left + width, y)
      ctx.stroke()
      ctx.setLineDash([])
      ctx.fillStyle = color
      ctx.font = `${Math.round(11 * uPlot.pxRatio)}px system-ui, sans-serif`
      ctx.textAlign = 'right'
      ctx.textBaseline = th.direction === 'above' ? 'bottom' : 'top'
      const label = `${th.ruleId} ${th.direction === 'above' ? '>' : '<'} ${formatNumber(th.value, 3, getLang())}`
      ctx.fillText(label, left + width - 4 * uPlot.pxRatio, th.direction === 'above' ? y - 2 : y + 2)
      ctx.restore()
      drawn.push(th.value)
    }
    this.drawnThresholds = drawn
    const ds = this.el.dataset
    const x = u.scales['x']
    if (x?.min !== undefined && x.max !== undefined) {
      ds['xFrom'] = String(Math.round(x.min * 1000))
      ds['xTo'] = String(Math.round(x.max * 1000))
    }
    ds['thresholds'] = drawn.join(',')
    ds['yLabels'] = this.axisLabels.labels.join('|')
    ds['yAxisWidth'] = String(this.axisLabels.width)
    ds['yLabelWidth'] = String(Math.ceil(Math.max(0, ...this.axisLabels.labels.map((l) => (l ? measure(l) : 0)))))
  }

  /** Thresholds drawn in the last drawing (for tests and people reading the DOM). */
  thresholdsDrawn(): readonly number[] {
    return this.drawnThresholds
  }

  private buildLegend(): void {
    // Colours through the CSSOM: the console's CSP forbids style attributes.
    this.legendItems.replaceChildren(...this.view.series.map((s, i) => {
      const unit = displayUnit(s.unit)
      const swatch = h('span', { class: 'swatch' })
      swatch.style.background = COLORS[i % COLORS.length]!
      return h('span', { class: 'chart-legend-item', 'data-testid': 'chart-legend-item', 'data-metric': s.metric },
        swatch,
        h('span', { class: 'chart-legend-name' }, s.label, unit ? h('span', { class: 'muted' }, ` (${unit})`) : null),
        ' ',
        h('strong', { class: 'chart-legend-value', 'data-testid': 'chart-legend-value' }, '–'))
    }), ...(this.view.thresholds ?? []).filter((th) => this.view.series.some((s) => s.metric === th.metric)).map((th) => {
      const item = h('span', { class: 'chart-legend-item chart-legend-threshold', 'data-testid': 'chart-threshold', 'data-rule': th.ruleId, 'data-value': String(th.value) },
        h('span', { class: 'swatch dashed' }),
        t(th.direction === 'above' ? 'chart.threshold.above' : 'chart.threshold.below', { rule: th.ruleId, limit: formatValue(th.value, displayUnit(this.view.series.find((s) => s.metric === th.metric)?.unit), getLang()) }))
      item.style.setProperty('--sev', SEVERITY_COLORS[th.severity as Severity] ?? '#90a4ae')
      return item
    }))
  }

  /**
   * The legend: each series' value at the hovered time (index `idx` of the aligned data), in
   * the user's locale with its unit; not hovering, the latest value in the range and its time.
   */
  private updateLegend(idx: number | null): void {
    const lang = getLang()
    const plot = this.plot
    if (!plot) return
    const xs = plot.data[0] as number[]
    const values = Array.from(this.legendItems.querySelectorAll<HTMLElement>('[data-testid=chart-legend-value]'))
    if (idx !== null && idx >= 0 && idx < xs.length) {
      setText(this.legendTime, formatDateTime(xs[idx]! * 1000, lang))
      this.legendTime.dataset['hover'] = 'true'
      this.view.series.forEach((s, i) => {
        const v = (plot.data[i + 1] as (number | null | undefined)[] | undefined)?.[idx]
        if (values[i]) setText(values[i]!, legendValue(s, v ?? null, lang, this.digitsOf(s)))
      })
      return
    }
    this.legendTime.dataset['hover'] = 'false'
    let newest = -Infinity
    this.view.series.forEach((s, i) => {
      let j = s.values.length - 1
      while (j >= 0 && s.values[j] === null) j--
      if (j >= 0) newest = Math.max(newest, s.times[j]!)
      if (values[i]) setText(values[i]!, j >= 0 ? legendValue(s, s.values[j]!, lang, this.digitsOf(s)) : '–')
    })
    setText(this.legendTime, Number.isFinite(newest) ? `${t('chart.legend.latest')} · ${formatDateTime(newest, lang)}` : '')
  }

  /** Decimals that tell apart values 1 % of the axis apart (1,016.023 kWh on an axis of 1,016.00-1,016.06). */
  private digitsOf(s: ChartSeries): number {
    const range = this.yRanges.get(scaleKeyOf(s))
    return range ? legendDigits(range) : 2
  }

  destroy(): void {
    this.resize.disconnect()
    this.plot?.destroy()
    this.plot = undefined
  }
}

function scaleKeyOf(s: Pick<ChartSeries, 'unit' | 'metric'>): string {
  // States share the 0-1 scale only with states of the same labels; other metrics share by unit.
  return metricKind(s.unit) === 'state' ? `state:${stateLabelKeys(s.metric).join('/')}` : `y:${s.unit}`
}

function scalesOf(series: readonly ChartSeries[]): ScaleInfo[] {
  const scales = new Map<string, ScaleInfo>()
  for (const s of series) {
    const key = scaleKeyOf(s)
    const known = scales.get(key)
    if (known) {
      // Several metrics on one scale: the widest catalogue range of them.
      known.min = known.min === undefined || known.min === null || s.min === undefined || s.min === null ? undefined : Math.min(known.min, s.min)
      known.max = known.max === undefined || known.max === null || s.max === undefined || s.max === null ? undefined : Math.max(known.max, s.max)
      continue
    }
    scales.set(key, { key, unit: s.unit, kind: metricKind(s.unit), metric: s.metric, min: s.min, max: s.max })
  }
  return [...scales.values()]
}

/** The series on one x axis (uPlot's aligned data, seconds): joined on their times when there are several. */
function aligned(series: readonly ChartSeries[], banded: boolean): uPlot.AlignedData {
  const seconds = (times: number[]) => times.map((ms) => ms / 1000)
  if (series.length === 0) return [[]]
  if (series.length === 1) {
    const s = series[0]!
    return banded ? [seconds(s.times), s.values, s.mins ?? [], s.maxs ?? []] : [seconds(s.times), s.values]
  }
  return uPlot.join(series.map((s) => [seconds(s.times), s.values] as uPlot.AlignedData))
}


/**
 * One uPlot chart per metric on the device page. Raw series and the live buffer are a
 * line; rollups (1m, 1h) are the average line with a min–max band. The element carries
 * data-points (points drawn) for tests and for people reading the DOM.
 */
import uPlot from 'uplot'
import { h } from './dom.ts'

const TIME_ZONE = 'Asia/Ho_Chi_Minh'
const LINE = '#4fc3f7'
const BAND = 'rgba(79, 195, 247, 0.18)'
const AXIS = '#9fb3c8'
const GRID = 'rgba(255, 255, 255, 0.07)'

/** uPlot's axis templates are US style (4pm, 11/29); operators here read 16:00 and 29/11. */
function dayFirst24h(tpl: string): string {
  return tpl
    .replace('{h}{aa}', '{HH}:00')
    .replace('{h}', '{HH}')
    .replace('{aa}', '')
    .replace('{M}/{D}', '{D}/{M}')
}

export interface ChartData {
  /** Epoch milliseconds, ascending. */
  times: number[]
  values: (number | null)[]
  min?: (number | null)[]
  max?: (number | null)[]
}

export class MetricChart {
  readonly el: HTMLElement
  private readonly plotBox: HTMLElement
  private plot: uPlot | undefined
  private banded = false
  private readonly resize: ResizeObserver

  constructor(
    readonly metric: string,
    title: string,
    private readonly unit: string,
  ) {
    this.plotBox = h('div', { class: 'chart-plot' })
    this.el = h('figure', { class: 'chart', 'data-testid': 'chart', 'data-metric': metric, 'data-range': '', 'data-points': '0' },
      h('figcaption', {}, title, unit ? h('span', { class: 'muted' }, ` (${unit})`) : null),
      this.plotBox)
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

  /** Draws `data` for `range`; recreates the plot only when the band (rollup) changes. */
  draw(range: string, data: ChartData): void {
    const banded = data.min !== undefined && data.max !== undefined
    const seconds = data.times.map((ms) => ms / 1000)
    const aligned: uPlot.AlignedData = banded ? [seconds, data.values, data.min ?? [], data.max ?? []] : [seconds, data.values]
    if (!this.plot || this.banded !== banded) {
      this.plot?.destroy()
      this.banded = banded
      this.plot = new uPlot(this.options(banded), aligned, this.plotBox)
    } else {
      this.plot.setData(aligned)
    }
    this.el.dataset['range'] = range
    this.el.dataset['points'] = String(seconds.length)
  }

  private options(banded: boolean): uPlot.Options {
    const unit = this.unit
    const series: uPlot.Series[] = [
      {},
      { label: this.metric, stroke: LINE, width: 2, points: { show: false }, spanGaps: false, value: (_u, v) => (v === null ? '–' : `${+v.toFixed(3)} ${unit}`) },
    ]
    if (banded) {
      series.push(
        { label: 'min', stroke: 'rgba(79,195,247,0.35)', width: 1, points: { show: false } },
        { label: 'max', stroke: 'rgba(79,195,247,0.35)', width: 1, points: { show: false } },
      )
    }
    return {
      width: this.width(),
      height: this.height(),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TIME_ZONE),
      fmtDate: (tpl) => uPlot.fmtDate(dayFirst24h(tpl)),
      cursor: { drag: { x: true, y: false } },
      legend: { show: true, live: true },
      series,
      bands: banded ? [{ series: [3, 2], fill: BAND }] : [],
      scales: { x: { time: true } },
      axes: [
        { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID } },
        { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, size: 56 },
      ],
    }
  }

  destroy(): void {
    this.resize.disconnect()
    this.plot?.destroy()
    this.plot = undefined
  }
}

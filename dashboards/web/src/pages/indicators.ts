import { api, errorMessage, qs } from '../api.ts'
import { MetricChart } from '../chart.ts'
import { parseCustomRange, presetWindow, toLocalInput, type PresetRange, type TimeWindow } from '../chart-model.ts'
import type { Page, PageContext } from '../context.ts'
import { h, replace } from '../dom.ts'
import { AQI_COLORS, AQI_LEVELS, formatDateTime, formatNumber, losColor, textOn } from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import { routeHash } from '../route.ts'

/** One stored series as GET /api/indicators lists it (docs/console-api.md#indicators). */
export interface IndicatorSeries { name: string; scope: string; key: string; first: number; last: number; values: number }

/** One stored value as GET /api/indicators/:name gives it, oldest first. */
export interface IndicatorPoint { t: number; v: number; scope: string; key: string; level: string | null; revision: number; details?: Record<string, unknown> }

const RANGES = ['24h', '7d', '30d', '90d', '365d'] as const
const LATEST_ROWS = 10

/** Units of the known indicators (docs/indicators.md); unknown ones are drawn without a unit. */
const UNITS: Record<string, string> = {
  traffic_los: '%', night_flow_min: 'm³/h', tank_level_trend: 'm/h', lighting_energy_night: 'kWh',
  lamp_burning_hours: 'h', flood_level: 'm', flood_rise_rate: 'm/h',
}

/** EPA categories in band order, coloured as the VN bands of the same index (same breakpoints 0-500). */
const US_AQI_LEVELS = ['good', 'moderate', 'unhealthy_sensitive', 'unhealthy', 'very_unhealthy', 'hazardous'] as const
const FLOOD_LEVEL_COLORS: Record<string, string> = { normal: '#00c853', alert_1: '#ffd600', alert_2: '#ff9100', alert_3: '#ff1744' }

/** The colour of a stored level where the indicator has a known scale; undefined otherwise. */
function levelColor(name: string, level: string | null): string | undefined {
  if (!level) return undefined
  if (name.startsWith('vn_aqi') && (AQI_LEVELS as readonly string[]).includes(level)) return AQI_COLORS[level as keyof typeof AQI_COLORS]
  if (name.startsWith('us_aqi')) {
    const i = (US_AQI_LEVELS as readonly string[]).indexOf(level)
    return i < 0 ? undefined : AQI_COLORS[AQI_LEVELS[i]!]
  }
  if (name === 'traffic_los' || name === 'traffic_congestion') return losColor(level)
  if (name === 'flood_level') return FLOOD_LEVEL_COLORS[level]
  return undefined
}

function levelLabel(name: string, level: string): string {
  if (name.includes('_aqi_')) return tOr(`aqi.${level}`, level)
  if (name === 'flood_level') return level.startsWith('alert_') ? t('overview.flood.alert', { level: level.slice(6) }) : level === 'normal' ? t('overview.flood.normal') : level
  return level
}

export function indicatorLabel(name: string): string {
  return tOr(`indicator.${name}`, name)
}

function seriesLabel(s: { scope: string; key: string }): string {
  return `${s.key} (${tOr(`scope.${s.scope}`, s.scope)})`
}

/**
 * Indicator history: pick an indicator (from what is stored), a series (scope and key)
 * and a range; a chart of the values and a table of the latest, with their level and a
 * mark on values corrected by late readings (revision > 0). The choice lives in the hash.
 */
export function mountIndicators(root: HTMLElement, ctx: PageContext, query: Record<string, string>): Page {
  const lang = getLang()
  let disposed = false
  let chart: MetricChart | undefined
  const range = ((RANGES as readonly string[]).includes(query['range'] ?? '') ? query['range']! : '30d') as PresetRange
  // A custom window (from/to in the hash, RFC 3339): typed in, or dragged across the chart.
  const customFrom = Date.parse(query['from'] ?? '')
  const customTo = Date.parse(query['to'] ?? '')
  const custom: TimeWindow | undefined = Number.isFinite(customFrom) && Number.isFinite(customTo) && customTo > customFrom ? { from: customFrom, to: customTo } : undefined

  const nameSelect = h('select', { id: 'indicator-name', 'data-testid': 'indicator-name' })
  const seriesSelect = h('select', { id: 'indicator-series', 'data-testid': 'indicator-series' })
  const rangeSelect = h('select', { id: 'indicator-range', 'data-testid': 'indicator-range' },
    ...RANGES.map((r) => h('option', { value: r, selected: r === range }, t(`indicators.range.${r}`))))
  const form = h('form', { class: 'inline-form', 'data-testid': 'indicator-pick' },
    h('label', {}, t('indicators.pick.name'), nameSelect),
    h('label', {}, t('indicators.pick.series'), seriesSelect),
    h('label', {}, t('indicators.pick.range'), rangeSelect),
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('indicators.pick.show')))
  const shown = custom ?? presetWindow(range, Date.now())
  const fromInput = h('input', { type: 'datetime-local', id: 'indicator-from', 'data-testid': 'custom-from', class: 'time-input', step: 60, value: toLocalInput(shown.from) })
  const toInput = h('input', { type: 'datetime-local', id: 'indicator-to', 'data-testid': 'custom-to', class: 'time-input', step: 60, value: toLocalInput(shown.to) })
  const customError = h('span', { class: 'form-error', role: 'alert', 'data-testid': 'custom-error', hidden: true })
  const customForm = h('form', { class: 'inline-form chart-range-form', 'data-testid': 'custom-range' },
    h('label', { for: 'indicator-from' }, t('chart.custom.from')), fromInput,
    h('label', { for: 'indicator-to' }, t('chart.custom.to')), toInput,
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'custom-apply' }, t('chart.custom.apply')),
    // Back is the browser's (each zoom is an address); Reset drops the custom window for the chosen range.
    custom ? h('button', { type: 'button', class: 'btn', 'data-testid': 'chart-back', onclick: () => history.back() }, '‹ ', t('chart.back')) : null,
    custom ? h('button', { type: 'button', class: 'btn', 'data-testid': 'chart-reset', onclick: () => go() }, t('chart.reset')) : null,
    customError,
    h('span', { class: 'muted chart-hint' }, t('chart.zoomHint')))
  customForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const parsed = parseCustomRange(fromInput.value, toInput.value)
    if (!parsed.ok) {
      customError.textContent = t(parsed.error)
      customError.hidden = false
      return
    }
    go(parsed.window)
  })
  const errorBox = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'indicator-error', hidden: true })
  const chartBox = h('div', { class: 'indicator-chart' })
  const message = h('p', { class: 'muted', 'data-testid': 'indicator-message' }, t('app.loading'))
  const summary = h('p', { class: 'muted', 'data-testid': 'indicator-summary' })
  const body = h('tbody')
  const latest = h('section', { class: 'panel', hidden: true },
    h('div', { class: 'panel-title' }, t('indicators.latest')),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table compact', 'data-testid': 'indicator-latest' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('indicators.col.time')), h('th', {}, t('indicators.col.value')),
          h('th', {}, t('indicators.col.level')), h('th', {}, t('indicators.col.revision')))),
        body)))

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('indicators.title'))),
    h('p', { class: 'muted' }, t('indicators.intro')),
    h('section', { class: 'panel' }, form, customForm, errorBox, message, summary, chartBox),
    latest)

  let catalog: IndicatorSeries[] = []

  function fillSeries(name: string, chosen: string): void {
    const series = catalog.filter((s) => s.name === name)
    replace(seriesSelect, ...series.map((s) => {
      const value = `${s.scope}\u0000${s.key}`
      return h('option', { value, selected: value === chosen }, seriesLabel(s))
    }))
    if (!series.some((s) => `${s.scope}\u0000${s.key}` === chosen) && series[0]) seriesSelect.value = `${series[0].scope}\u0000${series[0].key}`
  }

  /** Shows the picked series: the chosen range, or a custom window (which the address keeps). */
  function go(window?: TimeWindow): void {
    const [scope = '', key = ''] = seriesSelect.value.split('\u0000')
    const q: Record<string, string> = { name: nameSelect.value, scope, key, range: rangeSelect.value }
    if (window) {
      q['from'] = new Date(window.from).toISOString()
      q['to'] = new Date(window.to).toISOString()
    }
    location.hash = routeHash({ name: 'indicators', query: q })
  }

  nameSelect.addEventListener('change', () => {
    fillSeries(nameSelect.value, '')
    go(custom)
  })
  seriesSelect.addEventListener('change', () => go(custom))
  rangeSelect.addEventListener('change', () => go())
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    go()
  })

  function fail(error: unknown): void {
    if (disposed) return
    errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
    errorBox.hidden = false
    message.hidden = true
  }

  async function loadCatalog(): Promise<void> {
    try {
      const r = await api<{ indicators: IndicatorSeries[] }>('/api/indicators')
      if (disposed) return
      errorBox.hidden = true
      catalog = r.indicators
      const names = [...new Set(catalog.map((s) => s.name))].sort((a, b) => indicatorLabel(a).localeCompare(indicatorLabel(b), lang))
      const wanted = query['name'] ?? ''
      // A name from the hash that is not stored yet stays choosable: the page then says it is empty.
      if (wanted && !names.includes(wanted)) names.unshift(wanted)
      if (names.length === 0) {
        replace(nameSelect)
        replace(seriesSelect)
        message.textContent = t('indicators.none')
        message.hidden = false
        return
      }
      replace(nameSelect, ...names.map((n) => h('option', { value: n, selected: n === wanted }, indicatorLabel(n))))
      const name = wanted || names[0]!
      nameSelect.value = name
      fillSeries(name, `${query['scope'] ?? ''}\u0000${query['key'] ?? ''}`)
      if (!wanted || !query['scope'] || !query['key']) {
        if (seriesSelect.value) {
          // The first series: the hash is completed in place (no hashchange, so no second drawing that would undo a choice made meanwhile).
          const [scope = '', key = ''] = seriesSelect.value.split('\u0000')
          history.replaceState(null, '', routeHash({ name: 'indicators', query: { name, scope, key, range: rangeSelect.value, ...(custom ? { from: query['from']!, to: query['to']! } : {}) } }))
          await loadSeries(name, scope, key)
        } else {
          message.textContent = t('indicators.pickSeries')
          message.hidden = false
        }
        return
      }
      await loadSeries(name, query['scope'], query['key'])
    } catch (error) {
      fail(error)
    }
  }

  async function loadSeries(name: string, scope: string, key: string): Promise<void> {
    try {
      const window = custom ? { from: new Date(custom.from).toISOString(), to: new Date(custom.to).toISOString() } : { range }
      const r = await api<{ from: number; to: number; points: IndicatorPoint[] }>(`/api/indicators/${encodeURIComponent(name)}${qs({ scope, key, ...window })}`)
      if (disposed) return
      errorBox.hidden = true
      const points = r.points
      if (!chart) {
        chart = new MetricChart({ metric: name, title: `${indicatorLabel(name)} · ${seriesLabel({ scope, key })}`, onSelect: (w) => go(w) })
        chart.el.dataset['indicator'] = name
        chartBox.append(chart.el)
      }
      chart.show({
        range: custom ? 'custom' : range,
        window: { from: r.from, to: r.to },
        series: [{ metric: name, label: indicatorLabel(name), unit: UNITS[name] ?? '', times: points.map((p) => p.t), values: points.map((p) => p.v) }],
      })
      if (points.length === 0) {
        message.textContent = t('indicators.empty')
        message.hidden = false
        summary.hidden = true
        latest.hidden = true
        return
      }
      message.hidden = true
      summary.hidden = false
      const revised = points.filter((p) => p.revision > 0).length
      summary.textContent = `${t('indicators.values', { count: points.length })}${revised > 0 ? ` · ${t('indicators.revised', { n: revised })}` : ''}`
      latest.hidden = false
      replace(body, ...points.slice(-LATEST_ROWS).reverse().map((p) => row(name, p)))
    } catch (error) {
      fail(error)
    }
  }

  function row(name: string, p: IndicatorPoint): HTMLElement {
    const colour = levelColor(name, p.level)
    const level = p.level
      ? h('span', { class: 'badge', 'data-level': p.level, style: colour ? `background:${colour};color:${textOn(colour)}` : null }, levelLabel(name, p.level))
      : '—'
    return h('tr', { 'data-testid': 'indicator-row', 'data-t': p.t, 'data-revision': p.revision },
      h('td', { class: 'nowrap' }, formatDateTime(p.t, lang)),
      h('td', { class: 'num', 'data-testid': 'indicator-value' }, `${formatNumber(p.v, 2, lang)}${UNITS[name] ? ` ${UNITS[name]}` : ''}`),
      h('td', {}, level),
      h('td', {}, p.revision > 0
        ? h('span', { class: 'revised', 'data-testid': 'indicator-revised', title: t('indicators.revised.title') }, `✎ ${t('indicators.revised', { n: p.revision })}`)
        : h('span', { class: 'muted' }, '0')))
  }

  void loadCatalog()
  // Indicator values are not on the live stream's page feed here; a reconnect reloads.
  ctx.live.connect('kinds=alarm', { onEvent: () => {}, onReopen: () => void loadCatalog() })
  return {
    unmount: () => {
      disposed = true
      chart?.destroy()
    },
  }
}

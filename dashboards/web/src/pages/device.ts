import { api, ApiError, errorMessage, qs } from '../api.ts'
import { MetricChart, type ChartSeries, type ChartThreshold } from '../chart.ts'
import { legendValue, parseCustomRange, presetWindow, toLocalInput, type TimeWindow } from '../chart-model.ts'
import type { Page, PageContext } from '../context.ts'
import { h, keyed, replace, setAttr, setText } from '../dom.ts'
import { formatDateTime, SEVERITY_COLORS, type Severity } from '../format.ts'
import { getLang, t, tOr, type MessageKey } from '../i18n.ts'
import type { LiveEvent } from '../live.ts'
import { metricLabel } from '../metric-names.ts'
import { RingBuffer } from '../ring.ts'
import { changeOf } from './alarms.ts'
import { lastSeenText, statusBadge, type DeviceSummary } from './devices.ts'
import { metadataEditor } from './metadata-editor.ts'

interface Latest { metric: string; unit: string | null; min?: number | null; max?: number | null; value: number; time: number; quality: number }
interface CommandSpec { action: string; params: Record<string, unknown>; description: string }
interface DeviceDetail { device: DeviceSummary & { createdAt: number | string }; latest: Latest[]; thresholds?: ChartThreshold[]; commands: CommandSpec[] }
interface SeriesPoint { t: number; v: number | null; min?: number | null; max?: number | null }
interface Series { metric: string; range: string; from: number; to: number; resolution: 'raw' | '1m' | '1h'; stepMs?: number; points: SeriesPoint[] }
/** A metric's catalogue entry as the device page got it: unit (bool is a state) and plausible range. */
interface MetricInfo { unit: string; min: number | null; max: number | null }
export interface CommandRecord {
  id: string; deviceId: string; domain: string; action: string; params: Record<string, unknown>
  status: string; detail: string | null; user: string; sentAt: number; repliedAt: number | null
}
interface RejectionSummary { since: number; total: number; byReason: { reason: string; count: number }[]; latest: { id: number; receivedAt: number; topic: string; reason: string; detail: string }[] }
interface AlarmChange { alarmId?: string; ruleId: string; subject: string; severity: string; state?: string; transition?: string; time: number; message: string; actor?: string; acknowledgedBy?: string; comment?: string }

const PRESETS = ['live', '1h', '24h', '7d'] as const
type Preset = (typeof PRESETS)[number]
/** A preset, or the custom range typed in or dragged across a chart. */
type Range = Preset | 'custom'
const MAX_CHARTS = 8
/** At most this many series on the combined chart. */
const MAX_COMBINED = 6
const LIVE_POINTS = 600
const LIVE_WINDOW_MS = 10 * 60_000
/** Charts redraw at most this often; SSE events in between only fill the buffers. */
const DRAW_INTERVAL_MS = 250

function toTime(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined) return null
  return typeof value === 'number' ? value : Date.parse(value)
}

export function mountDevice(root: HTMLElement, ctx: PageContext, id: string): Page {
  const lang = getLang()
  let disposed = false
  let range: Range = 'live'
  /** The window of the custom range (range 'custom'). */
  let custom: TimeWindow | undefined
  /** The preset the custom range started from: Reset returns to it. */
  let preset: Preset = 'live'
  /** Earlier ranges, for Back after a zoom or a custom range. */
  const history: { range: Range; custom: TimeWindow | undefined }[] = []
  let generation = 0
  const info = new Map<string, MetricInfo>()
  let thresholds: ChartThreshold[] = []
  const charts = new Map<string, MetricChart>()
  const rings = new Map<string, RingBuffer>()
  const latestEls = new Map<string, HTMLElement>()
  const dirty = new Set<string>()
  let lastDraw = 0
  let frame = 0
  let commandSpecs: CommandSpec[] = []
  /** The combined chart: metrics of this device (and of another device) on one chart. */
  let combined: { chart: MetricChart; metrics: string[]; other: { id: string; info: Map<string, MetricInfo> } | undefined } | undefined

  const title = h('h1', { class: 'mono' }, id)
  const statusBox = h('span')
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const meta = h('dl', { class: 'meta' })
  // Admins edit the metadata as fields (docs/dashboards.md#editing-a-device).
  const metaBox = h('div', {}, meta)
  let editor: ReturnType<typeof metadataEditor> | undefined
  let shownMetadata: Record<string, unknown> = {}
  const editButton = ctx.user.role === 'admin'
    ? h('button', { type: 'button', class: 'btn', 'data-testid': 'meta-edit' }, t('meta.edit'))
    : null
  const closeEditor = (): void => {
    editor?.unmount()
    editor = undefined
    replace(metaBox, meta)
    if (editButton) editButton.hidden = false
  }
  editButton?.addEventListener('click', () => {
    editor = metadataEditor(id, shownMetadata, (saved) => {
      closeEditor()
      if (saved) void loadAll()
    })
    editButton.hidden = true
    replace(metaBox, editor.element)
  })
  const latestGrid = h('div', { class: 'latest-grid' })
  const rangeButtons = [...PRESETS, 'custom' as const].map((r) => h('button', {
    type: 'button', class: 'btn seg', 'data-testid': `range-${r}`, 'aria-pressed': String(r === range), onclick: () => (r === 'custom' ? openCustom() : setRange(r)),
  }, t(`device.range.${r}` as MessageKey)))
  // The custom range: from/to in Da Nang time, filled with the range shown.
  const fromInput = h('input', { type: 'datetime-local', id: 'chart-from', 'data-testid': 'custom-from', class: 'time-input', step: 60 })
  const toInput = h('input', { type: 'datetime-local', id: 'chart-to', 'data-testid': 'custom-to', class: 'time-input', step: 60 })
  const customError = h('span', { class: 'form-error', role: 'alert', 'data-testid': 'custom-error', hidden: true })
  const customForm = h('form', { class: 'inline-form chart-range-form', 'data-testid': 'custom-range' },
    h('label', { for: 'chart-from' }, t('chart.custom.from')), fromInput,
    h('label', { for: 'chart-to' }, t('chart.custom.to')), toInput,
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'custom-apply' }, t('chart.custom.apply')), customError)
  customForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const parsed = parseCustomRange(fromInput.value, toInput.value)
    if (!parsed.ok) {
      customError.textContent = t(parsed.error)
      customError.hidden = false
      return
    }
    zoomTo(parsed.window)
  })
  const backButton = h('button', { type: 'button', class: 'btn', 'data-testid': 'chart-back', hidden: true, onclick: () => goBack() }, '‹ ', t('chart.back'))
  const resetButton = h('button', { type: 'button', class: 'btn', 'data-testid': 'chart-reset', hidden: true, onclick: () => setRange(preset) }, t('chart.reset'))
  // A download of the chosen range's readings (docs/exports.md): the times are taken at the click.
  const exportLink = h('a', {
    class: 'btn', 'data-testid': 'export-readings', download: '', href: '#', title: t('export.csv.device'),
    onclick: (e: Event) => {
      // Live downloads the hour its charts are seeded with.
      const w = range === 'live' ? presetWindow('1h', Date.now()) : currentWindow(Date.now())
      ;(e.currentTarget as HTMLAnchorElement).href = `/api/export/readings${qs({ device: id, from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString(), format: 'csv' })}`
    },
  }, t('export.csv'))
  const chartsGrid = h('div', { class: 'charts', 'data-testid': 'charts', 'data-range': range })
  // The combined chart's picker: this device's metrics, and optionally another device's same metrics.
  const combineMetrics = h('span', { class: 'combine-metrics' })
  const combineDevice = h('input', { type: 'text', id: 'combine-device', 'data-testid': 'combine-device', class: 'text-input', placeholder: t('chart.combine.devicePlaceholder'), size: 16 })
  const combineError = h('span', { class: 'form-error', role: 'alert', 'data-testid': 'combine-error', hidden: true })
  const combineClear = h('button', { type: 'button', class: 'btn', 'data-testid': 'combine-clear', hidden: true, onclick: () => clearCombined() }, t('chart.combine.clear'))
  const combineForm = h('form', { class: 'inline-form chart-combine', 'data-testid': 'combine' },
    h('span', { class: 'muted' }, t('chart.combine')), combineMetrics,
    h('label', { for: 'combine-device' }, t('chart.combine.device')), combineDevice,
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'combine-apply' }, t('chart.combine.apply')),
    combineClear,
    combineError)
  combineForm.addEventListener('submit', (event) => {
    event.preventDefault()
    void applyCombined()
  })
  const commandsBox = h('div', { class: 'commands' })
  const commandResults = h('div', { class: 'command-results' })
  const commandError = h('p', { class: 'form-error', role: 'alert', hidden: true })
  const alarmsBody = h('tbody')
  const rejectionsBox = h('div', { 'data-testid': 'device-rejections' })

  const commandsPanel = ctx.canOperate
    ? h('section', { class: 'panel p-commands', hidden: true },
      h('h2', { class: 'panel-title' }, t('device.commands')),
      commandsBox, commandError,
      h('h3', { class: 'panel-sub' }, t('device.cmd.results')), commandResults)
    : null

  replace(root,
    h('div', { class: 'page-head' },
      h('a', { href: '#/devices', class: 'back' }, '‹ ', t('device.back')), title, statusBox),
    errorBox,
    h('div', { class: 'device-layout' },
      h('div', { class: 'device-side' },
        h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { class: 'panel-title' }, t('device.metadata')), editButton), metaBox),
        h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('device.latest')), latestGrid),
        h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('device.rejections')), rejectionsBox),
        commandsPanel),
      h('div', { class: 'device-main' },
        h('section', { class: 'panel' },
          h('div', { class: 'panel-head' },
            h('h2', { class: 'panel-title' }, t('device.charts')),
            h('div', { class: 'segmented', role: 'group' }, ...rangeButtons), backButton, resetButton, exportLink),
          h('div', { class: 'chart-tools' }, customForm, h('span', { class: 'muted chart-hint' }, t('chart.zoomHint'))),
          combineForm,
          chartsGrid),
        h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, t('device.alarms')),
          h('table', { class: 'table compact' },
            h('thead', {}, h('tr', {}, h('th', {}, t('alarms.col.time')), h('th', {}, t('alarms.col.severity')), h('th', {}, t('alarms.col.state')), h('th', {}, t('alarms.col.rule')), h('th', {}, t('alarms.col.message')))),
            alarmsBody)))))

  function showError(error: unknown): void {
    if (disposed || (error instanceof DOMException && error.name === 'AbortError')) return
    errorBox.textContent = error instanceof ApiError && error.status === 404 ? t('device.notFound', { id }) : t('app.error.load', { message: errorMessage(error) })
    errorBox.hidden = false
  }

  // ---- metadata and latest values

  function showDetail(d: DeviceDetail): void {
    const dev = d.device
    replace(statusBox, statusBadge(dev.status))
    const rows: [string, string][] = [
      [t('devices.col.domain'), tOr(`domain.${dev.domain}`, dev.domain)],
      [t('devices.col.lastSeen'), `${lastSeenText(dev.lastSeen)} · ${formatDateTime(dev.lastSeen, lang)}`],
      [t('device.created'), formatDateTime(toTime(dev.createdAt), lang)],
    ]
    if (dev.power) {
      const p = dev.power
      rows.push([t('device.battery'), `${p.externalPower ? t('device.externalPower') : p.batteryPercent === null ? '–' : `${Math.round(p.batteryPercent)} %`} · ${formatDateTime(p.time, lang)}`])
      rows.push([t('device.margin'), `${p.marginDb} dB`])
    }
    shownMetadata = { ...(dev.metadata ?? {}) }
    for (const [k, v] of Object.entries(dev.metadata ?? {})) rows.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)])
    replace(meta, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))

    thresholds = d.thresholds ?? []
    for (const l of d.latest) {
      info.set(l.metric, { unit: l.unit ?? '', min: l.min ?? null, max: l.max ?? null })
      setLatest(l.metric, l.value, l.time)
      ensureChart(l.metric)
    }
    if (d.latest.length === 0 && charts.size === 0) replace(chartsGrid, h('p', { class: 'muted' }, t('device.noMetrics')))
    renderCombinePicker()
    commandSpecs = d.commands ?? []
    renderCommands()
  }

  function infoOf(metric: string): MetricInfo {
    return info.get(metric) ?? { unit: '', min: null, max: null }
  }

  function setLatest(metric: string, value: number, time: number): void {
    let el = latestEls.get(metric)
    if (!el) {
      el = h('span', { class: 'latest-value', 'data-testid': 'latest', 'data-metric': metric })
      latestEls.set(metric, el)
      latestGrid.append(h('div', { class: 'latest' }, h('span', { class: 'latest-name', title: metric }, metricLabel(metric, lang)), el, h('span', { class: 'latest-time muted' })))
    }
    const previous = Number(el.dataset['time'] ?? '0')
    if (time < previous) return // An older reading arriving late does not replace the newest.
    setAttr(el, 'data-time', time)
    setText(el, legendValue({ metric, unit: infoOf(metric).unit }, value, lang))
    el.title = formatDateTime(time, lang)
    const when = el.nextElementSibling
    if (when) setText(when, formatDateTime(time, lang))
  }

  // ---- charts

  function ensureChart(metric: string): MetricChart | undefined {
    let chart = charts.get(metric)
    if (chart) return chart
    if (charts.size >= MAX_CHARTS) return undefined
    if (charts.size === 0) chartsGrid.querySelector(':scope > p')?.remove()
    chart = new MetricChart({ metric, title: metricLabel(metric, lang), onSelect: zoomTo })
    charts.set(metric, chart)
    chartsGrid.append(chart.el)
    if (!rings.has(metric)) rings.set(metric, new RingBuffer(LIVE_POINTS, LIVE_WINDOW_MS))
    return chart
  }

  /** The window the charts show: the preset's ending `now`, or the custom one. */
  function currentWindow(now: number): TimeWindow {
    if (range === 'custom' && custom) return custom
    return presetWindow(range === 'custom' ? '1h' : range, now)
  }

  function thresholdsOf(metrics: readonly string[]): ChartThreshold[] {
    return thresholds.filter((th) => metrics.includes(th.metric))
  }

  async function fetchSeries(device: string, metric: string): Promise<Series> {
    const params = range === 'custom' && custom
      ? { metric, from: new Date(custom.from).toISOString(), to: new Date(custom.to).toISOString() }
      : { metric, range: range === 'live' ? '1h' : range }
    return api<Series>(`/api/devices/${encodeURIComponent(device)}/series${qs(params)}`)
  }

  function seriesOf(metric: string, m: MetricInfo, s: Series | undefined, label = metric): ChartSeries {
    const points = s?.points ?? []
    const out: ChartSeries = { metric, label, unit: m.unit, min: m.min, max: m.max, times: points.map((p) => p.t), values: points.map((p) => p.v) }
    if (s && s.resolution !== 'raw') {
      out.mins = points.map((p) => p.min ?? p.v)
      out.maxs = points.map((p) => p.max ?? p.v)
    }
    return out
  }

  function liveSeries(metric: string, label = metric): ChartSeries {
    const m = infoOf(metric)
    const { times, values } = rings.get(metric)?.toArrays() ?? { times: [], values: [] }
    return { metric, label, unit: m.unit, min: m.min, max: m.max, times, values }
  }

  /** Seeds a metric's live buffer with the last hour, keeping anything the stream already delivered. */
  async function seed(metric: string, gen: number): Promise<void> {
    const series = await fetchSeries(id, metric)
    if (disposed || gen !== generation) return
    const fresh = new RingBuffer(LIVE_POINTS, LIVE_WINDOW_MS)
    for (const p of series.points) if (p.v !== null) fresh.push(p.t, p.v)
    const old = rings.get(metric)
    if (old) {
      const { times, values } = old.toArrays()
      for (let i = 0; i < times.length; i++) fresh.push(times[i]!, values[i]!)
    }
    rings.set(metric, fresh)
    dirty.add(metric)
  }

  function drawLive(metric: string, now: number): void {
    const chart = charts.get(metric)
    if (!chart) return
    chart.show({ range: 'live', window: presetWindow('live', now), series: [liveSeries(metric)], resolution: { resolution: 'raw' }, thresholds: thresholdsOf([metric]) })
  }

  /** Another device's series on the combined chart in live mode: its last 10 minutes as loaded (not followed live). */
  let otherLive: ChartSeries[] = []

  function drawCombinedLive(now: number): void {
    if (!combined) return
    const series = [...combined.metrics.map((m) => liveSeries(m, combined!.other ? `${id}: ${m}` : m)), ...otherLive]
    combined.chart.show({ range: 'live', window: presetWindow('live', now), series, resolution: { resolution: 'raw' }, thresholds: thresholdsOf(combined.metrics) })
  }

  function scheduleDraw(): void {
    if (frame || range !== 'live') return
    frame = requestAnimationFrame(flush)
  }

  function flush(): void {
    frame = 0
    if (disposed || range !== 'live') return
    const now = performance.now()
    if (now - lastDraw < DRAW_INTERVAL_MS) {
      // Too soon: come back on a later frame so bursts of readings cost one draw.
      frame = requestAnimationFrame(flush)
      return
    }
    lastDraw = now
    const wall = Date.now()
    for (const metric of dirty) drawLive(metric, wall)
    if (combined && combined.metrics.some((m) => dirty.has(m))) drawCombinedLive(wall)
    dirty.clear()
  }

  // The live window moves with the clock even when a metric is quiet.
  const tick = setInterval(() => {
    if (range !== 'live') return
    for (const m of charts.keys()) dirty.add(m)
    scheduleDraw()
  }, 1_000)

  function showRangeState(): void {
    for (const [i, b] of rangeButtons.entries()) b.setAttribute('aria-pressed', String((i < PRESETS.length ? PRESETS[i] : 'custom') === range))
    chartsGrid.dataset['range'] = range
    backButton.hidden = history.length === 0
    resetButton.hidden = range !== 'custom'
    customError.hidden = true
    const w = currentWindow(Date.now())
    fromInput.value = toLocalInput(w.from)
    toInput.value = toLocalInput(w.to)
  }

  async function loadRange(): Promise<void> {
    const gen = ++generation
    const r = range
    showRangeState()
    if (r === 'live') {
      await Promise.all([...charts.keys()].map((m) => seed(m, gen).catch(showError)))
      if (disposed || gen !== generation) return
      const now = Date.now()
      for (const m of charts.keys()) drawLive(m, now)
      dirty.clear()
      if (combined) {
        otherLive = await loadOther(combined, gen)
        if (disposed || gen !== generation) return
        drawCombinedLive(Date.now())
      }
      return
    }
    const metrics = [...charts.keys()]
    const results = await Promise.all(metrics.map(async (m) => {
      try {
        return await fetchSeries(id, m)
      } catch (error) {
        showError(error)
        return undefined
      }
    }))
    if (disposed || gen !== generation) return
    const byMetric = new Map<string, Series>()
    metrics.forEach((m, i) => {
      const s = results[i]
      const chart = charts.get(m)
      if (!chart) return
      if (s) byMetric.set(m, s)
      const window = s ? { from: s.from, to: s.to } : currentWindow(Date.now())
      chart.show({ range: r, window, series: [seriesOf(m, infoOf(m), s)], resolution: s ? { resolution: s.resolution, stepMs: s.stepMs } : undefined, thresholds: thresholdsOf([m]) })
    })
    if (combined) await drawCombinedRange(combined, byMetric, gen)
  }

  /** The other device's series for the combined chart, for the window shown. */
  async function loadOther(c: NonNullable<typeof combined>, gen: number): Promise<ChartSeries[]> {
    if (!c.other) return []
    const other = c.other
    const list = await Promise.all(c.metrics.map(async (m) => {
      try {
        return seriesOf(m, other.info.get(m) ?? infoOf(m), await fetchSeries(other.id, m), `${other.id}: ${m}`)
      } catch (error) {
        if (gen === generation) showError(error)
        return seriesOf(m, other.info.get(m) ?? infoOf(m), undefined, `${other.id}: ${m}`)
      }
    }))
    // A rollup's band is drawn only for a single series; on the combined chart every series is its average line.
    return list.map(({ mins: _mins, maxs: _maxs, ...rest }) => rest)
  }

  async function drawCombinedRange(c: NonNullable<typeof combined>, own: Map<string, Series>, gen: number): Promise<void> {
    const others = await loadOther(c, gen)
    if (disposed || gen !== generation || combined !== c) return
    const mine = c.metrics.map((m) => {
      const { mins: _mins, maxs: _maxs, ...rest } = seriesOf(m, infoOf(m), own.get(m), c.other ? `${id}: ${m}` : m)
      return rest
    })
    const first = own.get(c.metrics[0] ?? '')
    const window = first ? { from: first.from, to: first.to } : currentWindow(Date.now())
    c.chart.show({ range, window, series: [...mine, ...others], resolution: first ? { resolution: first.resolution, stepMs: first.stepMs } : undefined, thresholds: thresholdsOf(c.metrics) })
  }

  function renderCombinePicker(): void {
    const chosen = new Set(combined?.metrics ?? [])
    replace(combineMetrics, ...[...info.keys()].sort().map((m) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: m, 'data-testid': 'combine-metric', 'data-metric': m, checked: chosen.has(m) }), ` ${m}`)))
  }

  async function applyCombined(): Promise<void> {
    combineError.hidden = true
    const metrics = Array.from(combineMetrics.querySelectorAll<HTMLInputElement>('input:checked')).map((i) => i.value).slice(0, MAX_COMBINED)
    const otherId = combineDevice.value.trim()
    if (metrics.length === 0 || (metrics.length === 1 && !otherId)) {
      combineError.textContent = t('chart.combine.pick')
      combineError.hidden = false
      return
    }
    let other: { id: string; info: Map<string, MetricInfo> } | undefined
    if (otherId && otherId !== id) {
      try {
        const d = await api<DeviceDetail>(`/api/devices/${encodeURIComponent(otherId)}`)
        other = { id: otherId, info: new Map(d.latest.map((l) => [l.metric, { unit: l.unit ?? '', min: l.min ?? null, max: l.max ?? null }])) }
      } catch (error) {
        combineError.textContent = error instanceof ApiError && error.status === 404 ? t('device.notFound', { id: otherId }) : errorMessage(error)
        combineError.hidden = false
        return
      }
    }
    if (disposed) return
    combined?.chart.destroy()
    combined?.chart.el.remove()
    const title = other ? `${metrics.join(', ')} · ${id}, ${other.id}` : metrics.join(', ')
    const chart = new MetricChart({ metric: metrics[0]!, title, onSelect: zoomTo })
    chart.el.classList.add('chart-wide')
    chart.el.dataset['combined'] = 'true'
    chartsGrid.prepend(chart.el)
    combined = { chart, metrics, other }
    combineClear.hidden = false
    await loadRange()
  }

  function clearCombined(): void {
    combined?.chart.destroy()
    combined?.chart.el.remove()
    combined = undefined
    combineClear.hidden = true
    otherLive = []
    combineError.hidden = true
    renderCombinePicker()
  }

  function setRange(r: Preset): void {
    range = r
    preset = r
    custom = undefined
    history.length = 0
    void loadRange()
  }

  function openCustom(): void {
    // The inputs hold the window shown; the custom range starts from it.
    fromInput.focus()
  }

  /** A zoom (a drag across a chart) or a custom range: every chart loads that window, at the resolution it gets. */
  function zoomTo(window: TimeWindow): void {
    history.push({ range, custom })
    range = 'custom'
    // A zoom within the live window freezes it: the charts then show stored readings of that window.
    custom = { from: Math.floor(window.from), to: Math.ceil(window.to) }
    void loadRange()
  }

  function goBack(): void {
    const previous = history.pop()
    if (!previous) return
    range = previous.range
    custom = previous.custom
    void loadRange()
  }

  // ---- commands

  function sendCommand(action: string, params: Record<string, unknown>): void {
    commandError.hidden = true
    api<{ command: CommandRecord }>(`/api/devices/${encodeURIComponent(id)}/commands`, { method: 'POST', body: { action, params } })
      .then(({ command }) => showCommand(command))
      .catch((error: unknown) => {
        commandError.textContent = t('device.cmd.failed', { message: errorMessage(error) })
        commandError.hidden = false
      })
  }

  function renderCommands(): void {
    if (!commandsPanel) return
    const actions = new Set(commandSpecs.map((c) => c.action))
    const parts: HTMLElement[] = []
    if (actions.has('switch')) {
      parts.push(h('div', { class: 'cmd-row' },
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'cmd-switch-on', onclick: () => sendCommand('switch', { on: true }) }, t('device.cmd.switchOn')),
        h('button', { type: 'button', class: 'btn', 'data-testid': 'cmd-switch-off', onclick: () => sendCommand('switch', { on: false }) }, t('device.cmd.switchOff'))))
    }
    if (actions.has('dim')) {
      const level = h('input', { type: 'number', min: 0, max: 100, step: 1, value: 100, 'data-testid': 'cmd-dim-level', id: 'cmd-dim-level', class: 'num-input' })
      parts.push(h('div', { class: 'cmd-row' },
        h('label', { for: 'cmd-dim-level' }, t('device.cmd.dimLevel')), level,
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'cmd-dim', onclick: () => {
          const v = Number(level.value)
          if (level.value.trim() === '' || !Number.isFinite(v) || v < 0 || v > 100) {
            commandError.textContent = t('device.cmd.invalidLevel')
            commandError.hidden = false
            return
          }
          sendCommand('dim', { level: v })
        } }, t('device.cmd.dim'))))
    }
    if (actions.has('pump')) {
      parts.push(h('div', { class: 'cmd-row' },
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'cmd-pump-start', onclick: () => sendCommand('pump', { running: true }) }, t('device.cmd.pumpStart')),
        h('button', { type: 'button', class: 'btn', 'data-testid': 'cmd-pump-stop', onclick: () => sendCommand('pump', { running: false }) }, t('device.cmd.pumpStop'))))
    }
    // Other catalogued commands without parameters (schedule): one button each.
    for (const spec of commandSpecs) {
      if (['switch', 'dim', 'pump'].includes(spec.action) || Object.keys(spec.params ?? {}).length > 0) continue
      parts.push(h('div', { class: 'cmd-row' },
        h('button', { type: 'button', class: 'btn', 'data-testid': `cmd-${spec.action}`, title: spec.description, onclick: () => sendCommand(spec.action, {}) }, t('device.cmd.send', { action: spec.action }))))
    }
    replace(commandsBox, ...parts)
    commandsPanel.hidden = parts.length === 0
  }

  const commands = new Map<string, CommandRecord>()
  function showCommand(c: CommandRecord): void {
    if (c.deviceId && c.deviceId !== id) return
    const known = commands.get(c.id)
    // A stale "pending" (POST answer after the SSE result) must not overwrite the result.
    if (known && known.status !== 'pending' && c.status === 'pending') return
    commands.set(c.id, { ...known, ...c })
    renderCommandResults()
  }

  function renderCommandResults(): void {
    const list = [...commands.values()].sort((a, b) => b.sentAt - a.sentAt).slice(0, 20)
    if (list.length === 0) {
      replace(commandResults, h('p', { class: 'muted' }, t('device.cmd.none')))
      return
    }
    keyed(commandResults, list, (c) => c.id,
      () => h('div', { class: 'command-result', 'data-testid': 'command-result' },
        h('span', { class: 'cmd-what mono' }), h('span', { class: 'badge' }), h('span', { class: 'cmd-detail muted' })),
      (el, c) => {
        setAttr(el, 'data-command-id', c.id)
        setAttr(el, 'data-status', c.status)
        const [what, badge, detail] = Array.from(el.children) as HTMLElement[]
        setText(what!, `${c.action} ${JSON.stringify(c.params ?? {})}`)
        badge!.className = `badge cmd-${c.status}`
        setText(badge!, tOr(`command.${c.status}`, c.status))
        setText(detail!, [c.detail, c.user, formatDateTime(c.repliedAt ?? c.sentAt, lang)].filter(Boolean).join(' · '))
      })
  }

  async function loadCommands(): Promise<void> {
    if (!commandsPanel) return
    const { commands: list } = await api<{ commands: CommandRecord[] }>(`/api/commands${qs({ deviceId: id, limit: 10 })}`)
    if (disposed) return
    for (const c of list) showCommand(c)
    renderCommandResults()
  }

  // ---- alarm history

  async function loadAlarms(): Promise<void> {
    const { history } = await api<{ history: AlarmChange[] }>(`/api/devices/${encodeURIComponent(id)}/alarms${qs({ limit: 50 })}`)
    if (disposed) return
    if (history.length === 0) {
      replace(alarmsBody, h('tr', {}, h('td', { colspan: 5, class: 'muted empty' }, t('device.alarms.none'))))
      return
    }
    replace(alarmsBody, ...history.map((a) => h('tr', { 'data-testid': 'device-alarm-row', 'data-state': changeOf(a) },
      h('td', {}, formatDateTime(a.time, lang)),
      h('td', {}, severityBadge(a.severity)),
      h('td', {}, tOr(`alarmState.${changeOf(a)}`, changeOf(a)), a.actor ?? a.acknowledgedBy ? ` (${a.actor ?? a.acknowledgedBy})` : ''),
      h('td', { class: 'mono' }, a.ruleId),
      h('td', {}, a.message, a.comment ? h('div', { class: 'muted' }, `“${a.comment}”`) : null))))
  }

  // ---- live

  function onEvent(event: LiveEvent): void {
    if (event.kind === 'reading') {
      const metric = event['metric'] as string
      const value = event['value'] as number
      const time = event['time'] as number
      if (event['deviceId'] !== id || typeof metric !== 'string' || typeof value !== 'number') return
      setLatest(metric, value, time)
      ensureChart(metric)
      if (combined?.metrics.includes(metric)) dirty.add(metric)
      const ring = rings.get(metric)
      if (ring && ring.push(time, value)) {
        dirty.add(metric)
        scheduleDraw()
      }
    } else if (event.kind === 'command') {
      const c = (event['command'] as CommandRecord | undefined) ?? (event as unknown as CommandRecord)
      if (typeof c.id === 'string') showCommand(c)
    }
  }

  // ---- refusals: how many in 24 h, by reason, and the latest reasons

  async function loadRejections(): Promise<void> {
    const r = await api<RejectionSummary>(`/api/devices/${encodeURIComponent(id)}/rejections${qs({ since: '24h', latest: 3 })}`)
    if (disposed) return
    if (r.total === 0) {
      replace(rejectionsBox, h('p', { class: 'muted', 'data-testid': 'device-rejections-total', 'data-count': '0' }, t('device.rejections.none')))
      return
    }
    replace(rejectionsBox,
      h('p', { 'data-testid': 'device-rejections-total', 'data-count': String(r.total) }, h('strong', {}, t('device.rejections.total', { count: r.total }))),
      h('ul', { class: 'rejections-list' }, ...r.byReason.map((b) => h('li', { 'data-testid': 'device-rejection-reason', 'data-reason': b.reason }, h('span', { class: 'mono' }, b.reason), `× ${b.count}`))),
      h('ul', { class: 'rejections-list muted' }, ...r.latest.map((e) => h('li', { 'data-testid': 'device-rejection-latest' },
        h('span', { class: 'nowrap' }, formatDateTime(e.receivedAt, lang)), ' · ', h('span', { class: 'mono' }, e.reason), ': ', e.detail))),
      ctx.canOperate ? h('a', { href: `#/rejected${qs({ device: id })}`, 'data-testid': 'device-rejections-all' }, t('device.rejections.all')) : null)
  }

  async function loadAll(): Promise<void> {
    errorBox.hidden = true
    try {
      const detail = await api<DeviceDetail>(`/api/devices/${encodeURIComponent(id)}`)
      if (disposed) return
      showDetail(detail)
    } catch (error) {
      showError(error)
      return
    }
    await Promise.all([loadRange(), loadCommands().catch(showError), loadAlarms().catch(showError), loadRejections().catch(showError)])
  }

  ctx.live.connect(`kinds=reading,command&devices=${encodeURIComponent(id)}&rate=10`, { onEvent, onReopen: () => void loadAll() })
  void loadAll()

  return {
    unmount: () => {
      disposed = true
      if (frame) cancelAnimationFrame(frame)
      clearInterval(tick)
      for (const chart of charts.values()) chart.destroy()
      combined?.chart.destroy()
      editor?.unmount()
    },
  }
}

/** A severity with its colour swatch; the colour through the CSSOM (the console's CSP forbids style attributes). */
function severityBadge(severity: string): HTMLElement {
  const el = h('span', { class: 'sev' }, tOr(`severity.${severity}`, severity))
  el.style.setProperty('--sev', SEVERITY_COLORS[severity as Severity] ?? '#90a4ae')
  return el
}

import { api, errorMessage, qs } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { h, keyed, replace, setAttr, setText } from '../dom.ts'
import {
  AQI_COLORS, aqiLevel, clampPercent, floodColor, formatNumber, formatTime, losColor, SEVERITIES, SEVERITY_COLORS, STATUS_COLORS, textOn,
} from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import type { LiveEvent } from '../live.ts'
import { NO_FILTER } from '../map-model.ts'
import { routeHash } from '../route.ts'
import { createCityMap } from './map.ts'

interface Counts { registered: number; online: number; stale: number; offline: number }
export interface Overview {
  generatedAt: number
  devices: Counts & { byDomain?: Record<string, Counts> }
  alarms: { active: Record<string, number>; unacknowledged: number }
  environment?: { districts: { district: string; vnAqi: number | null; level: string | null; source?: 'hourly' | 'pm25_now' | null; pm25: number | null; sensors: number; time: number | null }[] }
  traffic?: { segments: { segment: string; los: string | null; speedKmh: number | null; flow: number | null; time: number | null }[] }
  water?: {
    pressureBar: { min: number | null; avg: number | null; sensors: number }
    areas: { area: string; pressureBar: number | null; flow: number | null; time: number | null }[]
    tanks: { deviceId: string; levelM: number | null; fillPercent: number | null; time: number | null }[]
  }
  lighting?: { lamps: number; on: number; failed: number; energyTonightKwh: number | null; circuits: { circuit: string; lamps: number; on: number; failed: number; energyTonightKwh: number | null }[] }
  flood?: { gauges: { deviceId: string; gauge: string; levelM: number | null; alert: number; time: number | null }[] }
}

function panel(title: string, cls: string, ...body: (Node | null)[]): HTMLElement {
  return h('section', { class: `panel ${cls}` }, h('h2', { class: 'panel-title' }, title), ...body)
}

function stat(testid: string, label: string, color?: string): { el: HTMLElement; value: HTMLElement } {
  const value = h('span', { class: 'stat-value', 'data-testid': testid, style: color ? `color:${color}` : null }, '–')
  return { el: h('div', { class: 'stat' }, value, h('span', { class: 'stat-label' }, label)), value }
}

export function mountOverview(root: HTMLElement, ctx: PageContext): Page {
  const lang = getLang()
  const generated = h('span', { class: 'muted', 'data-testid': 'overview-generated-at' })
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true })

  // Devices
  const online = stat('overview-devices-online', t('status.online'), STATUS_COLORS['online'])
  const stale = stat('overview-devices-stale', t('status.stale'), STATUS_COLORS['stale'])
  const offline = stat('overview-devices-offline', t('status.offline'), STATUS_COLORS['offline'])
  const registered = h('p', { class: 'muted' })
  const byDomain = h('tbody')
  const devicesPanel = panel(t('overview.devices'), 'p-devices',
    h('div', { class: 'stats' }, online.el, stale.el, offline.el), registered,
    h('table', { class: 'table compact' }, byDomain))

  // Alarms
  const severityStats = SEVERITIES.map((s) => stat(`overview-alarms-${s}`, t(`severity.${s}`), SEVERITY_COLORS[s]))
  const unacked = h('p', { class: 'muted' })
  const alarmsPanel = panel(t('overview.alarms'), 'p-alarms',
    h('a', { href: '#/alarms', class: 'stats stats-link' }, ...severityStats.map((s) => s.el)), unacked)

  // Air quality
  const districts = h('div', { class: 'tiles' })
  const airPanel = panel(t('overview.air'), 'p-air', districts)

  // Traffic
  const segments = h('div', { class: 'rows' })
  const trafficPanel = panel(t('overview.traffic'), 'p-traffic', segments)

  // Water
  const pAvg = stat('water-pressure-avg', t('overview.water.pressureAvg'))
  const pMin = stat('water-pressure-min', t('overview.water.pressureMin'))
  const pSensors = h('p', { class: 'muted' })
  const areas = h('tbody')
  const tanks = h('div', { class: 'tanks' })
  const waterPanel = panel(t('overview.water'), 'p-water',
    h('div', { class: 'stats' }, pAvg.el, pMin.el), pSensors,
    h('table', { class: 'table compact' },
      h('thead', {}, h('tr', {}, h('th', {}, t('overview.water.area')), h('th', { class: 'num' }, t('overview.water.pressure')), h('th', { class: 'num' }, t('overview.water.flow')))),
      areas),
    h('h3', { class: 'panel-sub' }, t('overview.water.tanks')), tanks)

  // Lighting
  const lOn = stat('lights-on', t('overview.lighting.on'), '#ffd600')
  const lFailed = stat('lights-failed', t('overview.lighting.failed'), '#ff5252')
  const lEnergy = stat('lights-energy', t('overview.lighting.energy'))
  const lamps = h('p', { class: 'muted' })
  const circuits = h('tbody')
  const lightingPanel = panel(t('overview.lighting'), 'p-lighting',
    h('div', { class: 'stats' }, lOn.el, lFailed.el, lEnergy.el), lamps,
    h('table', { class: 'table compact' },
      h('thead', {}, h('tr', {}, h('th', {}, t('overview.lighting.circuit')), h('th', { class: 'num' }, t('overview.lighting.on')), h('th', { class: 'num' }, t('overview.lighting.failed')), h('th', { class: 'num' }, 'kWh'))),
      circuits))

  // Flood
  const gauges = h('div', { class: 'tiles' })
  const floodPanel = panel(t('overview.flood'), 'p-flood', gauges)

  // The city on a map first (docs/dashboards.md#map); the full page is #/map.
  const mapBody = h('div')
  const mapPanel = h('section', { class: 'panel p-map' },
    h('h2', { class: 'panel-title' }, t('map.title'), h('a', { href: '#/map', class: 'panel-link', 'data-testid': 'overview-open-map' }, t('map.open'), ' →')),
    mapBody)

  replace(root,
    h('div', { class: 'page-head' }, h('h1', {}, t('overview.title')), generated),
    errorBox,
    h('div', { class: 'grid' }, mapPanel, devicesPanel, alarmsPanel, airPanel, trafficPanel, waterPanel, lightingPanel, floodPanel))

  const num = (v: number | null | undefined, digits = 0) => formatNumber(v, digits, lang)

  function show(o: Overview): void {
    errorBox.hidden = true
    setAttr(generated, 'data-time', o.generatedAt)
    setText(generated, t('overview.generatedAt', { time: formatTime(o.generatedAt, lang) }))

    setText(online.value, String(o.devices.online))
    setText(stale.value, String(o.devices.stale))
    setText(offline.value, String(o.devices.offline))
    setText(registered, `${num(o.devices.registered)} ${t('overview.registered')}`)
    keyed(byDomain, Object.entries(o.devices.byDomain ?? {}), ([d]) => d,
      () => h('tr', {}, h('td'), h('td', { class: 'num ok' }), h('td', { class: 'num warn' }), h('td', { class: 'num bad' })),
      (row, [d, c]) => {
        const cells = row.children
        setText(cells[0]!, tOr(`domain.${d}`, d))
        setText(cells[1]!, num(c.online))
        setText(cells[2]!, num(c.stale))
        setText(cells[3]!, num(c.offline))
      })

    for (const [i, s] of SEVERITIES.entries()) setText(severityStats[i]!.value, String(o.alarms.active[s] ?? 0))
    setText(unacked, t('overview.unacknowledged', { count: o.alarms.unacknowledged ?? 0 }))

    const ds = o.environment?.districts ?? []
    if (ds.length === 0) replace(districts, h('p', { class: 'muted' }, t('app.noData')))
    else {
      keyed(districts, ds, (d) => d.district,
        () => h('div', { class: 'tile aqi', 'data-testid': 'aqi-district' }, h('div', { class: 'tile-name' }), h('div', { class: 'tile-value' }), h('div', { class: 'tile-label' }), h('div', { class: 'tile-foot muted' }),
          h('a', { class: 'tile-link', 'data-testid': 'aqi-history' }, t('indicators.history'), ' →'),
          h('a', { class: 'tile-link', 'data-testid': 'aqi-report', target: '_blank', rel: 'noopener' }, t('report.yesterday'), ' ↗')),
        (el, d) => {
          const level = aqiLevel(d.level, d.vnAqi)
          setAttr(el, 'data-district', d.district)
          setAttr(el, 'data-level', level ?? 'none')
          // Before a district's first closed hour: the PM2.5 sub-index of the latest readings, not an hourly VN_AQI (docs/dashboards.md).
          const provisional = d.source === 'pm25_now'
          setAttr(el, 'data-source', d.source ?? 'none')
          setAttr(el, 'title', provisional ? t('aqi.provisional.hint') : null)
          const bg = level ? AQI_COLORS[level] : '#37474f'
          el.style.setProperty('--band', bg)
          el.style.setProperty('--band-text', textOn(bg))
          const [name, value, label, foot, history, report] = Array.from(el.children)
          // Yesterday's printable daily report (docs/exports.md#air-quality-report): the last whole local day (UTC+7).
          setAttr(report!, 'href', `/api/reports/air-quality${qs({ district: d.district, date: new Date(Date.now() + 7 * 3_600_000 - 86_400_000).toISOString().slice(0, 10) })}`)
          // The district's daily VN_AQI over 30 days (docs/dashboards.md#indicator-history).
          setAttr(history!, 'href', routeHash({ name: 'indicators', query: { name: 'vn_aqi_daily', scope: 'district', key: d.district, range: '30d' } }))
          setText(name!, d.district)
          setText(value!, d.vnAqi === null || d.vnAqi === undefined ? '–' : String(Math.round(d.vnAqi)))
          setText(label!, level ? (provisional ? `${t(`aqi.${level}`)} · ${t('aqi.provisional')}` : t(`aqi.${level}`)) : t('aqi.pending'))
          setText(foot!, `PM2.5 ${num(d.pm25, 1)} µg/m³ · ${t('overview.air.sensors', { count: d.sensors })}`)
        })
    }

    const segs = o.traffic?.segments ?? []
    if (segs.length === 0) replace(segments, h('p', { class: 'muted' }, t('app.noData')))
    else {
      keyed(segments, segs, (s) => s.segment,
        () => h('div', { class: 'row-item', 'data-testid': 'traffic-segment' }, h('span', { class: 'los' }), h('span', { class: 'row-name' }), h('span', { class: 'row-meta muted' })),
        (el, s) => {
          setAttr(el, 'data-segment', s.segment)
          setAttr(el, 'data-los', s.los ?? 'none')
          const [badge, name, meta] = Array.from(el.children) as HTMLElement[]
          const color = losColor(s.los)
          badge!.style.background = color
          badge!.style.color = textOn(color)
          setText(badge!, s.los ?? '–')
          setText(name!, s.segment)
          setText(meta!, `${t('overview.traffic.speed', { speed: num(s.speedKmh, 0) })} · ${t('overview.traffic.flow', { flow: num(s.flow, 0) })}`)
        })
    }

    const w = o.water
    setText(pAvg.value, w?.pressureBar.avg === null || w?.pressureBar.avg === undefined ? '–' : `${num(w.pressureBar.avg, 2)} bar`)
    setText(pMin.value, w?.pressureBar.min === null || w?.pressureBar.min === undefined ? '–' : `${num(w.pressureBar.min, 2)} bar`)
    setText(pSensors, t('overview.water.sensors', { count: w?.pressureBar.sensors ?? 0 }))
    keyed(areas, w?.areas ?? [], (a) => a.area,
      () => h('tr', {}, h('td'), h('td', { class: 'num' }), h('td', { class: 'num' })),
      (row, a) => {
        setText(row.children[0]!, a.area)
        setText(row.children[1]!, `${num(a.pressureBar, 2)} bar`)
        setText(row.children[2]!, `${num(a.flow, 1)} m³/h`)
      })
    const tankList = w?.tanks ?? []
    if (tankList.length === 0) replace(tanks, h('p', { class: 'muted' }, t('app.noData')))
    else {
      keyed(tanks, tankList, (k) => k.deviceId,
        () => h('a', { class: 'tank', 'data-testid': 'tank' }, h('span', { class: 'tank-name' }), h('span', { class: 'tank-bar' }, h('span', { class: 'tank-fill' })), h('span', { class: 'tank-value' })),
        (el, k) => {
          setAttr(el, 'data-device-id', k.deviceId)
          setAttr(el, 'href', `#/devices/${encodeURIComponent(k.deviceId)}`)
          const [name, bar, value] = Array.from(el.children) as HTMLElement[]
          setText(name!, k.deviceId)
          const pct = clampPercent(k.fillPercent)
          const fill = bar!.firstElementChild as HTMLElement
          fill.style.width = `${pct}%`
          fill.classList.toggle('low', pct < 20)
          setAttr(bar!, 'data-fill', Math.round(pct))
          setText(value!, `${num(k.fillPercent, 0)}% · ${num(k.levelM, 2)} m`)
        })
    }

    const l = o.lighting
    setText(lOn.value, l ? String(l.on) : '–')
    setText(lFailed.value, l ? String(l.failed) : '–')
    setText(lEnergy.value, l?.energyTonightKwh === null || l?.energyTonightKwh === undefined ? '–' : `${num(l.energyTonightKwh, 1)} kWh`)
    setText(lamps, t('overview.lighting.lamps', { count: l?.lamps ?? 0 }))
    keyed(circuits, l?.circuits ?? [], (c) => c.circuit,
      () => h('tr', {}, h('td'), h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'num' })),
      (row, c) => {
        setText(row.children[0]!, c.circuit)
        setText(row.children[1]!, `${c.on}/${c.lamps}`)
        setText(row.children[2]!, String(c.failed))
        row.children[2]!.classList.toggle('bad', c.failed > 0)
        setText(row.children[3]!, num(c.energyTonightKwh, 1))
      })

    const gs = o.flood?.gauges ?? []
    if (gs.length === 0) replace(gauges, h('p', { class: 'muted' }, t('app.noData')))
    else {
      keyed(gauges, gs, (g) => g.deviceId,
        () => h('a', { class: 'tile flood', 'data-testid': 'flood-gauge' }, h('div', { class: 'tile-name' }), h('div', { class: 'tile-value' }), h('div', { class: 'tile-label' }), h('div', { class: 'tile-foot muted' })),
        (el, g) => {
          setAttr(el, 'data-device-id', g.deviceId)
          setAttr(el, 'data-alert', g.alert)
          setAttr(el, 'href', `#/devices/${encodeURIComponent(g.deviceId)}`)
          const color = floodColor(g.alert)
          el.style.setProperty('--band', color)
          el.style.setProperty('--band-text', textOn(color))
          const [name, value, label, foot] = Array.from(el.children)
          setText(name!, g.deviceId)
          el.title = g.deviceId
          setText(foot!, tOr(`overview.flood.${g.gauge}`, g.gauge))
          setText(value!, `${num(g.levelM, 2)} m`)
          setText(label!, g.alert > 0 ? t('overview.flood.alert', { level: ['', 'I', 'II', 'III'][Math.min(3, g.alert)] ?? String(g.alert) }) : t('overview.flood.normal'))
        })
    }
  }

  let disposed = false
  let controller: AbortController | undefined
  async function load(): Promise<void> {
    controller?.abort()
    controller = new AbortController()
    try {
      const o = await api<Overview>('/api/overview', { signal: controller.signal })
      if (!disposed) show(o)
    } catch (error) {
      if (disposed || (error instanceof DOMException && error.name === 'AbortError')) return
      errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
      errorBox.hidden = false
    }
  }

  // At most one overview a second arrives; draw the newest in the next frame.
  let pending: Overview | undefined
  let frame = 0
  function onEvent(event: LiveEvent): void {
    if (event.kind === 'map') return cityMap.onEvent(event)
    if (event.kind !== 'overview') return
    const o = (event['overview'] as Overview | undefined) ?? (event as unknown as Overview)
    if (!o.devices) return
    pending = o
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0
      if (pending && !disposed) show(pending)
      pending = undefined
    })
  }

  const cityMap = createCityMap(mapBody, { filter: NO_FILTER, compact: true })
  void load()
  ctx.live.connect('kinds=overview,alarm,map', { onEvent, onReopen: () => { void load(); cityMap.reload() } })
  return {
    unmount: () => {
      cityMap.unmount()
      disposed = true
      controller?.abort()
      if (frame) cancelAnimationFrame(frame)
    },
  }
}

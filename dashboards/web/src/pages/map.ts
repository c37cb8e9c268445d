/**
 * The city on a map (docs/dashboards.md#map): every placed device as a marker
 * coloured by its state or worst alarm and shaped by its domain, clustered at low
 * zoom, filtered by domain, district and state; unacknowledged alarms pulse; live
 * from the stream's `map` events. Drawn by MapLibre GL (WebGL), loaded from
 * vendor/maplibre/ when a map first opens, over the configured GIS base map or
 * the shipped land and a graticule.
 */
import type * as MapLibre from 'maplibre-gl'
import { api, errorMessage } from '../api.ts'
import type { Page, PageContext } from '../context.ts'
import { h, replace, setAttr, setText } from '../dom.ts'
import { SEVERITIES, formatNumber } from '../format.ts'
import { getLang, t, tOr } from '../i18n.ts'
import type { LiveEvent } from '../live.ts'
import {
  CLUSTER_COLOR, CLUSTER_PROPERTIES, COLOR_KEYS, type ColorKey, DOMAIN_SHAPES, districtLabels, MAP_STATES, MARKER_COLORS, type MapDelta, MapDevices, type MapFilter, type MapSnapshot, SHAPES,
  filterFromQuery, graticule, matches, colorKey, shapeOf,
} from '../map-model.ts'
import { routeHash } from '../route.ts'
import '../map.css'

type MapLibreModule = typeof MapLibre

/** The area of the shipped land (BASEMAP_BOUNDS in build-lib.mjs). */
const BASEMAP_BOUNDS = [107.2, 15.3, 109.2, 16.8] as const
const asset = (path: string) => new URL(path, document.baseURI).href

let loading: Promise<MapLibreModule> | undefined
/** MapLibre and its stylesheet, once per page load. */
function loadMapLibre(): Promise<MapLibreModule> {
  loading ??= (async () => {
    const css = document.createElement('link')
    css.rel = 'stylesheet'
    css.href = asset('vendor/maplibre/maplibre-gl.css')
    document.head.append(css)
    // Not bundled: the module and its worker are served beside the app (build-lib.mjs).
    const url = asset('vendor/maplibre/maplibre-gl.mjs')
    return await import(url) as MapLibreModule
  })()
  loading.catch(() => { loading = undefined })
  return loading
}

/** A marker image: the domain's shape in the colour, outlined so it reads on land, sea and tiles. */
function markerImage(shape: (typeof SHAPES)[number], color: string): ImageData {
  const size = 32
  const canvas = document.createElement('canvas')
  canvas.width = size
  canvas.height = size
  const g = canvas.getContext('2d')!
  const c = size / 2
  const r = size * 0.36
  g.beginPath()
  switch (shape) {
    case 'circle':
      g.arc(c, c, r, 0, Math.PI * 2)
      break
    case 'square':
      g.rect(c - r * 0.85, c - r * 0.85, r * 1.7, r * 1.7)
      break
    case 'diamond':
      g.moveTo(c, c - r * 1.15); g.lineTo(c + r * 1.05, c); g.lineTo(c, c + r * 1.15); g.lineTo(c - r * 1.05, c); g.closePath()
      break
    case 'triangle':
      g.moveTo(c, c - r * 1.1); g.lineTo(c + r * 1.1, c + r * 0.85); g.lineTo(c - r * 1.1, c + r * 0.85); g.closePath()
      break
    case 'star':
      for (let i = 0; i < 10; i++) {
        const a = -Math.PI / 2 + (i * Math.PI) / 5
        const rr = i % 2 === 0 ? r * 1.2 : r * 0.55
        if (i === 0) g.moveTo(c + rr * Math.cos(a), c + rr * Math.sin(a))
        else g.lineTo(c + rr * Math.cos(a), c + rr * Math.sin(a))
      }
      g.closePath()
      break
  }
  g.fillStyle = color
  g.fill()
  g.lineWidth = 2.5
  g.strokeStyle = 'rgba(8, 14, 22, 0.9)'
  g.stroke()
  return g.getImageData(0, 0, size, size)
}

function baseStyle(s: MapSnapshot): MapLibre.StyleSpecification | string {
  const base = s.base
  if (base.kind === 'style') return base.url
  const attribution = base.attribution || undefined
  if (base.kind === 'raster') {
    return {
      version: 8,
      sources: { base: { type: 'raster', tiles: base.tiles, tileSize: base.tileSizePx, ...(attribution ? { attribution } : {}) } },
      layers: [{ id: 'base', type: 'raster', source: 'base' }],
    }
  }
  // Offline: the sea, Natural Earth's land shipped in the app, and a graticule (0.1°, and 0.02° closer in).
  return {
    version: 8,
    sources: {
      land: { type: 'geojson', data: asset('basemap/land.json'), attribution: attribution ?? 'Natural Earth' },
      graticule: { type: 'geojson', data: graticule(BASEMAP_BOUNDS, 0.1) },
      graticuleFine: { type: 'geojson', data: graticule(BASEMAP_BOUNDS, 0.02) },
    },
    layers: [
      { id: 'sea', type: 'background', paint: { 'background-color': '#0a1826' } },
      { id: 'land', type: 'fill', source: 'land', paint: { 'fill-color': '#17222d' } },
      { id: 'coast', type: 'line', source: 'land', paint: { 'line-color': '#3d5a78', 'line-width': 1.2 } },
      { id: 'graticule-fine', type: 'line', source: 'graticuleFine', minzoom: 11, paint: { 'line-color': '#22384f', 'line-width': 0.5 } },
      { id: 'graticule', type: 'line', source: 'graticule', paint: { 'line-color': '#2c4a66', 'line-width': 0.8, 'line-dasharray': [3, 2] } },
    ],
  }
}

export interface CityMap {
  /** A live event (only `map` ones are used). */
  onEvent(event: LiveEvent): void
  /** Fetch the snapshot again (the stream reopened). */
  reload(): void
  unmount(): void
}

interface CityMapOptions {
  filter: MapFilter
  /** The page keeps the filter in its hash; the overview's map does not. */
  onFilter?: (filter: MapFilter) => void
  compact?: boolean
  /**
   * Picking a place (the device page's location editor): a click anywhere on the
   * map calls this with its longitude and latitude and moves the pick's marker
   * there, instead of opening the device under it. `picked` is where it starts.
   */
  pick?: { onPick(lon: number, lat: number): void; picked?: [number, number] }
}

/** Hooks for browser tests and benchmarks: where a device is, what it shows. */
interface MapTestHooks {
  marker(id: string): { color: ColorKey; state: string; alarm: string | null; unacked: boolean; shown: boolean } | null
  /** The icon MapLibre drew for the device, or null when it is not drawn unclustered in view. */
  rendered(id: string): string | null
  /** The device's pixel in the viewport. */
  project(id: string): [number, number] | null
  jumpTo(id: string, zoom: number): void
  jumpToView(center: [number, number], zoom: number): void
  map: MapLibre.Map | undefined
}

declare global {
  interface Window {
    __gridlineMap?: MapTestHooks
    /** Frames drawn by the map in the last whole second (benchmarks read it while panning). */
    __mapFps?: number
    /** Frames drawn by the map since it opened. */
    __mapFrames?: number
  }
}

/** The map component, shared by the map page and the overview. */
export function createCityMap(root: HTMLElement, options: CityMapOptions): CityMap {
  const lang = getLang()
  const devices = new MapDevices()
  let filter = { ...options.filter }
  let disposed = false

  const select = (testid: string, label: string) => {
    const el = h('select', { 'data-testid': testid, 'aria-label': label })
    return { el, wrap: h('label', { class: 'map-filter' }, h('span', {}, label), el) }
  }
  const domainSel = select('map-filter-domain', t('map.filter.domain'))
  const districtSel = select('map-filter-district', t('map.filter.district'))
  const stateSel = select('map-filter-state', t('map.filter.state'))
  const summary = h('span', { class: 'map-summary muted', 'data-testid': 'map-summary' })
  const unplaced = h('p', { class: 'muted map-unplaced', 'data-testid': 'map-unplaced', hidden: true })
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-testid': 'map-error' })
  const canvasBox = h('div', { class: 'map-canvas' })
  const mapEl = h('div', {
    class: `city-map${options.compact ? ' compact' : ''}`, 'data-testid': 'city-map', 'data-ready': 'false',
  }, canvasBox, h('p', { class: 'map-loading muted' }, t('map.loading')))
  const legend = h('div', { class: 'map-legend', 'data-testid': 'map-legend' },
    ...(['online', 'stale', 'offline'] as const).map((s) => h('span', { class: 'legend-item' }, h('span', { class: 'legend-dot', 'data-color': s }), t(`status.${s}`))),
    ...SEVERITIES.slice(0, 3).map((s) => h('span', { class: 'legend-item' }, h('span', { class: 'legend-dot', 'data-color': s }), t(`severity.${s}`))),
    h('span', { class: 'legend-sep' }),
    ...Object.entries(DOMAIN_SHAPES).map(([d, shape]) => h('span', { class: 'legend-item' }, h('span', { class: `legend-shape shape-${shape}` }), tOr(`domain.${d}`, d))),
  )
  replace(root,
    h('div', { class: 'map-toolbar' }, domainSel.wrap, districtSel.wrap, stateSel.wrap, summary),
    errorBox, mapEl, h('div', { class: 'map-foot' }, legend, unplaced))

  function fillChoices(): void {
    const { domains, districts } = devices.choices()
    const fill = (sel: HTMLSelectElement, values: { value: string; label: string }[], current: string) => {
      const all = [{ value: '', label: t('map.filter.all') }, ...values]
      if (current && !values.some((v) => v.value === current)) all.push({ value: current, label: current })
      const signature = all.map((v) => v.value).join('\u0000')
      if (sel.dataset['choices'] !== signature) {
        replace(sel, ...all.map((v) => h('option', { value: v.value }, v.label)))
        sel.dataset['choices'] = signature
      }
      sel.value = current
    }
    fill(domainSel.el, domains.map((d) => ({ value: d, label: tOr(`domain.${d}`, d) })), filter.domain)
    fill(districtSel.el, districts.map((d) => ({ value: d, label: d })), filter.district)
    fill(stateSel.el, [...MAP_STATES.map((s) => ({ value: s, label: t(`status.${s}`) })), { value: 'alarm', label: t('map.state.alarm') }], filter.state)
  }
  const onFilterChange = () => {
    filter = filterFromQuery({ domain: domainSel.el.value, district: districtSel.el.value, state: stateSel.el.value })
    options.onFilter?.(filter)
    draw(true)
  }
  for (const sel of [domainSel.el, districtSel.el, stateSel.el]) sel.addEventListener('change', onFilterChange)

  // ---- the map
  let ml: MapLibreModule | undefined
  let map: MapLibre.Map | undefined
  let styleReady = false
  let fitted = false
  const clusterMarkers = new Map<number, MapLibre.Marker>()
  const districtMarkers = new Map<string, MapLibre.Marker>()
  let offlineBase = false

  /** District names where their devices are, on the offline base only (a GIS base names its own places). */
  function updateDistrictLabels(): void {
    if (!map || !ml || !offlineBase) return
    const labels = districtLabels(devices.byId.values())
    const keep = new Set(labels.map((l) => l.district))
    for (const [name, marker] of districtMarkers) if (!keep.has(name)) { marker.remove(); districtMarkers.delete(name) }
    for (const l of labels) {
      let marker = districtMarkers.get(l.district)
      if (!marker) {
        marker = new ml.Marker({ element: h('div', { class: 'district-label', 'data-testid': 'map-district' }, l.district) }).setLngLat([l.lon, l.lat]).addTo(map)
        districtMarkers.set(l.district, marker)
      } else marker.setLngLat([l.lon, l.lat])
    }
  }
  let popup: MapLibre.Popup | undefined

  function showCounts(): void {
    const c = devices.counts(filter)
    const total = devices.byId.size
    setAttr(mapEl, 'data-version', devices.version)
    setAttr(mapEl, 'data-devices', total)
    setAttr(mapEl, 'data-shown', c.shown)
    setAttr(mapEl, 'data-online', c.online)
    setAttr(mapEl, 'data-stale', c.stale)
    setAttr(mapEl, 'data-offline', c.offline)
    setAttr(mapEl, 'data-alarms', c.alarms)
    setAttr(mapEl, 'data-unacked', c.unacked)
    setAttr(mapEl, 'data-filter', `${filter.domain}|${filter.district}|${filter.state}`)
    const n = (v: number) => formatNumber(v, 0, lang)
    setText(summary, `${t('map.summary', { shown: n(c.shown), total: n(total) })} · ${n(c.online)} ${t('status.online')} · ${n(c.stale)} ${t('status.stale')} · ${n(c.offline)} ${t('status.offline')}${c.unacked > 0 ? ` · ${t('map.unacked', { count: n(c.unacked) })}` : ''}`)
    unplaced.hidden = devices.unplaced === 0
    setText(unplaced, t('map.unplaced', { count: n(devices.unplaced) }))
  }

  // Changes arrive at most once a second; the map's data is replaced at most twice a second.
  let drawTimer: ReturnType<typeof setTimeout> | undefined
  let lastDraw = 0
  function draw(now = false): void {
    if (disposed) return
    const wait = now ? 0 : Math.max(0, 500 - (performance.now() - lastDraw))
    if (drawTimer !== undefined) {
      if (!now) return
      clearTimeout(drawTimer)
    }
    drawTimer = setTimeout(() => {
      drawTimer = undefined
      lastDraw = performance.now()
      fillChoices()
      showCounts()
      if (!map || !styleReady) return
      updateDistrictLabels()
      ;(map.getSource('devices') as MapLibre.GeoJSONSource).setData(devices.features(filter))
      const pulsing = devices.pulsing(filter)
      updatePulses(pulsing)
      setAttr(mapEl, 'data-pulsing', pulsing.features.length)
      if (!fitted) fit()
      labelsDirty = true
    }, wait)
  }

  function fit(): void {
    const b = devices.bounds()
    if (!map || !b) return
    fitted = true
    const [w, s, e, n] = b
    if (w === e && s === n) map.jumpTo({ center: [w, s], zoom: 15 })
    else map.fitBounds([[w, s], [e, n]], { padding: 40, maxZoom: 15, duration: 0 })
  }

  // ---- pulse of unacknowledged alarms: HTML markers with a CSS animation, which the
  // compositor runs without redrawing the map (animating a layer would redraw all
  // 50,000 devices every frame). The most severe MAX_PULSES pulse; the rest keep their colour.
  const MAX_PULSES = 500
  const pulseMarkers = new Map<string, MapLibre.Marker>()
  function updatePulses(pulsing: ReturnType<MapDevices['pulsing']>): void {
    if (!map || !ml) return
    const wanted = pulsing.features
      .map((f) => ({ id: String(f.properties!['id']), severity: String(f.properties!['severity']), at: f.geometry.coordinates as [number, number] }))
      .sort((a, b) => SEVERITIES.indexOf(a.severity as (typeof SEVERITIES)[number]) - SEVERITIES.indexOf(b.severity as (typeof SEVERITIES)[number]))
      .slice(0, MAX_PULSES)
    const keep = new Set(wanted.map((w) => w.id))
    for (const [id, marker] of pulseMarkers) if (!keep.has(id)) { marker.remove(); pulseMarkers.delete(id) }
    for (const w of wanted) {
      let marker = pulseMarkers.get(w.id)
      if (!marker) {
        const el = h('div', { class: 'map-pulse', 'data-testid': 'map-pulse', 'data-device-id': w.id, title: w.id })
        el.addEventListener('click', (event) => {
          event.stopPropagation()
          openDevice(w.id)
        })
        marker = new ml.Marker({ element: el }).setLngLat(w.at).addTo(map)
        pulseMarkers.set(w.id, marker)
      } else marker.setLngLat(w.at)
      setAttr(marker.getElement(), 'data-severity', w.severity)
      // A style property, not a style attribute: the policy allows no inline styles.
      marker.getElement().style.setProperty('--pulse', MARKER_COLORS[w.severity as ColorKey] ?? MARKER_COLORS.critical)
    }
  }

  let frames = 0
  let framesTotal = 0
  const fpsTimer = setInterval(() => {
    window.__mapFps = frames
    setAttr(mapEl, 'data-fps', frames)
    frames = 0
  }, 1_000)

  // Cluster counts are HTML markers (a style without glyphs draws no text): the clusters drawn, after a move or new data.
  let labelsDirty = false
  function updateClusterLabels(): void {
    if (!map || !styleReady || !ml) return
    const seen = new Set<number>()
    for (const f of map.queryRenderedFeatures({ layers: ['clusters'] })) {
      const p = f.properties as { cluster_id: number; point_count: number; point_count_abbreviated: string | number }
      if (seen.has(p.cluster_id)) continue
      seen.add(p.cluster_id)
      let marker = clusterMarkers.get(p.cluster_id)
      if (!marker) {
        const el = h('div', { class: 'cluster-label', 'data-testid': 'map-cluster' })
        marker = new ml.Marker({ element: el }).setLngLat((f.geometry as { coordinates: number[] }).coordinates as [number, number])
        clusterMarkers.set(p.cluster_id, marker)
      }
      const el = marker.getElement()
      setText(el, String(p.point_count_abbreviated))
      setAttr(el, 'data-count', p.point_count)
      if (!el.isConnected) marker.addTo(map)
    }
    for (const [id, marker] of clusterMarkers) {
      if (!seen.has(id)) {
        marker.remove()
        clusterMarkers.delete(id)
      }
    }
    setAttr(mapEl, 'data-clusters', seen.size)
  }

  function addLayers(m: MapLibre.Map): void {
    for (const shape of SHAPES) for (const key of COLOR_KEYS) {
      const name = `${shape}-${key}`
      if (!m.hasImage(name)) m.addImage(name, markerImage(shape, MARKER_COLORS[key]), { pixelRatio: 2 })
    }
    m.addSource('devices', {
      type: 'geojson',
      data: devices.features(filter),
      cluster: true,
      clusterRadius: 44,
      clusterMaxZoom: 14,
      // A cluster shows its worst member's colour and how many have an alarm.
      clusterProperties: CLUSTER_PROPERTIES as unknown as Record<string, MapLibre.ExpressionSpecification>,
    })
    m.addLayer({
      id: 'clusters', type: 'circle', source: 'devices', filter: ['has', 'point_count'],
      paint: {
        'circle-color': CLUSTER_COLOR as unknown as MapLibre.ExpressionSpecification,
        'circle-opacity': 0.85,
        'circle-radius': ['step', ['get', 'point_count'], 13, 10, 16, 100, 20, 1000, 25, 10000, 31],
        'circle-stroke-color': 'rgba(8, 14, 22, 0.9)',
        'circle-stroke-width': 2,
      },
    })
    m.addLayer({
      id: 'devices', type: 'symbol', source: 'devices', filter: ['!', ['has', 'point_count']],
      layout: {
        'icon-image': ['get', 'icon'],
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'icon-size': ['interpolate', ['linear'], ['zoom'], 10, 0.75, 14, 0.95, 18, 1.3],
        // The worst on top where markers overlap.
        'symbol-sort-key': ['-', 10, ['get', 'rank']],
      },
    })
  }

  function openDevice(id: string): void {
    location.hash = routeHash({ name: 'device', id })
  }

  async function startMap(snapshot: MapSnapshot): Promise<void> {
    try {
      ml = await loadMapLibre()
    } catch (error) {
      errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
      errorBox.hidden = false
      return
    }
    if (disposed) return
    try {
      map = new ml.Map({
        container: canvasBox,
        style: baseStyle(snapshot),
        center: snapshot.base.center,
        zoom: snapshot.base.zoom,
        maxZoom: 19,
        attributionControl: { compact: true },
        cooperativeGestures: options.compact === true,
      })
    } catch (error) {
      // No WebGL (switched off, or a browser without it): the counts and filters still work.
      setAttr(mapEl, 'data-webgl', 'none')
      mapEl.classList.add('no-webgl')
      replace(canvasBox, h('p', { class: 'notice' }, t('map.noWebgl')))
      setAttr(mapEl, 'data-ready', 'true')
      void error
      return
    }
    setAttr(mapEl, 'data-webgl', 'ok')
    setAttr(mapEl, 'data-base', snapshot.base.kind)
    offlineBase = snapshot.base.kind === 'offline'
    const m = map
    m.addControl(new ml.NavigationControl({ showCompass: false }), 'top-right')
    m.addControl(new ml.ScaleControl({ unit: 'metric' }), 'bottom-left')
    m.on('render', () => {
      frames++
      framesTotal++
      window.__mapFrames = framesTotal
      if (!styleReady || !m.isSourceLoaded('devices')) return
      if (mapEl.dataset['ready'] !== 'true') setAttr(mapEl, 'data-ready', 'true')
      if (labelsDirty) {
        labelsDirty = false
        updateClusterLabels()
      }
    })
    m.on('error', (e) => {
      // A tile or style of the GIS server that fails: say so once, keep the devices.
      const message = e.error?.message ?? 'map error'
      if (errorBox.hidden) {
        errorBox.textContent = t('map.baseError', { message })
        errorBox.hidden = false
      }
    })
    m.on('load', () => {
      if (disposed) return
      addLayers(m)
      styleReady = true
      mapEl.querySelector('.map-loading')?.remove()
      draw(true)
    })
    m.on('moveend', () => { labelsDirty = true })
    m.on('sourcedata', (e) => {
      if (e.sourceId === 'devices' && e.isSourceLoaded) labelsDirty = true
    })
    const pick = options.pick
    m.on('click', 'clusters', (e) => {
      if (pick) return
      const feature = e.features?.[0]
      if (!feature) return
      const id = (feature.properties as { cluster_id: number }).cluster_id
      void (m.getSource('devices') as MapLibre.GeoJSONSource).getClusterExpansionZoom(id).then((zoom) => {
        m.easeTo({ center: (feature.geometry as { coordinates: number[] }).coordinates as [number, number], zoom: Math.min(zoom, 19) })
      })
    })
    if (pick) {
      const marker = new ml.Marker({ color: '#4fc3f7' })
      const place = (lon: number, lat: number) => {
        marker.setLngLat([lon, lat]).addTo(m)
        setAttr(mapEl, 'data-picked', `${lon.toFixed(6)},${lat.toFixed(6)}`)
      }
      if (pick.picked) place(pick.picked[0], pick.picked[1])
      m.getCanvas().style.cursor = 'crosshair'
      m.on('click', (e) => {
        place(e.lngLat.lng, e.lngLat.lat)
        pick.onPick(e.lngLat.lng, e.lngLat.lat)
      })
    }
    for (const layer of ['devices']) {
      m.on('click', layer, (e) => {
        if (pick) return
        const id = (e.features?.[0]?.properties as { id?: string } | undefined)?.id
        if (id) openDevice(id)
      })
      m.on('mouseenter', layer, () => { if (!pick) m.getCanvas().style.cursor = 'pointer' })
      m.on('mouseleave', layer, () => {
        m.getCanvas().style.cursor = pick ? 'crosshair' : ''
        popup?.remove()
      })
    }
    m.on('mouseenter', 'clusters', () => { m.getCanvas().style.cursor = 'zoom-in' })
    m.on('mouseleave', 'clusters', () => { m.getCanvas().style.cursor = '' })
    m.on('mousemove', 'devices', (e) => {
      const id = (e.features?.[0]?.properties as { id?: string } | undefined)?.id
      const d = id ? devices.byId.get(id) : undefined
      if (!d || !ml) return
      popup ??= new ml.Popup({ closeButton: false, closeOnClick: false, offset: 12, className: 'map-popup' })
      popup.setLngLat([d.lon, d.lat]).setDOMContent(h('div', { 'data-testid': 'map-popup' },
        h('strong', {}, d.id),
        h('div', { class: 'muted' }, `${tOr(`domain.${d.domain}`, d.domain)}${d.district ? ` · ${d.district}` : ''}`),
        h('div', {}, t(`status.${d.state}`), d.alarm ? ` · ${t(`severity.${d.alarm}`)}${d.unacked ? ` · ${t('map.notAcknowledged')}` : ''}` : ''),
      )).addTo(m)
    })
  }

  // ---- data
  let controller: AbortController | undefined
  let started = false
  async function load(): Promise<void> {
    controller?.abort()
    controller = new AbortController()
    try {
      const s = await api<MapSnapshot>('/api/map', { signal: controller.signal })
      if (disposed) return
      errorBox.hidden = true
      devices.load(s)
      fetching = false
      // Events that came while the snapshot was on its way: the ones newer than it.
      for (const d of held.splice(0)) {
        applyDelta(d)
        if (fetching) break
      }
      draw(true)
      if (!started) {
        started = true
        void startMap(s)
      }
    } catch (error) {
      fetching = false
      if (disposed || (error instanceof DOMException && error.name === 'AbortError')) return
      errorBox.textContent = t('app.error.load', { message: errorMessage(error) })
      errorBox.hidden = false
    }
  }

  let fetching = true
  const held: MapDelta[] = []
  function onEvent(event: LiveEvent): void {
    if (event.kind !== 'map' || disposed) return
    const delta = event as unknown as MapDelta
    if (fetching) held.push(delta)
    else applyDelta(delta)
  }

  function applyDelta(delta: MapDelta): void {
    const result = devices.apply(delta)
    if (result === 'applied') draw()
    else if (result === 'gap') {
      // One was missed (the stream broke, or the snapshot is older): fetch it again, keep this one for after.
      fetching = true
      held.length = 0
      held.push(delta)
      void load()
    }
  }

  const hooks: MapTestHooks = {
    marker(id) {
      const d = devices.byId.get(id)
      return d ? { color: colorKey(d), state: d.state, alarm: d.alarm, unacked: d.unacked, shown: matches(d, filter) } : null
    },
    rendered(id) {
      if (!map || !styleReady) return null
      const hit = map.queryRenderedFeatures({ layers: ['devices'] }).find((f) => (f.properties as { id?: string }).id === id)
      return hit ? String((hit.properties as { icon: string }).icon) : null
    },
    project(id) {
      const d = devices.byId.get(id)
      if (!d || !map) return null
      const p = map.project([d.lon, d.lat])
      const box = map.getCanvas().getBoundingClientRect()
      return [box.left + p.x, box.top + p.y]
    },
    jumpTo(id, zoom) {
      const d = devices.byId.get(id)
      if (d && map) map.jumpTo({ center: [d.lon, d.lat], zoom })
    },
    jumpToView(center, zoom) {
      map?.jumpTo({ center, zoom })
    },
    get map() { return map },
  }
  window.__gridlineMap = hooks

  void load()
  return {
    onEvent,
    reload: () => void load(),
    unmount() {
      disposed = true
      controller?.abort()
      if (drawTimer !== undefined) clearTimeout(drawTimer)
      clearInterval(fpsTimer)
      for (const marker of [...clusterMarkers.values(), ...districtMarkers.values(), ...pulseMarkers.values()]) marker.remove()
      popup?.remove()
      map?.remove()
      map = undefined
      if (window.__gridlineMap === hooks) delete window.__gridlineMap
    },
  }
}

/** The map page: `#/map?domain=&district=&state=`, the filters kept in the hash. */
export function mountMap(root: HTMLElement, ctx: PageContext, query: Record<string, string>): Page {
  const body = h('div', { class: 'map-page' })
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, t('map.title'))), body)
  const cityMap = createCityMap(body, {
    filter: filterFromQuery(query),
    onFilter: (f) => {
      // Replace, not push: a filter is no page to go back to, and hashchange would mount the page afresh.
      const hash = routeHash({ name: 'map', query: { domain: f.domain, district: f.district, state: f.state } })
      history.replaceState(null, '', hash)
    },
  })
  ctx.live.connect('kinds=map', { onEvent: (e) => cityMap.onEvent(e), onReopen: () => cityMap.reload() })
  return { unmount: () => cityMap.unmount() }
}

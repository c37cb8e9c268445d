/**
 * The console's city map with many devices (issue 18), in Debian's headless
 * Chromium (test/support.ts launchChromium) against the service in its own
 * process: page load until every device is drawn, frames per second while the
 * camera pans and zooms, publish-to-page lag of live marker changes, and the
 * ingest hot path with open map streams as a fraction of none.
 *
 * The page is measured through what it exposes (docs/dashboards.md#many-devices):
 * the map element's data-* attributes, window.__gridlineMap, window.__mapFps and
 * window.__mapFrames. Page code is passed as text: the bench is compiled
 * without the DOM library.
 */
import { CITY_FLEET_SHARES, DEVICE_KINDS, type FleetCounts, planFleet, withCityMetadata } from '@gridline/firmware-sim'
import mqtt from 'mqtt'
import type { Page } from 'playwright-core'
import { launchChromium } from '../../test/support.ts'
import { BENCH_VIEWER, addBenchViewer } from './dashboards.ts'
import type { BenchDatabase } from './database.ts'
import { Target, progress, sleep } from './harness.ts'
import type { BatchedResult, LatencySummary, MapLiveResult, MapResult, RunContext } from './results.ts'
import { latencySummary, sortSamples } from './stats.ts'
import { BENCH_PASSWORD } from './workload.ts'

const GATEWAY = 'map-bench-gateway'
/** One valid reading per domain: any reading turns its device online; the value does not matter. */
const VALUES: Record<string, Record<string, number | boolean>> = {
  environment: { pm25: 12 },
  traffic: { vehicle_count: 10 },
  water: { pressure: 3.1 },
  lighting: { lamp_on: true },
}

/**
 * Every device drawn: the rendered clusters' counts plus the unclustered
 * markers in view add up to `expected`, once the map says it is ready with
 * `expected` devices. -1 until then.
 */
const drawnDevices = `(() => {
  const el = document.querySelector('[data-testid=city-map]')
  const m = window.__gridlineMap && window.__gridlineMap.map
  if (!el || el.dataset.ready !== 'true' || !m || !m.getLayer('clusters')) return -1
  const clusters = new Map()
  for (const f of m.queryRenderedFeatures({ layers: ['clusters'] })) clusters.set(f.properties.cluster_id, f.properties.point_count)
  const singles = new Set()
  for (const f of m.queryRenderedFeatures({ layers: ['devices'] })) singles.add(f.properties.id)
  let n = singles.size
  for (const c of clusters.values()) n += c
  return n
})()`

/**
 * Before any page script: the map stream's events as they reach the page, each
 * timestamped in the EventSource's own message task (before the page's handler,
 * which applies it in the same task), with the ids it turns online.
 */
const recordMapEvents = `(() => {
  const Native = window.EventSource
  const events = []
  window.__mapBench = { events, draws: [], frames: [] }
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init)
      if (!String(url).includes('map')) return
      this.addEventListener('message', (m) => {
        const at = Date.now()
        let e
        try { e = JSON.parse(m.data) } catch { return }
        if (!e || e.kind !== 'map') return
        const online = []
        for (const r of e.rows) if (r[5] === 0) online.push(r[0])
        events.push({ at, version: e.version, online })
      })
    }
  }
})()`

/**
 * Each change of the map element's data-version: the page drew that version
 * (counts shown, and in the same task the map source's data replaced). Then the
 * first frame MapLibre renders once the source has loaded that data: the
 * markers on screen.
 */
const recordDraws = `(() => {
  const el = document.querySelector('[data-testid=city-map]')
  const m = window.__gridlineMap.map
  const { draws, frames } = window.__mapBench
  new MutationObserver(() => {
    const version = Number(el.dataset.version)
    draws.push({ at: Date.now(), version })
    const loaded = (e) => {
      if (e.sourceId !== 'devices' || !e.isSourceLoaded) return
      m.off('sourcedata', loaded)
      m.once('render', () => frames.push({ at: Date.now(), version }))
    }
    m.on('sourcedata', loaded)
  }).observe(el, { attributes: true, attributeFilter: ['data-version'] })
})()`

/** Pans and zooms over the city for `ms`, one camera move after the other; the page's frames over that time. */
const panAndZoom = (ms: number) => `(async () => {
  const m = window.__gridlineMap.map
  const views = [[108.214, 16.052, 13], [108.19, 16.062, 15], [108.24, 16.075, 14], [108.1, 16.0, 12], [108.24, 16.005, 15], [108.196, 16.01, 13.5], [108.14, 16.065, 11.5]]
  const moveEnd = (start, ms) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms + 1000)
    m.once('moveend', () => { clearTimeout(timer); resolve() })
    start()
  })
  const perSecond = []
  const f0 = window.__mapFrames || 0
  const t0 = performance.now()
  const tick = setInterval(() => perSecond.push(window.__mapFps || 0), 1000)
  for (let i = 0; performance.now() - t0 < ${ms}; i++) {
    const [lon, lat, zoom] = views[i % views.length]
    if (i % 2 === 0) await moveEnd(() => m.easeTo({ center: [lon, lat], zoom, duration: 700 }), 700)
    else await moveEnd(() => m.panBy([i % 4 === 1 ? 320 : -320, i % 3 === 0 ? 180 : -180], { duration: 500 }), 500)
  }
  clearInterval(tick)
  const elapsedMs = performance.now() - t0
  const frames = (window.__mapFrames || 0) - f0
  // The first whole second began before the moves.
  return { frames, elapsedMs, fps: frames / (elapsedMs / 1000), perSecond: perSecond.slice(1) }
})()`

const webglRenderer = `(() => {
  const gl = document.createElement('canvas').getContext('webgl')
  if (!gl) return 'none'
  const info = gl.getExtension('WEBGL_debug_renderer_info')
  return String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER))
})()`

/**
 * Registers mapDevices placed devices behind one gateway, then on one service:
 * page loads, frames while panning and zooming, live lag; then ingest-batched
 * without and with mapPages open map streams (`batched`, each on a fresh
 * service, which goes first alternating by round). The devices are removed at
 * the end, so the round's later scenarios do not carry them.
 */
export async function measureMap(ctx: RunContext, db: BenchDatabase, round: number, batched: (mapPages: number) => Promise<BatchedResult>): Promise<MapResult> {
  const s = ctx.settings
  const devices = cityDevices(s.mapDevices)
  progress(`round ${round}: map: registering ${devices.length} placed devices`)
  await db.addDevices([{ id: GATEWAY, kind: 'gateway', password: BENCH_PASSWORD }])
  for (const domain of new Set(devices.map((d) => d.domain))) {
    const of = devices.filter((d) => d.domain === domain)
    for (let i = 0; i < of.length; i += 5_000) await db.addBehindGateway(of.slice(i, i + 5_000).map((d) => ({ id: d.id, metadata: d.metadata })), domain, GATEWAY)
  }
  await addBenchViewer(db.url)
  try {
    const browserPart = await measureInBrowser(ctx, db, round, devices)
    const run = async (open: boolean) => {
      progress(`round ${round}: map: ingest-batched ${open ? `with ${s.mapPages} open map streams` : 'without map streams'} (${devices.length} placed devices registered)`)
      return batched(open ? s.mapPages : 0)
    }
    const first = await run(round % 2 !== 1)
    const second = await run(round % 2 === 1)
    const [without, withOpen] = round % 2 === 1 ? [first, second] : [second, first]
    return { ...browserPart, mapPages: s.mapPages, without, with: withOpen, ratio: withOpen.readingsPerSecond / without.readingsPerSecond }
  } finally {
    await db.removeBehindGateway(GATEWAY)
  }
}

type CityDevice = { id: string; domain: string; metadata: Record<string, unknown> }

/** The simulator's fleet plan and places (every district, every kind), n devices. */
function cityDevices(n: number): CityDevice[] {
  const groups = Object.keys(CITY_FLEET_SHARES) as (keyof FleetCounts)[]
  const counts: FleetCounts = {}
  let left = n
  for (const [i, g] of groups.entries()) {
    const c = i === groups.length - 1 ? left : Math.round(n * CITY_FLEET_SHARES[g])
    counts[g] = c
    left -= c
  }
  return withCityMetadata(planFleet(counts, 'map')).map((d) => ({ id: d.id, domain: DEVICE_KINDS[d.kind!].domain, metadata: d.metadata }))
}

async function measureInBrowser(ctx: RunContext, db: BenchDatabase, round: number, devices: CityDevice[]): Promise<Omit<MapResult, 'mapPages' | 'without' | 'with' | 'ratio'>> {
  const s = ctx.settings
  await db.reset()
  const target = await Target.start(ctx, 'gridline', db)
  const browser = await launchChromium()
  try {
    const base = `http://127.0.0.1:${target.httpPort}`
    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1440, height: 900 } })
    await context.addInitScript(recordMapEvents)
    const login = await context.request.post(`${base}/api/login`, { headers: { origin: base }, data: { username: BENCH_VIEWER.name, password: BENCH_VIEWER.password } })
    if (!login.ok()) throw new Error(`map: login failed with ${login.status()}`)

    // What the page will fetch, once from here: its size and the devices it holds.
    const cookie = (await context.cookies(base)).map((c) => `${c.name}=${c.value}`).join('; ')
    const snapshotStarted = performance.now()
    const snapshotRes = await fetch(`${base}/api/map`, { headers: { cookie } })
    if (!snapshotRes.ok) throw new Error(`map: GET /api/map answered ${snapshotRes.status}`)
    const body = await snapshotRes.text()
    const snapshotMs = performance.now() - snapshotStarted
    const onMap = (JSON.parse(body) as { ids: string[] }).ids.length
    if (onMap < devices.length) throw new Error(`map: GET /api/map has ${onMap} devices, ${devices.length} were registered`)

    // Page loads: a new page each, navigation to every device drawn.
    const loadOnce = async (hash: string): Promise<{ ms: number; page: Page }> => {
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
      const started = Date.now()
      await page.goto(`${base}/${hash}`)
      // Polled from here: page.waitForFunction evaluates a text predicate with eval, which the console's CSP forbids.
      let drawn = -1
      while (Date.now() - started < 60_000) {
        drawn = await page.evaluate<number>(drawnDevices)
        if (drawn === onMap) break
        await sleep(50)
      }
      if (drawn !== onMap) {
        const state = await page.evaluate(`(() => { const el = document.querySelector('[data-testid=city-map]'); return JSON.stringify({ url: location.href, map: el ? { ...el.dataset } : null, hooks: Boolean(window.__gridlineMap), error: document.querySelector('[data-testid=map-error]')?.textContent ?? null, resources: performance.getEntriesByType('resource').map((r) => r.name.replace(location.origin, '') + ':' + Math.round(r.duration)) }) })()`).catch((e: Error) => e.message)
        throw new Error(`map: ${hash} did not draw ${onMap} devices in 60 s (drawn: ${drawn}; page: ${String(state)}; errors: ${errors.filter((e) => !e.includes('Content Security Policy')).join('; ') || 'none'})`)
      }
      return { ms: Date.now() - started, page }
    }
    const overviewLoadMs: number[] = []
    const mapLoadMs: number[] = []
    let mapPage: Page | undefined
    for (let i = 0; i < s.mapLoads; i++) {
      progress(`round ${round}: map: page load ${i + 1} of ${s.mapLoads}, overview and #/map (${onMap} devices)`)
      const overview = await loadOnce('#/overview')
      overviewLoadMs.push(overview.ms)
      await overview.page.close()
      const map = await loadOnce('#/map')
      mapLoadMs.push(map.ms)
      await mapPage?.close()
      mapPage = map.page
    }
    const page = mapPage!
    const renderer = await page.evaluate<string>(webglRenderer)

    progress(`round ${round}: map: panning and zooming for ${s.mapFpsMs / 1000} s (${renderer})`)
    const fps = await page.evaluate<MapResult['fps']>(panAndZoom(s.mapFpsMs))

    const live = await measureLive(ctx, round, target.mqttPort, page, devices)
    await context.close()
    return { devices: devices.length, onMap, snapshotBytes: Buffer.byteLength(body), snapshotMs, renderer, overviewLoadMs, mapLoadMs, fps, live }
  } finally {
    await browser.close()
    await target.stop()
  }
}

/**
 * mapLiveRate readings a second through the gateway, one a message (QoS 1,
 * not awaited: open loop), each the first reading of a device, in an order
 * that spreads them over the city; every one turns a marker from offline to
 * online. Lag from each publish to the map event that carries the change
 * reaching the page, and to the page's next draw of that version.
 */
async function measureLive(ctx: RunContext, round: number, mqttPort: number, page: Page, devices: CityDevice[]): Promise<MapLiveResult> {
  const s = ctx.settings
  const count = Math.min(devices.length, Math.floor((s.mapLiveRate * s.mapLiveMs) / 1000))
  const order = spread(devices.length).slice(0, count)
  await page.evaluate(recordDraws)
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: GATEWAY, password: BENCH_PASSWORD, clientId: GATEWAY, reconnectPeriod: 0 })
  const topic = `gateways/${GATEWAY}/telemetry`
  const publishedAt = new Map<string, number>()
  let acked = 0
  progress(`round ${round}: map: ${count} readings at ${s.mapLiveRate}/s, each a device's first`)
  const started = performance.now()
  let sent = 0
  try {
    while (sent < count) {
      const due = Math.min(count, Math.floor(((performance.now() - started) * s.mapLiveRate) / 1000) + 1)
      for (; sent < due; sent++) {
        const d = devices[order[sent]!]!
        const payload = JSON.stringify({ readings: [{ device: d.id, domain: d.domain, values: VALUES[d.domain] }] })
        publishedAt.set(d.id, Date.now())
        client.publish(topic, payload, { qos: 1 }, (err) => { if (!err) acked++ })
      }
      await sleep(5)
    }
    const publishMs = performance.now() - started
    // Until the page has every published device online, or mapSettleMs after the last publish.
    const deadline = Date.now() + s.mapSettleMs
    while (Date.now() < deadline) {
      const seen = await page.evaluate<number>('window.__mapBench.events.reduce((n, e) => n + e.online.length, 0)')
      if (seen >= count && acked >= count) break
      await sleep(250)
    }
    // The draw after the last event (at most 500 ms after the one before) and its frame.
    await sleep(1_500)
    type Stamp = { at: number; version: number }
    const { events, draws, frames } = await page.evaluate<{ events: (Stamp & { online: string[] })[]; draws: Stamp[]; frames: Stamp[] }>('window.__mapBench')
    // The first stamp at or after the event, of its version or a later one.
    const after = (stamps: Stamp[], e: Stamp) => stamps.find((x) => x.version >= e.version && x.at >= e.at)?.at
    const toPage: number[] = []
    const toDraw: number[] = []
    const toFrame: number[] = []
    const matched = new Set<string>()
    for (const e of events) {
      const drawnAt = after(draws, e)
      const frameAt = after(frames, e)
      for (const id of e.online) {
        const at = publishedAt.get(id)
        if (at === undefined || matched.has(id)) continue
        matched.add(id)
        toPage.push(e.at - at)
        if (drawnAt !== undefined) toDraw.push(drawnAt - at)
        if (frameAt !== undefined) toFrame.push(frameAt - at)
      }
    }
    return {
      ratePerSecond: s.mapLiveRate,
      publishMs,
      published: count,
      acked,
      events: events.length,
      seen: matched.size,
      missing: count - matched.size,
      toPageMs: summarize(toPage),
      toDrawMs: summarize(toDraw),
      toFrameMs: summarize(toFrame),
    }
  } finally {
    await client.endAsync()
  }
}

/** 0..n-1 in a stride order coprime with n, so consecutive readings come from all over the plan (every kind and district). */
function spread(n: number): number[] {
  let stride = 7919
  while (gcd(stride, n) !== 1) stride++
  return Array.from({ length: n }, (_, i) => (i * stride) % n)
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

function summarize(values: number[]): LatencySummary | null {
  return values.length === 0 ? null : latencySummary(sortSamples(values))
}

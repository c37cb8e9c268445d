/** Hash routes of the web app. Pure module, unit-tested from dashboards/src/web-route.test.ts. */

export type Route =
  | { name: 'login' }
  | { name: 'overview' }
  | { name: 'map'; query: Record<string, string> }
  | { name: 'devices'; query: Record<string, string> }
  | { name: 'device'; id: string }
  | { name: 'alarms'; tab: 'active' | 'history' }
  | { name: 'admin' }
  | { name: 'rejected'; query: Record<string, string> }
  | { name: 'indicators'; query: Record<string, string> }
  | { name: 'wall'; query: Record<string, string> }
  | { name: 'notFound'; path: string }

/** The views wall mode can rotate through, in the default order. */
export const WALL_VIEWS = ['overview', 'map', 'alarms', 'indicators'] as const
export type WallView = (typeof WALL_VIEWS)[number]
/** Seconds each wall view shows: default, and the bounds a `every=` is held to. */
export const WALL_EVERY_S = { default: 30, min: 5, max: 3_600 } as const

/**
 * `#/wall?views=map,alarms&every=20`: the views (known ones, in the order given, each once;
 * default overview, map, alarms) and the seconds each shows (default 30, held to 5-3,600).
 */
export function wallSettings(query: Record<string, string>): { views: WallView[]; everyS: number } {
  const asked = (query['views'] ?? '').split(',').map((v) => v.trim()).filter((v): v is WallView => (WALL_VIEWS as readonly string[]).includes(v))
  const views = [...new Set(asked)]
  const every = Number(query['every'])
  return {
    views: views.length > 0 ? views : ['overview', 'map', 'alarms'],
    everyS: Number.isFinite(every) && query['every'] !== '' && query['every'] !== undefined
      ? Math.min(WALL_EVERY_S.max, Math.max(WALL_EVERY_S.min, Math.round(every)))
      : WALL_EVERY_S.default,
  }
}

function parseQuery(text: string): Record<string, string> {
  const query: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(text)) query[key] = value
  return query
}

/** `#/devices/lamp-1?x=y` → { name: 'device', id: 'lamp-1' }. An empty hash is the overview. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '')
  const q = raw.indexOf('?')
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || '/overview'
  const query = parseQuery(q < 0 ? '' : raw.slice(q + 1))
  const parts = path.split('/').filter((p) => p !== '')
  const [first, second, ...rest] = parts
  if (rest.length > 0) return { name: 'notFound', path }
  switch (first) {
    case 'login':
      return second === undefined ? { name: 'login' } : { name: 'notFound', path }
    case 'overview':
      return second === undefined ? { name: 'overview' } : { name: 'notFound', path }
    case 'map':
      return second === undefined ? { name: 'map', query } : { name: 'notFound', path }
    case 'devices':
      if (second === undefined) return { name: 'devices', query }
      return { name: 'device', id: safeDecode(second) }
    case 'alarms':
      if (second === undefined) return { name: 'alarms', tab: query['tab'] === 'history' ? 'history' : 'active' }
      return { name: 'notFound', path }
    case 'admin':
      return second === undefined ? { name: 'admin' } : { name: 'notFound', path }
    case 'rejected':
      return second === undefined ? { name: 'rejected', query } : { name: 'notFound', path }
    case 'indicators':
      return second === undefined ? { name: 'indicators', query } : { name: 'notFound', path }
    case 'wall':
      return second === undefined ? { name: 'wall', query } : { name: 'notFound', path }
    default:
      return { name: 'notFound', path }
  }
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    // A malformed escape is kept as typed; the device lookup then answers 404.
    return part
  }
}

/** The hash for a route (the inverse of parseRoute). */
export function routeHash(route: Route): string {
  switch (route.name) {
    case 'device':
      return `#/devices/${encodeURIComponent(route.id)}`
    case 'devices': {
      const qs = new URLSearchParams(Object.entries(route.query).filter(([, v]) => v !== '')).toString()
      return qs ? `#/devices?${qs}` : '#/devices'
    }
    case 'map':
    case 'rejected':
    case 'indicators':
    case 'wall': {
      const qs = new URLSearchParams(Object.entries(route.query).filter(([, v]) => v !== '')).toString()
      return qs ? `#/${route.name}?${qs}` : `#/${route.name}`
    }
    case 'alarms':
      return route.tab === 'history' ? '#/alarms?tab=history' : '#/alarms'
    case 'notFound':
      return `#${route.path}`
    default:
      return `#/${route.name}`
  }
}

/** Pages a role may open; admin pages are hidden from the others, refused messages (payloads) from viewers. */
export function mayOpen(route: Route, role: string): boolean {
  if (route.name === 'admin') return role === 'admin'
  if (route.name === 'rejected') return role === 'admin' || role === 'operator'
  return true
}

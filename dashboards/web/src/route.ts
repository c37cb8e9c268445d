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
  | { name: 'notFound'; path: string }

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
    case 'indicators': {
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

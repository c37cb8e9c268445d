import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * Guards that apply to every request on the service's HTTP server, whatever
 * route answers it (the console API, the web app, Node-RED, routes added
 * later): security headers, the Origin check on state-changing requests and
 * the JSON content-type rule for the API. They run as onRequest hooks, before
 * routing's handler and before a body is read, and see the normalised path.
 */
export interface HttpGuardOptions {
  /**
   * Path prefixes of embedded editors (Node-RED at /flows) that need inline
   * scripts and eval: they get a looser Content-Security-Policy, still
   * framed only by this origin.
   */
  editorPaths?: readonly string[]
  /**
   * Origins the console's map loads its base from (console.map: the city's GIS
   * server): allowed for images and fetches under the strict policy, nothing else.
   */
  mapOrigins?: readonly string[]
}

/**
 * The web app and the API: nothing inline, nothing from elsewhere, never framed;
 * the map's base-map origins (when configured) for images and fetches only.
 * The map draws with WebGL in a module worker of this origin (`worker-src 'self'`).
 */
export function strictCsp(mapOrigins: readonly string[] = []): string {
  const extra = mapOrigins.length > 0 ? ` ${mapOrigins.join(' ')}` : ''
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob:${extra}`,
    "font-src 'self'",
    `connect-src 'self'${extra}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** The strict policy without base-map origins. */
export const STRICT_CSP = strictCsp()

/** Node-RED's editor uses inline scripts, eval (its function editor) and blob workers; it may be framed by the console only. */
export const EDITOR_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ')

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The request's path as the router sees it: percent-decoded (`/%61pi/logout`
 * is `/api/logout`), without the query, with repeated slashes collapsed. A
 * path that does not decode is returned as it came (the router answers 400
 * or 404 for it).
 */
export function normalisedPath(url: string | undefined): string {
  const raw = (url ?? '/').split('?')[0]!.split('#')[0]!
  let path = raw
  try {
    path = decodeURIComponent(raw)
  } catch {
    // malformed escape: keep the raw form
  }
  return path.replace(/\/{2,}/g, '/')
}

const underPrefix = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`)

/**
 * True when a state-changing request comes from a page of this origin: its
 * `Origin` names the host the request was sent to, or (no Origin) the browser
 * marks it `Sec-Fetch-Site: same-origin`. A form or fetch from another site,
 * or from this host on another port (same site, other origin), fails; so does
 * a non-browser client that sends neither (curl: add `-H "Origin: http://HOST:PORT"`).
 */
export function sameOrigin(req: FastifyRequest): boolean {
  const host = req.headers.host
  const origin = req.headers.origin
  if (origin !== undefined) {
    if (!host || origin === 'null') return false
    try {
      return new URL(origin).host === host.toLowerCase()
    } catch {
      return false
    }
  }
  return req.headers['sec-fetch-site'] === 'same-origin'
}

function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send({ error: { code, message } })
}

export function registerHttpGuards(app: FastifyInstance, options: HttpGuardOptions = {}): void {
  const editors = options.editorPaths ?? []
  const strict = strictCsp([...new Set((options.mapOrigins ?? []).map((url) => new URL(url).origin))])
  app.addHook('onRequest', async (req, reply) => {
    const path = normalisedPath(req.raw.url)
    const editor = editors.some((prefix) => underPrefix(path, prefix))
    // On the raw response, so hijacked replies (Node-RED, the live stream) carry them too.
    const res = reply.raw
    res.setHeader('content-security-policy', editor ? EDITOR_CSP : strict)
    res.setHeader('x-frame-options', editor ? 'SAMEORIGIN' : 'DENY')
    res.setHeader('x-content-type-options', 'nosniff')
    res.setHeader('referrer-policy', 'no-referrer')
    res.setHeader('cross-origin-opener-policy', 'same-origin')
    res.setHeader('cross-origin-resource-policy', 'same-origin')
    if (!STATE_CHANGING.has(req.method)) return
    if (!sameOrigin(req)) {
      return refuse(reply, 403, 'GRIDLINE_CSRF',
        `${req.method} ${path} must come from a page of this origin: send Origin: http://${req.headers.host ?? 'HOST'} (browsers do), or Sec-Fetch-Site: same-origin.`)
    }
    // Changes to the API come as JSON (a body of no other type): another guard against forms.
    if (underPrefix(path, '/api')) {
      const type = (req.headers['content-type'] ?? '').toLowerCase()
      if (!type.startsWith('application/json')) {
        return refuse(reply, 400, 'GRIDLINE_BAD_REQUEST', 'Send the request with content-type: application/json (a JSON body, `{}` when there is nothing to say).')
      }
    }
  })
}

import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import type { FastifyInstance } from 'fastify'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
}

/**
 * Serves the built web app (dashboards/dist) at `/`. The app is small and
 * static, so files are read once and kept in memory; index.html is never
 * cached by the browser, the other files carry a content hash or are
 * revalidated.
 */
export function serveWebApp(app: FastifyInstance, root: string): void {
  const cache = new Map<string, { body: Buffer; type: string }>()
  const load = async (relative: string) => {
    // index.html is read each time, so a rebuilt app is served without a restart; it names the other files by content hash.
    const hit = relative === 'index.html' ? undefined : cache.get(relative)
    if (hit) return hit
    const file = normalize(join(root, relative))
    if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined
    try {
      if (!(await stat(file)).isFile()) return undefined
      const entry = { body: await readFile(file), type: TYPES[extname(file)] ?? 'application/octet-stream' }
      if (relative !== 'index.html') cache.set(relative, entry)
      return entry
    } catch {
      return undefined // no such file: the caller answers 404
    }
  }
  const index = async (reply: import('fastify').FastifyReply) => {
    const page = await load('index.html')
    if (!page) return reply.code(503).type('text/plain').send('The web app is not built: run `npm install` (or `npm run build -w @gridline/dashboards`).')
    return reply.header('cache-control', 'no-cache').type(page.type).send(page.body)
  }
  app.get('/', async (_req, reply) => index(reply))
  app.get('/index.html', async (_req, reply) => index(reply))
  app.get('/*', async (req, reply) => {
    const rel = (req.params as { '*': string })['*']
    const file = rel.startsWith('api/') ? undefined : await load(rel)
    if (!file) return reply.code(404).send({ error: { code: 'GRIDLINE_NOT_FOUND', message: `Nothing at /${rel}.` } })
    return reply.header('cache-control', 'public, max-age=300').type(file.type).send(file.body)
  })
}

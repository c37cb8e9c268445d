// The operator web app's build, shared by build.mjs (CLI, postinstall) and
// src/index.ts (buildWebApp, in-process). Plain ESM so it runs with bare Node.
import { build } from 'esbuild'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'

/** Absolute path of the built app (index.html, app.js, app.css). */
export const webRoot = fileURLToPath(new URL('../dist/', import.meta.url))

const entry = fileURLToPath(new URL('./src/main.ts', import.meta.url))
const require = createRequire(import.meta.url)

/**
 * The area of the shipped base map (the map page's fallback when console.map names
 * no GIS server): Da Nang and its neighbours, west, south, east, north in degrees.
 */
export const BASEMAP_BOUNDS = [107.2, 15.3, 109.2, 16.8]

/**
 * MapLibre GL is an ES module with a module worker beside it: it is served as it
 * ships (vendor/maplibre/), loaded by the map page with import() when it opens,
 * not bundled into app.js (every other page stays small, and its worker loads
 * from this origin, as the Content-Security-Policy wants).
 */
async function vendorMapLibre(outdir) {
  const dist = dirname(require.resolve('maplibre-gl/dist/maplibre-gl.mjs'))
  const target = join(outdir, 'vendor', 'maplibre')
  await mkdir(target, { recursive: true })
  for (const file of ['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl.css']) await writeWhole(join(target, file), await readFile(join(dist, file)))
  const { version } = JSON.parse(await readFile(join(dist, '..', 'package.json'), 'utf8'))
  return version
}

/**
 * The base map drawn without a GIS server: Natural Earth's land at 1:10m (the
 * world-atlas package's TopoJSON), decoded and clipped to BASEMAP_BOUNDS, as
 * GeoJSON in basemap/land.json (5 KB): the coast and the Sơn Trà peninsula, to
 * about 400 m, enough to see where the devices stand.
 */
async function writeBasemap(outdir) {
  const topo = JSON.parse(await readFile(require.resolve('world-atlas/land-10m.json'), 'utf8'))
  const [sx, sy] = topo.transform.scale
  const [tx, ty] = topo.transform.translate
  const arcs = topo.arcs.map((arc) => {
    let x = 0
    let y = 0
    return arc.map(([dx, dy]) => {
      x += dx
      y += dy
      return [x * sx + tx, y * sy + ty]
    })
  })
  // [TopoJSON spec 2.1.4]: a negative arc index is the one's complement of an arc, reversed.
  const ring = (indexes) => indexes.flatMap((i, k) => {
    const points = i < 0 ? [...arcs[~i]].reverse() : arcs[i]
    return k === 0 ? points : points.slice(1)
  })
  const polygons = []
  for (const geometry of topo.objects.land.geometries) {
    const list = geometry.type === 'Polygon' ? [geometry.arcs] : geometry.type === 'MultiPolygon' ? geometry.arcs : []
    for (const polygon of list) {
      const rings = polygon.map(ring).map((r) => clipRing(r, BASEMAP_BOUNDS)).filter((r) => r.length >= 4)
      if (rings.length > 0) polygons.push(rings)
    }
  }
  const round = (v) => Math.round(v * 1e4) / 1e4
  const land = {
    type: 'FeatureCollection',
    features: [{ type: 'Feature', properties: { source: 'Natural Earth 1:10m land (world-atlas)' }, geometry: { type: 'MultiPolygon', coordinates: polygons.map((rings) => rings.map((r) => r.map(([x, y]) => [round(x), round(y)]))) } }],
  }
  await mkdir(join(outdir, 'basemap'), { recursive: true })
  await writeWhole(join(outdir, 'basemap', 'land.json'), JSON.stringify(land))
}

/**
 * Writes a file so that a reader sees the old one or the new one, never half of
 * it (a test service may serve dist/ while another test builds it): a temporary
 * file renamed over it; nothing when it already holds the same bytes.
 */
async function writeWhole(file, data) {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  try {
    if ((await readFile(file)).equals(bytes)) return
  } catch {
    // No such file yet.
  }
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(temporary, bytes)
  await rename(temporary, file)
}

/** Sutherland-Hodgman: a closed ring clipped to a rectangle (edges along the frame are fine for a fill). */
function clipRing(points, [west, south, east, north]) {
  const edges = [
    [(p) => p[0] >= west, (a, b) => cross(a, b, 0, west)],
    [(p) => p[0] <= east, (a, b) => cross(a, b, 0, east)],
    [(p) => p[1] >= south, (a, b) => cross(a, b, 1, south)],
    [(p) => p[1] <= north, (a, b) => cross(a, b, 1, north)],
  ]
  let out = points.slice(0, -1)
  for (const [inside, intersect] of edges) {
    const input = out
    out = []
    for (let i = 0; i < input.length; i++) {
      const current = input[i]
      const previous = input[(i + input.length - 1) % input.length]
      if (inside(current)) {
        if (!inside(previous)) out.push(intersect(previous, current))
        out.push(current)
      } else if (inside(previous)) out.push(intersect(previous, current))
    }
    if (out.length === 0) return []
  }
  return [...out, out[0]]
}

function cross(a, b, axis, value) {
  const t = (value - a[axis]) / (b[axis] - a[axis])
  return axis === 0 ? [value, a[1] + t * (b[1] - a[1])] : [a[0] + t * (b[0] - a[0]), value]
}

// Hash routing means one document; asset paths are relative so the page also
// works when the service mounts it somewhere other than `/`.
const indexHtml = (version) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<link rel="icon" href="data:,">
<title>gridline</title>
<link rel="stylesheet" href="./app.css?v=${version}">
<script defer src="./app.js?v=${version}"></script>
</head>
<body>
<div id="app"></div>
<noscript>gridline needs JavaScript.</noscript>
</body>
</html>
`

/**
 * Builds the app into dist/: minified, one JS and one CSS file, with source maps.
 * @param {{ outdir?: string, sourcemap?: boolean }} [options]
 * @returns {Promise<{ outdir: string, jsBytes: number, cssBytes: number }>}
 */
export async function buildWeb(options = {}) {
  const outdir = options.outdir ?? webRoot
  // No rm first: the ingest service may be serving dist/ while it is rebuilt, and
  // esbuild replaces each file whole.
  await mkdir(outdir, { recursive: true })
  const result = await build({
    entryPoints: { app: entry },
    outdir,
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    sourcemap: options.sourcemap ?? true,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
  })
  await vendorMapLibre(outdir)
  await writeBasemap(outdir)
  // index.html is served uncached; the version query makes a new build load new assets
  // even where the old ones are cached (the service sends max-age for them).
  const hash = createHash('sha256')
  for (const file of ['app.js', 'app.css']) hash.update(await readFile(join(outdir, file)))
  await writeFile(join(outdir, 'index.html'), indexHtml(hash.digest('hex').slice(0, 12)))
  let jsBytes = 0
  let cssBytes = 0
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (file.endsWith('.js')) jsBytes += out.bytes
    else if (file.endsWith('.css')) cssBytes += out.bytes
  }
  return { outdir, jsBytes, cssBytes }
}

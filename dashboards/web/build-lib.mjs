// The operator web app's build, shared by build.mjs (CLI, postinstall) and
// src/index.ts (buildWebApp, in-process). Plain ESM so it runs with bare Node.
import { build } from 'esbuild'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'

/** Absolute path of the built app (index.html, app.js, app.css). */
export const webRoot = fileURLToPath(new URL('../dist/', import.meta.url))

const entry = fileURLToPath(new URL('./src/main.ts', import.meta.url))

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

// Builds the operator web app into dist/: `node dashboards/build.mjs`
// (also the workspace `build` script, run by the root postinstall).
import { buildWeb } from './web/build-lib.mjs'

try {
  const { outdir, jsBytes, cssBytes } = await buildWeb()
  process.stdout.write(`Built the web app into ${outdir}: app.js ${(jsBytes / 1024).toFixed(1)} KB, app.css ${(cssBytes / 1024).toFixed(1)} KB.\n`)
} catch (error) {
  process.stderr.write(`Building the web app failed: ${error instanceof Error ? error.message : String(error)}\nFix the error above in dashboards/web/src and run \`node dashboards/build.mjs\` again.\n`)
  process.exitCode = 1
}

import { fileURLToPath } from 'node:url'
import { buildWeb, webRoot as builtRoot } from '../web/build-lib.mjs'

/** Absolute path of the built operator web app (dist/, with index.html, app.js and app.css). */
export const webRoot: string = builtRoot

/**
 * Builds the operator web app into {@link webRoot}, in-process (the same build as
 * `node dashboards/build.mjs`). Rejects with esbuild's error when the source does not compile.
 */
export async function buildWebApp(): Promise<void> {
  await buildWeb()
}
export type { GridlineNodeRedSettings, GridlineNodeRuntime } from './node-red-runtime.ts'

/** The gridline Node-RED nodes (a Node-RED module with its example flows), for Node-RED's `nodesDir`. */
export const nodeRedNodesDir: string = fileURLToPath(new URL('../node-red', import.meta.url))

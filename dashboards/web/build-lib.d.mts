/** Absolute path of the built app (index.html, app.js, app.css). */
export declare const webRoot: string
/** Builds the operator web app into dist/ (or `outdir`). */
export declare function buildWeb(options?: { outdir?: string; sourcemap?: boolean }): Promise<{
  outdir: string
  jsBytes: number
  cssBytes: number
}>

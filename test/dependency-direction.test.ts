import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'

// The workspaces' dependency direction, checked on every .ts file's imports
// (docs/architecture.md#workspaces). A unit test: it reads files, nothing else.

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Which workspaces each workspace may import (the arrows of
 * docs/architecture.md). `ingest` serves the dashboards' built web app and
 * hands Node-RED its nodes, so it may use `dashboards`, which itself knows
 * only `schemas`. `bench` measures everything; `cli` composes everything,
 * the bench included.
 */
const ALLOWED: Record<string, readonly string[]> = {
  schemas: [],
  core: ['schemas'],
  processors: ['schemas', 'core'],
  ingest: ['schemas', 'core', 'processors', 'dashboards'],
  'edge-agent': ['schemas', 'core'],
  'firmware-sim': ['schemas', 'core'],
  dashboards: ['schemas'],
  bench: ['schemas', 'core', 'processors', 'ingest', 'edge-agent', 'firmware-sim', 'dashboards'],
  cli: ['schemas', 'core', 'processors', 'ingest', 'edge-agent', 'firmware-sim', 'dashboards', 'bench'],
}

/**
 * The repository's shared test harness (`test/`: database helpers, the global
 * setup, this test). It belongs to no workspace and, like `cli`, may use every
 * one by package name; workspaces' tests may import it by path.
 */
const HARNESS = 'test'

interface Manifest {
  name: string
  exports?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

interface Import {
  file: string
  specifier: string
}

const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }
const workspaces = rootManifest.workspaces
const manifests = new Map(workspaces.map((w) => [w, JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as Manifest]))
const byPackageName = new Map([...manifests].map(([w, m]) => [m.name, w]))

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...tsFiles(path))
    else if (/\.m?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** Static imports and re-exports (type-only ones too: they tie modules together as much) and dynamic `import()`. */
function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const found: string[] = []
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) found.push(m[1]!)
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!)
  return found
}

function workspaceOf(path: string): string | undefined {
  const top = relative(ROOT, path).split(sep)[0]!
  return workspaces.includes(top) || top === HARNESS ? top : undefined
}

/** The file a relative import names, when it is one of ours. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier)
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (/\.m?ts$/.test(candidate) && existsSync(candidate)) return candidate
  }
  return undefined
}

const files = [...workspaces, HARNESS].flatMap((w) => tsFiles(join(ROOT, w)))
const imports: Import[] = files.flatMap((file) => importsOf(readFileSync(file, 'utf8')).map((specifier) => ({ file, specifier })))
const show = (i: Import) => `${relative(ROOT, i.file)}: '${i.specifier}'`

describe('dependency direction', () => {
  test('the scanner sees imports of every form', () => {
    const source = [
      "import a from 'a'",
      "import type { B } from 'b'",
      "import {\n  c,\n  d,\n} from 'c'",
      "export * from 'e'",
      "export { f } from 'f'",
      "import 'g'",
      "const h = await import('h')",
      "// import i from 'i'",
      "/* import j from 'j' */",
      "const k = 'import l from m'",
    ].join('\n')
    expect(importsOf(source).sort()).toEqual(['a', 'b', 'c', 'e', 'f', 'g', 'h'])
  })

  test('every workspace is in the table of allowed arrows', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual([...workspaces].sort())
    expect(files.length).toBeGreaterThan(300)
  })

  test('workspaces import each other only by package name', () => {
    const bad = imports.filter((i) => {
      if (!i.specifier.startsWith('.')) return false
      const from = workspaceOf(i.file)
      const to = workspaceOf(resolve(dirname(i.file), i.specifier))
      // Into the test harness by path is fine; anything else leaving the workspace is not.
      return to !== from && to !== HARNESS
    })
    expect(bad.map(show)).toEqual([])
  })

  test('every workspace import is declared in that package.json and names an export', () => {
    const bad: string[] = []
    for (const i of imports) {
      if (!i.specifier.startsWith('@gridline/')) continue
      const [scope, name, ...subpath] = i.specifier.split('/')
      const target = byPackageName.get(`${scope}/${name}`)
      if (target === undefined) {
        bad.push(`${show(i)} is no workspace`)
        continue
      }
      const exported = manifests.get(target)!.exports ?? {}
      if (!(['.', ...subpath].join('/') in exported)) bad.push(`${show(i)} is not in ${target}/package.json exports`)
      const from = workspaceOf(i.file)!
      if (from === HARNESS || from === target) continue
      const m = manifests.get(from)!
      if (!(`${scope}/${name}` in { ...m.dependencies, ...m.devDependencies })) bad.push(`${show(i)} is not declared in ${from}/package.json`)
    }
    expect(bad).toEqual([])
  })

  test('no arrow runs against the allowed direction', () => {
    const bad = imports.filter((i) => {
      const from = workspaceOf(i.file)!
      if (from === HARNESS || !i.specifier.startsWith('@gridline/')) return false
      const target = byPackageName.get(i.specifier.split('/').slice(0, 2).join('/'))
      return target !== undefined && target !== from && !ALLOWED[from]!.includes(target)
    })
    expect(bad.map(show)).toEqual([])
  })

  test('no workspace has an import cycle', () => {
    const graph = new Map<string, string[]>(files.map((f) => [f, []]))
    for (const i of imports) {
      if (!i.specifier.startsWith('.')) continue
      const target = resolveRelative(i.file, i.specifier)
      if (target !== undefined && workspaceOf(target) === workspaceOf(i.file)) graph.get(i.file)!.push(target)
    }
    const cycles = stronglyConnected(graph).filter((c) => c.length > 1 || graph.get(c[0]!)!.includes(c[0]!))
    expect(cycles.map((c) => c.map((f) => relative(ROOT, f)).sort().join(' <-> '))).toEqual([])
  })
})

/** Tarjan's strongly connected components; a component of more than one module is a cycle. */
function stronglyConnected(graph: Map<string, string[]>): string[][] {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  const visit = (v: string) => {
    index.set(v, counter)
    low.set(v, counter)
    counter++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      components.push(component)
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return components
}

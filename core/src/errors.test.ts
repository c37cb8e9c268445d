import { readFileSync, readdirSync } from 'node:fs'
import { REJECT_REASON_CODES } from '@gridline/schemas'
import { expect, test } from 'vitest'
import { ERROR_CODES } from './errors.ts'

// docs/errors.md is the operator's reference: every code the code can produce must be there, and nothing else.
const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const documented = (section: string) => {
  const start = doc.indexOf(`## ${section}`)
  const end = doc.indexOf('\n## ', start + 1)
  return [...doc.slice(start, end === -1 ? undefined : end).matchAll(/^\| `([A-Za-z0-9_]+)` \|/gm)].map((m) => m[1]).sort()
}

test('every error code is documented, and every documented code exists', () => {
  expect(documented('Error codes')).toEqual(Object.keys(ERROR_CODES).sort())
})

test('every rejection reason is documented, and every documented reason exists', () => {
  expect(documented('Rejection reasons')).toEqual([...REJECT_REASON_CODES].sort())
})

// Every code raised anywhere (GridlineError and its subclasses, such as the alarm engine's
// AlarmError) comes from the one catalogue: types catch most, this catches the rest.
test('every code the workspaces raise is in the catalogue', () => {
  const root = new URL('../../', import.meta.url)
  const raised = new Set<string>()
  const walk = (dir: URL) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist') continue
      if (entry.isDirectory()) walk(new URL(`${entry.name}/`, dir))
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const m of readFileSync(new URL(entry.name, dir), 'utf8').matchAll(/Error\('(GRIDLINE_[A-Z0-9_]+)'/g)) raised.add(m[1]!)
      }
    }
  }
  const workspaces = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { workspaces: string[] }).workspaces
  for (const w of workspaces) walk(new URL(`${w}/src/`, root))
  expect(raised).toContain('GRIDLINE_ALARM_NOT_FOUND')
  expect([...raised].filter((code) => !(code in ERROR_CODES))).toEqual([])
})

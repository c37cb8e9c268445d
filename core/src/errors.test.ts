import { readFileSync } from 'node:fs'
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

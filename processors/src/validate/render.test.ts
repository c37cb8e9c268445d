import { describe, expect, test } from 'vitest'
import { renderJson } from './render.ts'

describe('renderJson', () => {
  test('renders plain JSON as JSON.stringify does', () => {
    const v = { a: [1, true, null, 'x'], b: { c: 2.5 } }
    expect(renderJson(v)).toBe(JSON.stringify(v))
  })

  test.each([
    ['arrays', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['objects', '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)],
  ])('never throws on %s nested 100,000 deep, and cuts below the depth limit', (_kind, text) => {
    const out = renderJson(JSON.parse(text), 4096, 3)
    expect(out.length).toBeLessThan(40)
    expect(out).toMatch(/\.\.\./)
  })

  test('stops at the character budget', () => {
    const out = renderJson(Array.from({ length: 10_000 }, (_, i) => i), 100)
    expect(out.length).toBe(103)
    expect(out.endsWith('...')).toBe(true)
  })

  test('non-finite numbers and long strings stay bounded', () => {
    expect(renderJson([Number.NaN, 'x'.repeat(1000)], 4096)).toBe(`[null,"${'x'.repeat(256)}..."]`)
  })
})

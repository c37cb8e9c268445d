/**
 * JSON text of a value decoded from untrusted input, for rejection details and
 * dead-letter excerpts. Unlike `JSON.stringify` it never throws and its cost
 * is bounded by its output: it stops at `maxChars` characters and renders
 * anything nested deeper than `maxDepth` as `[...]` or `{...}`. (A 10 KB
 * payload of 5,000 nested arrays parses fine but overflows the stack of
 * `JSON.stringify` and of `String(array)`: both recurse per level.)
 *
 * The output is valid JSON unless it was cut at `maxChars`, where it ends in `...`.
 */
export function renderJson(value: unknown, maxChars = 4096, maxDepth = 8): string {
  const out = new Budget(maxChars)
  try {
    write(value, 0, maxDepth, out)
  } catch {
    // Only a value that is not plain decoded JSON (a getter, a proxy) gets here.
    out.push('<unrenderable>')
  }
  return out.text()
}

class Budget {
  private readonly parts: string[] = []
  private used = 0
  full = false

  constructor(private readonly max: number) {}

  push(s: string): void {
    if (this.full) return
    if (this.used + s.length > this.max) {
      this.parts.push(s.slice(0, Math.max(0, this.max - this.used)), '...')
      this.full = true
      return
    }
    this.parts.push(s)
    this.used += s.length
  }

  text(): string {
    return this.parts.join('')
  }
}

function write(v: unknown, depth: number, maxDepth: number, out: Budget): void {
  if (out.full) return
  if (v === null || typeof v === 'boolean') return out.push(String(v))
  if (typeof v === 'number') return out.push(Number.isFinite(v) ? String(v) : 'null')
  if (typeof v === 'string') return out.push(JSON.stringify(v.length > 256 ? `${v.slice(0, 256)}...` : v))
  if (typeof v !== 'object') return out.push(JSON.stringify(String(v)))
  if (Array.isArray(v)) {
    if (depth >= maxDepth) return out.push(v.length === 0 ? '[]' : '[...]')
    out.push('[')
    for (let i = 0; i < v.length && !out.full; i++) {
      if (i > 0) out.push(',')
      write(v[i], depth + 1, maxDepth, out)
    }
    return out.push(']')
  }
  const record = v as Record<string, unknown>
  let first = true
  for (const key in record) {
    if (first && depth >= maxDepth) return out.push('{...}')
    out.push(first ? '{' : ',')
    first = false
    out.push(JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key))
    out.push(':')
    write(record[key], depth + 1, maxDepth, out)
    if (out.full) return
  }
  out.push(first ? '{}' : '}')
}

/**
 * A device's metadata as the form fields of the device page's editor, and back.
 * Pure module (no DOM): unit-tested from dashboards/src/web-metadata-fields.test.ts.
 */

export interface MetadataField { key: string; value: string }

/** Each key with its value as text: numbers and booleans as written, objects and arrays as JSON. */
export function toFields(metadata: Record<string, unknown>): MetadataField[] {
  return Object.entries(metadata).map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v) }))
}

/** A number as people write it: 16.0544, -3, 1e3; not "007", "1,5", "" or " 1". */
export const NUMBER_TEXT = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/

/** A field's text as the value stored: a number, true/false, a JSON object or array when it is one, else the text. */
export function fieldValue(text: string): unknown {
  const v = text.trim()
  if (NUMBER_TEXT.test(v)) return Number(v)
  if (v === 'true' || v === 'false') return v === 'true'
  if ((v.startsWith('{') && v.endsWith('}')) || (v.startsWith('[') && v.endsWith(']'))) {
    try {
      return JSON.parse(v) as unknown
    } catch {
      // Not JSON after all: kept as the text typed.
    }
  }
  return v
}

/**
 * The metadata the fields say (rows with neither key nor value are left out), or
 * the first problem: a value without a key, or a key twice.
 */
export function fromFields(fields: readonly MetadataField[]): { metadata: Record<string, unknown> } | { problem: 'keyMissing' | 'keyTwice'; key: string } {
  const metadata: Record<string, unknown> = {}
  for (const f of fields) {
    const key = f.key.trim()
    if (key === '' && f.value.trim() === '') continue
    if (key === '') return { problem: 'keyMissing', key: f.value.trim() }
    if (Object.hasOwn(metadata, key)) return { problem: 'keyTwice', key }
    if (f.value.trim() === '') continue
    metadata[key] = fieldValue(f.value)
  }
  return { metadata }
}

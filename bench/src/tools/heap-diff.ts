/**
 * Which objects a V8 heap snapshot holds more of than another, per unit:
 * the pending-memory tool's snapshots at idle and with ROWS rows pending
 * give what each pending row costs, by object kind (constructor or V8
 * internal type), counted and in bytes.
 *
 *   npx tsx bench/src/tools/heap-diff.ts before.heapsnapshot after.heapsnapshot [units] [--top 30]
 *
 * Strings are one kind whatever their text; compiled code likewise.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Count and self size by kind. */
function kinds(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const stride = fields.length
  const [type, name, size] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')]
  const out = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const t = types[snap.nodes[i + type]!]!
    const kind = t.includes('string') || t === 'code' ? t : `${t} ${snap.strings[snap.nodes[i + name]!]!.slice(0, 60)}`
    const k = out.get(kind) ?? { count: 0, bytes: 0 }
    k.count++
    k.bytes += snap.nodes[i + size]!
    out.set(kind, k)
  }
  return out
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } })
const [beforeFile, afterFile, unitsArg] = positionals
if (!beforeFile || !afterFile) throw new Error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [units] [--top 30]')
const units = Number(unitsArg ?? 1)
const before = kinds(beforeFile)
const rows = [...kinds(afterFile)].map(([kind, a]) => {
  const b = before.get(kind) ?? { count: 0, bytes: 0 }
  return { kind, count: (a.count - b.count) / units, bytes: (a.bytes - b.bytes) / units }
}).sort((x, y) => y.bytes - x.bytes)
console.log(`${(rows.reduce((n, r) => n + r.bytes, 0)).toFixed(0)} bytes per unit in all`)
console.log('   count     bytes  kind')
for (const r of rows.slice(0, Number(values.top))) console.log(`${r.count.toFixed(2).padStart(8)} ${r.bytes.toFixed(1).padStart(9)}  ${r.kind}`)

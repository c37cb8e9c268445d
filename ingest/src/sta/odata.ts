/**
 * The query language of SensorThings API 1.1 [OGC 18-088 9.3], a subset of
 * OData 4.0's URL conventions: a tokenizer and a recursive-descent parser
 * that turn `$filter`, `$orderby`, `$select` and `$expand` into an AST.
 * Nothing here touches SQL; compile.ts turns the AST into parameterised SQL.
 * Every problem is a `StaQueryError` (400) naming what was wrong and where.
 */

/** A client mistake: answered with 400 and this message. */
export class StaQueryError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message)
    this.name = 'StaQueryError'
  }
}

export type Literal =
  | { k: 'string'; value: string }
  | { k: 'number'; value: number }
  | { k: 'bool'; value: boolean }
  | { k: 'null' }
  | { k: 'time'; value: number; text: string }
  | { k: 'duration'; ms: number }
  | { k: 'geo'; shape: GeoShape }

export type GeoShape =
  | { type: 'Point'; coordinates: [number, number] }
  | { type: 'Polygon'; coordinates: [number, number][] }
  | { type: 'LineString'; coordinates: [number, number][] }

export type Expr =
  | { k: 'lit'; lit: Literal }
  | { k: 'prop'; path: string[] }
  | { k: 'bin'; op: BinaryOp; left: Expr; right: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'neg'; e: Expr }
  | { k: 'call'; name: string; args: Expr[] }

export type BinaryOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' | 'and' | 'or' | 'add' | 'sub' | 'mul' | 'div' | 'mod'

/** Limits that keep a query's text from costing the parser (or the database) more than a page of it. */
export const PARSE_LIMITS = {
  /** Characters of one query option's value. */
  maxOptionLength: 4_000,
  /** Nesting of parentheses, function calls and operators in one expression. */
  maxDepth: 24,
  /** Nodes of one expression. */
  maxNodes: 200,
  /** Levels of `$expand` (Things/Datastreams/Observations is 3). */
  maxExpandDepth: 4,
  /** Items expanded in one request, at every level together. */
  maxExpandItems: 12,
} as const

type Token =
  | { t: 'ident'; v: string; pos: number }
  | { t: 'string'; v: string; pos: number }
  | { t: 'number'; v: number; pos: number }
  | { t: 'time'; v: number; text: string; pos: number }
  | { t: 'typed'; kind: 'geography' | 'geometry' | 'duration'; v: string; pos: number }
  | { t: 'punct'; v: '(' | ')' | ',' | '/'; pos: number }
  | { t: 'end'; pos: number }

const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})/
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}(?![\dT:])/
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/
const IDENT = /^[@A-Za-z_$][A-Za-z0-9_.$@]*/

function tokenize(text: string, what: string): Token[] {
  if (text.length > PARSE_LIMITS.maxOptionLength) throw new StaQueryError(`${what} is ${text.length} characters long; at most ${PARSE_LIMITS.maxOptionLength} are accepted.`)
  const out: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue }
    const rest = text.slice(i)
    if (c === '(' || c === ')' || c === ',' || c === '/') { out.push({ t: 'punct', v: c, pos: i }); i++; continue }
    if (c === '\'') {
      let value = ''
      let j = i + 1
      for (;;) {
        if (j >= text.length) throw new StaQueryError(`${what}: the string starting at character ${i + 1} has no closing quote.`)
        if (text[j] === '\'') {
          if (text[j + 1] === '\'') { value += '\''; j += 2; continue }
          break
        }
        value += text[j]
        j++
      }
      out.push({ t: 'string', v: value, pos: i })
      i = j + 1
      continue
    }
    const dt = DATETIME.exec(rest)
    if (dt) {
      const ms = Date.parse(dt[0])
      if (Number.isNaN(ms)) throw new StaQueryError(`${what}: ${dt[0]} at character ${i + 1} is not a valid date-time.`)
      out.push({ t: 'time', v: ms, text: dt[0], pos: i })
      i += dt[0].length
      continue
    }
    const d = DATE_ONLY.exec(rest)
    if (d) {
      const ms = Date.parse(`${d[0]}T00:00:00Z`)
      if (Number.isNaN(ms)) throw new StaQueryError(`${what}: ${d[0]} at character ${i + 1} is not a valid date.`)
      out.push({ t: 'time', v: ms, text: d[0], pos: i })
      i += d[0].length
      continue
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const n = NUMBER.exec(rest)
      // A lone '-' is unary minus, parsed as an operator below.
      if (n && !(c === '-' && out.length > 0 && isOperand(out[out.length - 1]!))) {
        const value = Number(n[0])
        if (!Number.isFinite(value)) throw new StaQueryError(`${what}: the number ${n[0].slice(0, 40)} at character ${i + 1} is out of range.`)
        out.push({ t: 'number', v: value, pos: i })
        i += n[0].length
        continue
      }
      if (c === '-') { out.push({ t: 'ident', v: '-', pos: i }); i++; continue }
    }
    const id = IDENT.exec(rest)
    if (id) {
      const word = id[0]
      const lower = word.toLowerCase()
      if ((lower === 'geography' || lower === 'geometry' || lower === 'duration') && text[i + word.length] === '\'') {
        const end = text.indexOf('\'', i + word.length + 1)
        if (end < 0) throw new StaQueryError(`${what}: the ${lower} literal at character ${i + 1} has no closing quote.`)
        out.push({ t: 'typed', kind: lower, v: text.slice(i + word.length + 1, end), pos: i })
        i = end + 1
        continue
      }
      out.push({ t: 'ident', v: word, pos: i })
      i += word.length
      continue
    }
    throw new StaQueryError(`${what}: unexpected character ${JSON.stringify(c)} at character ${i + 1}.`)
  }
  out.push({ t: 'end', pos: text.length })
  return out
}

function isOperand(t: Token): boolean {
  return t.t === 'number' || t.t === 'string' || t.t === 'time' || (t.t === 'punct' && t.v === ')') || (t.t === 'ident' && !OPERATOR_WORDS.has(t.v))
}

const OPERATOR_WORDS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'and', 'or', 'not', 'add', 'sub', 'mul', 'div', 'mod', '-'])
const COMPARISON = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])
const ADDITIVE = new Set(['add', 'sub'])
const MULTIPLICATIVE = new Set(['mul', 'div', 'mod'])

/** Functions of [OGC 18-088 Table 20] with their number of arguments. */
export const FUNCTIONS: Record<string, { min: number; max: number }> = {
  substringof: { min: 2, max: 2 }, endswith: { min: 2, max: 2 }, startswith: { min: 2, max: 2 }, contains: { min: 2, max: 2 },
  length: { min: 1, max: 1 }, indexof: { min: 2, max: 2 }, substring: { min: 2, max: 3 },
  tolower: { min: 1, max: 1 }, toupper: { min: 1, max: 1 }, trim: { min: 1, max: 1 }, concat: { min: 2, max: 2 },
  year: { min: 1, max: 1 }, month: { min: 1, max: 1 }, day: { min: 1, max: 1 }, hour: { min: 1, max: 1 }, minute: { min: 1, max: 1 },
  second: { min: 1, max: 1 }, fractionalseconds: { min: 1, max: 1 }, date: { min: 1, max: 1 }, time: { min: 1, max: 1 },
  totaloffsetminutes: { min: 1, max: 1 }, now: { min: 0, max: 0 }, mindatetime: { min: 0, max: 0 }, maxdatetime: { min: 0, max: 0 },
  round: { min: 1, max: 1 }, floor: { min: 1, max: 1 }, ceiling: { min: 1, max: 1 },
  'geo.distance': { min: 2, max: 2 }, 'geo.length': { min: 1, max: 1 }, 'geo.intersects': { min: 2, max: 2 },
  st_within: { min: 2, max: 2 }, st_intersects: { min: 2, max: 2 }, st_contains: { min: 2, max: 2 }, st_disjoint: { min: 2, max: 2 },
  st_equals: { min: 2, max: 2 },
}

class Parser {
  private i = 0
  private nodes = 0
  constructor(private readonly tokens: Token[], private readonly what: string) {}

  private peek(): Token { return this.tokens[this.i]! }
  private next(): Token { return this.tokens[this.i++]! }
  private at(t: Token): string { return t.t === 'end' ? 'at the end' : `at character ${t.pos + 1}` }
  private fail(message: string, t: Token = this.peek()): never { throw new StaQueryError(`${this.what}: ${message} ${this.at(t)}.`) }
  private word(v: string): boolean {
    const t = this.peek()
    return t.t === 'ident' && t.v === v
  }
  private node(depth: number): void {
    if (++this.nodes > PARSE_LIMITS.maxNodes) this.fail(`more than ${PARSE_LIMITS.maxNodes} terms`)
    if (depth > PARSE_LIMITS.maxDepth) this.fail(`nested deeper than ${PARSE_LIMITS.maxDepth} levels`)
  }

  expression(): Expr {
    const e = this.or(0)
    return e
  }

  finish(): void {
    const t = this.peek()
    if (t.t !== 'end') this.fail(`unexpected ${describe(t)}`)
  }

  /** The expression, then an optional `asc`/`desc` ($orderby items). */
  atEnd(): boolean { return this.peek().t === 'end' }
  isComma(): boolean { const t = this.peek(); return t.t === 'punct' && t.v === ',' }
  skip(): void { this.i++ }
  direction(): 'asc' | 'desc' | undefined {
    if (this.word('asc')) { this.i++; return 'asc' }
    if (this.word('desc')) { this.i++; return 'desc' }
    return undefined
  }

  private or(d: number): Expr {
    this.node(d)
    let left = this.and(d + 1)
    while (this.word('or')) { this.i++; left = { k: 'bin', op: 'or', left, right: this.and(d + 1) }; this.node(d) }
    return left
  }

  private and(d: number): Expr {
    this.node(d)
    let left = this.not(d + 1)
    while (this.word('and')) { this.i++; left = { k: 'bin', op: 'and', left, right: this.not(d + 1) }; this.node(d) }
    return left
  }

  private not(d: number): Expr {
    this.node(d)
    if (this.word('not')) { this.i++; return { k: 'not', e: this.not(d + 1) } }
    return this.comparison(d + 1)
  }

  private comparison(d: number): Expr {
    this.node(d)
    const left = this.additive(d + 1)
    const t = this.peek()
    if (t.t === 'ident' && COMPARISON.has(t.v)) {
      this.i++
      const right = this.additive(d + 1)
      const after = this.peek()
      if (after.t === 'ident' && COMPARISON.has(after.v)) this.fail(`comparisons cannot be chained (use and): "${after.v}"`, after)
      return { k: 'bin', op: t.v as BinaryOp, left, right }
    }
    return left
  }

  private additive(d: number): Expr {
    this.node(d)
    let left = this.multiplicative(d + 1)
    for (let t = this.peek(); t.t === 'ident' && ADDITIVE.has(t.v); t = this.peek()) {
      this.i++
      left = { k: 'bin', op: t.v as BinaryOp, left, right: this.multiplicative(d + 1) }
      this.node(d)
    }
    return left
  }

  private multiplicative(d: number): Expr {
    this.node(d)
    let left = this.unary(d + 1)
    for (let t = this.peek(); t.t === 'ident' && MULTIPLICATIVE.has(t.v); t = this.peek()) {
      this.i++
      left = { k: 'bin', op: t.v as BinaryOp, left, right: this.unary(d + 1) }
      this.node(d)
    }
    return left
  }

  private unary(d: number): Expr {
    this.node(d)
    if (this.word('-')) { this.i++; return { k: 'neg', e: this.unary(d + 1) } }
    return this.primary(d + 1)
  }

  private primary(d: number): Expr {
    this.node(d)
    const t = this.next()
    switch (t.t) {
      case 'string': return { k: 'lit', lit: { k: 'string', value: t.v } }
      case 'number': return { k: 'lit', lit: { k: 'number', value: t.v } }
      case 'time': return { k: 'lit', lit: { k: 'time', value: t.v, text: t.text } }
      case 'typed': return { k: 'lit', lit: t.kind === 'duration' ? { k: 'duration', ms: parseDuration(t.v, this.what) } : { k: 'geo', shape: parseWkt(t.v, this.what) } }
      case 'punct':
        if (t.v === '(') {
          const e = this.or(d + 1)
          const close = this.next()
          if (close.t !== 'punct' || close.v !== ')') this.fail('expected ")"', close)
          return e
        }
        return this.fail(`unexpected "${t.v}"`, t)
      case 'end': return this.fail('the expression ends too early', t)
      case 'ident': {
        const lower = t.v.toLowerCase()
        if (lower === 'true' || lower === 'false') return { k: 'lit', lit: { k: 'bool', value: lower === 'true' } }
        if (lower === 'null') return { k: 'lit', lit: { k: 'null' } }
        if (OPERATOR_WORDS.has(t.v)) return this.fail(`expected a value or a property before "${t.v}"`, t)
        const open = this.peek()
        if (open.t === 'punct' && open.v === '(') {
          const spec = FUNCTIONS[lower]
          if (!spec) return this.fail(`unknown function "${t.v}" (known: ${Object.keys(FUNCTIONS).join(', ')})`, t)
          this.i++
          const args: Expr[] = []
          if (!(this.peek().t === 'punct' && (this.peek() as { v: string }).v === ')')) {
            for (;;) {
              args.push(this.or(d + 1))
              const sep = this.next()
              if (sep.t === 'punct' && sep.v === ',') continue
              if (sep.t === 'punct' && sep.v === ')') break
              return this.fail(`expected "," or ")" in the arguments of ${t.v}`, sep)
            }
          } else this.i++
          if (args.length < spec.min || args.length > spec.max) this.fail(`${t.v} takes ${spec.min === spec.max ? spec.min : `${spec.min} to ${spec.max}`} argument(s), not ${args.length}`, t)
          return { k: 'call', name: lower, args }
        }
        const path = [t.v]
        while (this.peek().t === 'punct' && (this.peek() as { v: string }).v === '/') {
          this.i++
          const seg = this.next()
          if (seg.t !== 'ident' || OPERATOR_WORDS.has(seg.v)) this.fail('expected a property name after "/"', seg)
          path.push((seg as { v: string }).v)
          if (path.length > 6) this.fail('a property path longer than 6 segments')
        }
        return { k: 'prop', path }
      }
    }
  }
}

function describe(t: Token): string {
  switch (t.t) {
    case 'ident': return `"${t.v}"`
    case 'string': return `string '${t.v.slice(0, 30)}'`
    case 'number': return `number ${t.v}`
    case 'time': return `time ${t.text}`
    case 'typed': return `${t.kind} literal`
    case 'punct': return `"${t.v}"`
    case 'end': return 'end'
  }
}

/** `$filter`: one boolean expression. */
export function parseFilter(text: string): Expr {
  if (text.trim() === '') throw new StaQueryError('$filter is empty.')
  const p = new Parser(tokenize(text, '$filter'), '$filter')
  const e = p.expression()
  p.finish()
  return e
}

export interface OrderBy { expr: Expr; desc: boolean }

/** `$orderby`: expressions, each optionally `asc` or `desc`, separated by commas. */
export function parseOrderBy(text: string): OrderBy[] {
  if (text.trim() === '') throw new StaQueryError('$orderby is empty.')
  const p = new Parser(tokenize(text, '$orderby'), '$orderby')
  const out: OrderBy[] = []
  for (;;) {
    const expr = p.expression()
    out.push({ expr, desc: p.direction() === 'desc' })
    if (p.atEnd()) break
    if (!p.isComma()) p.finish()
    p.skip()
    if (out.length >= 8) throw new StaQueryError('$orderby: at most 8 sort keys.')
  }
  return out
}

/** `$select`: property names separated by commas. */
export function parseSelect(text: string): string[] {
  if (text.length > PARSE_LIMITS.maxOptionLength) throw new StaQueryError(`$select is too long (at most ${PARSE_LIMITS.maxOptionLength} characters).`)
  const names = text.split(',').map((s) => s.trim())
  for (const n of names) if (!/^[@A-Za-z][A-Za-z0-9_.@]{0,63}$/.test(n)) throw new StaQueryError(`$select: ${JSON.stringify(n.slice(0, 64))} is not a property name.`)
  return names
}

export interface ExpandItem {
  /** One navigation property; `Thing/Locations` becomes Thing with Locations expanded inside. */
  nav: string
  options: QueryOptions
  /**
   * The item's options as written (`$filter` to `result gt 1`, nested
   * `$expand` as text), so that an expanded collection's `@iot.nextLink`
   * asks for the next page with the same options.
   */
  text: Map<string, string>
}

export interface QueryOptions {
  filter?: Expr
  orderby?: OrderBy[]
  select?: string[]
  expand?: ExpandItem[]
  top?: number
  skip?: number
  count?: boolean
  resultFormat?: 'dataArray'
}

const KNOWN_OPTIONS = ['$filter', '$orderby', '$select', '$expand', '$top', '$skip', '$count', '$resultFormat'] as const

/** Splits at `sep` outside quotes and parentheses; unbalanced parentheses are an error. */
function splitTop(text: string, sep: string, what: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\'') quoted = !quoted
    else if (quoted) continue
    else if (c === '(') depth++
    else if (c === ')') { if (--depth < 0) throw new StaQueryError(`${what}: a ")" at character ${i + 1} closes nothing.`) }
    else if (c === sep && depth === 0) { parts.push(text.slice(start, i)); start = i + 1 }
  }
  if (quoted) throw new StaQueryError(`${what}: a string has no closing quote.`)
  if (depth !== 0) throw new StaQueryError(`${what}: a "(" is never closed.`)
  parts.push(text.slice(start))
  return parts
}

/** The counters one request's `$expand` tree shares. */
interface ExpandBudget { items: number }

export function parseExpand(text: string, depth = 1, budget: ExpandBudget = { items: 0 }): ExpandItem[] {
  if (text.length > PARSE_LIMITS.maxOptionLength) throw new StaQueryError(`$expand is too long (at most ${PARSE_LIMITS.maxOptionLength} characters).`)
  if (depth > PARSE_LIMITS.maxExpandDepth) throw new StaQueryError(`$expand is nested deeper than ${PARSE_LIMITS.maxExpandDepth} levels.`)
  const items: ExpandItem[] = []
  for (const raw of splitTop(text, ',', '$expand')) {
    const part = raw.trim()
    if (part === '') throw new StaQueryError('$expand has an empty item (two commas, or a comma at an end).')
    const open = part.indexOf('(')
    const pathText = open < 0 ? part : part.slice(0, open)
    let optionsText = ''
    if (open >= 0) {
      if (!part.endsWith(')')) throw new StaQueryError(`$expand: ${JSON.stringify(part.slice(0, 60))} has text after its ")".`)
      optionsText = part.slice(open + 1, -1)
    }
    const path = pathText.trim().split('/')
    for (const seg of path) if (!/^[A-Za-z][A-Za-z]{0,40}$/.test(seg)) throw new StaQueryError(`$expand: ${JSON.stringify(seg.slice(0, 60))} is not a navigation property.`)
    if (depth + path.length - 1 > PARSE_LIMITS.maxExpandDepth) throw new StaQueryError(`$expand is nested deeper than ${PARSE_LIMITS.maxExpandDepth} levels.`)
    budget.items += path.length
    if (budget.items > PARSE_LIMITS.maxExpandItems) throw new StaQueryError(`$expand names more than ${PARSE_LIMITS.maxExpandItems} navigation properties.`)
    const text = optionsText.trim() === '' ? new Map<string, string>() : optionMap(splitTop(optionsText, ';', '$expand'))
    const options = parseOptions(text, depth + path.length, budget)
    // Thing/Locations($top=1) is Thing($expand=Locations($top=1)).
    let item: ExpandItem = { nav: path[path.length - 1]!, options, text }
    for (let i = path.length - 2; i >= 0; i--) item = { nav: path[i]!, options: { expand: [item] }, text: new Map([['$expand', `${path.slice(i + 1).join('/')}${open < 0 ? '' : part.slice(open)}`]]) }
    const same = items.find((x) => x.nav === item.nav)
    if (same && path.length > 1 && Object.keys(same.options).every((k) => k === 'expand')) {
      same.options.expand = [...(same.options.expand ?? []), ...(item.options.expand ?? [])]
      same.text.set('$expand', [same.text.get('$expand'), item.text.get('$expand')].filter((x) => x !== undefined).join(','))
    } else if (same) throw new StaQueryError(`$expand names ${item.nav} twice.`)
    else items.push(item)
  }
  return items
}

function optionMap(pairs: string[]): Map<string, string> {
  const map = new Map<string, string>()
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq < 0) throw new StaQueryError(`$expand options: ${JSON.stringify(pair.trim().slice(0, 60))} is not name=value.`)
    const name = pair.slice(0, eq).trim()
    if (map.has(name)) throw new StaQueryError(`$expand options: ${name} is given twice.`)
    map.set(name, pair.slice(eq + 1))
  }
  return map
}

const MAX_INT = 2_147_483_647

function integer(name: string, text: string): number {
  if (!/^\d{1,10}$/.test(text.trim())) throw new StaQueryError(`${name} must be a non-negative integer, not ${JSON.stringify(text.slice(0, 40))}.`)
  const n = Number(text.trim())
  if (n > MAX_INT) throw new StaQueryError(`${name} ${n} is too large (at most ${MAX_INT}).`)
  return n
}

/** Parses the system query options of one request (or one `$expand` item, at `depth`). */
export function parseOptions(options: ReadonlyMap<string, string>, depth = 1, budget: ExpandBudget = { items: 0 }): QueryOptions {
  const out: QueryOptions = {}
  for (const [name, value] of options) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(name)) {
      throw new StaQueryError(`Unknown query option ${JSON.stringify(name.slice(0, 40))}; known: ${KNOWN_OPTIONS.join(', ')}.`)
    }
    switch (name) {
      case '$filter': out.filter = parseFilter(value); break
      case '$orderby': out.orderby = parseOrderBy(value); break
      case '$select': out.select = parseSelect(value); break
      case '$expand': out.expand = parseExpand(value, depth, budget); break
      case '$top': out.top = integer('$top', value); break
      case '$skip': out.skip = integer('$skip', value); break
      case '$count':
        if (value !== 'true' && value !== 'false') throw new StaQueryError(`$count must be true or false, not ${JSON.stringify(value.slice(0, 40))}.`)
        out.count = value === 'true'
        break
      case '$resultFormat':
        if (value !== 'dataArray') throw new StaQueryError(`$resultFormat must be dataArray, not ${JSON.stringify(value.slice(0, 40))}.`)
        out.resultFormat = 'dataArray'
        break
    }
  }
  return out
}

/**
 * The query string of a request as its options, each value percent-decoded
 * once. A malformed escape, a repeated option or an empty name is an error.
 */
export function splitQueryString(query: string): Map<string, string> {
  const out = new Map<string, string>()
  if (query === '') return out
  if (query.length > 8_000) throw new StaQueryError('The query string is longer than 8,000 characters.')
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const rawName = eq < 0 ? pair : pair.slice(0, eq)
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1)
    let name: string
    let value: string
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '))
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '))
    } catch {
      throw new StaQueryError(`The query string has a malformed percent escape in ${JSON.stringify(pair.slice(0, 60))}.`)
    }
    if (!name.startsWith('$')) continue
    if (out.has(name)) throw new StaQueryError(`${name} is given twice.`)
    out.set(name, value)
  }
  return out
}

/** ISO 8601 durations of days, hours, minutes and seconds (`P1D`, `PT15M`); months and years have no fixed length. */
function parseDuration(text: string, what: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text)
  if (!m || text === 'P' || text.endsWith('T')) throw new StaQueryError(`${what}: duration'${text.slice(0, 40)}' is not an ISO 8601 duration of days, hours, minutes and seconds (e.g. duration'P1DT2H').`)
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 + Number(m[4] ?? 0) * 1000
}

const COORD = /^\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s+(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$/

function coordinates(text: string, what: string): [number, number][] {
  return text.split(',').map((pair) => {
    const m = COORD.exec(pair)
    if (!m) throw new StaQueryError(`${what}: ${JSON.stringify(pair.trim().slice(0, 40))} is not a coordinate pair "x y".`)
    return [Number(m[1]), Number(m[2])]
  })
}

/** Well-Known Text of a point, a line or a polygon without holes, in WGS 84 (longitude latitude). */
function parseWkt(text: string, what: string): GeoShape {
  const t = text.trim().replace(/^SRID=4326;/i, '')
  let m = /^POINT\s*\(([^()]*)\)$/i.exec(t)
  if (m) {
    const c = coordinates(m[1]!, what)
    if (c.length !== 1) throw new StaQueryError(`${what}: a POINT has one coordinate pair.`)
    return { type: 'Point', coordinates: c[0]! }
  }
  m = /^LINESTRING\s*\(([^()]*)\)$/i.exec(t)
  if (m) {
    const c = coordinates(m[1]!, what)
    if (c.length < 2 || c.length > 1_000) throw new StaQueryError(`${what}: a LINESTRING has 2 to 1,000 points.`)
    return { type: 'LineString', coordinates: c }
  }
  m = /^POLYGON\s*\(\s*\(([^()]*)\)\s*\)$/i.exec(t)
  if (m) {
    const c = coordinates(m[1]!, what)
    if (c.length < 4 || c.length > 1_000) throw new StaQueryError(`${what}: a POLYGON ring has 4 to 1,000 points, the last the same as the first.`)
    const [a, b] = [c[0]!, c[c.length - 1]!]
    if (a[0] !== b[0] || a[1] !== b[1]) throw new StaQueryError(`${what}: a POLYGON ring must end where it starts.`)
    return { type: 'Polygon', coordinates: c }
  }
  throw new StaQueryError(`${what}: ${JSON.stringify(t.slice(0, 60))} is not WKT this service reads (POINT, LINESTRING, or POLYGON without holes).`)
}

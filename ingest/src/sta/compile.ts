/**
 * Compiles the parsed query (odata.ts) into one parameterised SQL statement
 * over the views of model.ts. Every literal from the request becomes a
 * parameter; identifiers come only from the entity model, never from the
 * request text. Type errors (a string compared with a number, an unknown
 * property, a collection in $orderby) are StaQueryErrors. A path through a
 * collection in $filter holds when any related entity satisfies its comparison.
 */
import { ENTITIES, type EntityDef, type NavDef, type PropDef, type PropType, observationSource } from './model.ts'
import { type Expr, type Literal, type OrderBy, type QueryOptions, StaQueryError } from './odata.ts'

export class Params {
  readonly values: unknown[] = []
  add(v: unknown): string {
    this.values.push(v)
    return `$${this.values.length}`
  }
}

type SqlType = PropType | 'bool' | 'null' | 'duration' | 'any'
interface Typed { sql: string; type: SqlType }

export interface CompileContext {
  params: Params
  maxTop: number
  /** Aliases are numbered per statement. */
  alias(): string
  /** Set while a $filter is compiled: paths through collections are allowed there (not in $orderby). */
  inFilter?: boolean
  /** The related rows of the comparison being compiled, when it goes through a collection. */
  any?: AnyScope
}

/**
 * The FROM items and join conditions of one comparison's EXISTS: each path
 * through a collection (`Datastreams/name`) joins its entities once per
 * comparison, so both sides of `Datastreams/name eq Datastreams/description`
 * speak of the same Datastream.
 */
interface AnyScope { from: string[]; on: string[]; joins: Map<string, string> }

export function newContext(params: Params, maxTop: number): CompileContext {
  let n = 0
  return { params, maxTop, alias: () => `e${n++}` }
}

const CMP: Record<string, string> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' }
const ARITH: Record<string, string> = { add: '+', sub: '-', mul: '*', div: '/', mod: '%' }

function literal(ctx: CompileContext, lit: Literal): Typed {
  switch (lit.k) {
    case 'string': return { sql: `${ctx.params.add(lit.value)}::text`, type: 'string' }
    case 'number': return { sql: `${ctx.params.add(lit.value)}::float8`, type: 'number' }
    case 'bool': return { sql: lit.value ? 'TRUE' : 'FALSE', type: 'bool' }
    case 'null': return { sql: 'NULL', type: 'null' }
    case 'time': return { sql: `${ctx.params.add(new Date(lit.value).toISOString())}::timestamptz`, type: 'time' }
    case 'duration': return { sql: `(${ctx.params.add(lit.ms)}::float8 * interval '1 millisecond')`, type: 'duration' }
    case 'geo': {
      const s = lit.shape
      if (s.type === 'Point') return { sql: `point(${ctx.params.add(s.coordinates[0])}::float8, ${ctx.params.add(s.coordinates[1])}::float8)`, type: 'geo' }
      const text = `(${s.coordinates.map(([x, y]) => `(${x},${y})`).join(',')})`
      return { sql: `${ctx.params.add(text)}::${s.type === 'Polygon' ? 'polygon' : 'path'}`, type: s.type === 'Polygon' ? 'json' : 'json' }
    }
  }
}

/** Whether `path` on `entity` goes through a collection (a to-many navigation) before its property. */
function throughCollection(entity: EntityDef, path: string[]): boolean {
  let e = entity
  for (const seg of path) {
    const nav = e.navs[seg]
    if (!nav) return false
    if (nav.many) return true
    e = ENTITIES[nav.target]
  }
  return false
}

/**
 * A property path on the entity at alias `a`: a property, `properties/...`
 * inside JSON, a to-one navigation (a scalar subquery), or a path through a
 * collection, whose entities join the comparison's EXISTS (`ctx.any`).
 */
function property(ctx: CompileContext, entity: EntityDef, a: string, path: string[]): Typed {
  const [head, ...rest] = path
  const prop: PropDef | undefined = entity.props[head!]
  if (prop) {
    if (rest.length === 0) {
      if (prop.type === 'id') return { sql: entity.idType === 'number' ? `${prop.sql(a)}::float8` : prop.sql(a), type: entity.idType === 'number' ? 'number' : 'string' }
      return { sql: prop.sql(a), type: prop.type }
    }
    if (prop.type !== 'json') throw new StaQueryError(`${entity.name}/${head} has no member ${rest.join('/')}.`)
    return { sql: `(${prop.sql(a)}::jsonb #> ${ctx.params.add(rest)}::text[])`, type: 'any' }
  }
  const nav: NavDef | undefined = entity.navs[head!]
  if (nav) {
    if (rest.length === 0) throw new StaQueryError(`$filter: ${head} is ${nav.many ? 'a collection' : 'an entity'}; name one of its properties (${head}/@iot.id, ${head}/name, ...).`)
    const target = ENTITIES[nav.target]
    if (!nav.many && !throughCollection(target, rest)) {
      const b = ctx.alias()
      const inner = property(ctx, target, b, rest)
      return { sql: `(SELECT ${inner.sql} FROM ${target.view} ${b} WHERE ${nav.on!(b, a)} LIMIT 1)`, type: inner.type }
    }
    if (!ctx.inFilter || !ctx.any) {
      throw new StaQueryError(`$orderby: ${entity.name}/${path.join('/')} goes through a collection; sort by a property of the entity or of a single entity it links to (Datastream/name, Thing/name).`)
    }
    // Any related entity [OData 4.0 Part 2 5.1.1.10, as FROST-Server reads such paths]: joined once per comparison.
    const key = `${a}/${head}`
    let b = ctx.any.joins.get(key)
    if (!b) {
      b = ctx.alias()
      if (nav.datastream) {
        // Observations: each Datastream's rows walked in primary-key order (an index scan), stopped by the EXISTS at the first match.
        ctx.any.from.push(`LATERAL ${observationSource(nav.datastream('s', a), 'TRUE', 'o.phenomenon_time', 'ALL')} ${b}`)
      } else {
        ctx.any.from.push(`${target.view} ${b}`)
        ctx.any.on.push(nav.on!(b, a))
      }
      ctx.any.joins.set(key, b)
    }
    return property(ctx, target, b, rest)
  }
  throw new StaQueryError(`$filter: ${entity.name} has no property ${JSON.stringify(head)} (properties: ${Object.keys(entity.props).join(', ')}; navigation: ${Object.keys(entity.navs).join(', ')}).`)
}

/**
 * A comparison, a function call or a property used as a condition: when
 * its paths go through collections, it holds if any related entity makes
 * it hold, `EXISTS (SELECT 1 FROM <their views> WHERE <joins> AND <it>)`.
 * Nested inside another comparison it is that one's part.
 */
function anyOf(ctx: CompileContext, compile: () => Typed): Typed {
  if (!ctx.inFilter || ctx.any) return compile()
  const scope: AnyScope = { from: [], on: [], joins: new Map() }
  ctx.any = scope
  let t: Typed
  try {
    t = compile()
  } finally {
    ctx.any = undefined
  }
  if (scope.from.length === 0) return t
  if (t.type !== 'bool' && t.type !== 'any') throw new StaQueryError(`$filter: a path through a collection must be compared (e.g. Datastreams/name eq 'x'); this is a ${describeType(t.type)}, not a condition.`)
  const where = [...scope.on, coerce(t, 'bool').sql].join(' AND ')
  return { sql: `EXISTS (SELECT 1 FROM ${scope.from.join(', ')} WHERE ${where})`, type: 'bool' }
}

/** A JSON member (type any) seen as the type the other side of a comparison has. */
function coerce(x: Typed, want: SqlType): Typed {
  if (x.type !== 'any') return x
  switch (want) {
    case 'number': return { sql: `(CASE WHEN jsonb_typeof(${x.sql}) = 'number' THEN (${x.sql} #>> '{}')::float8 END)`, type: 'number' }
    case 'bool': return { sql: `(CASE WHEN jsonb_typeof(${x.sql}) = 'boolean' THEN (${x.sql} #>> '{}')::boolean END)`, type: 'bool' }
    default: return { sql: `(CASE WHEN jsonb_typeof(${x.sql}) IN ('string', 'number', 'boolean') THEN ${x.sql} #>> '{}' END)`, type: 'string' }
  }
}

function expect(x: Typed, type: SqlType, what: string): Typed {
  const y = coerce(x, type)
  if (y.type === 'interval' && type === 'time') return { sql: y.sql, type: 'time' }
  if (y.type !== type) throw new StaQueryError(`$filter: ${what} needs a ${type}, not a ${describeType(y.type)}.`)
  return y
}

function describeType(t: SqlType): string {
  return t === 'any' ? 'JSON member' : t === 'geo' ? 'geometry' : t === 'interval' ? 'time interval' : t
}

const TEMPORAL: Record<string, string> = { year: 'year', month: 'month', day: 'day', hour: 'hour', minute: 'minute', second: 'second' }

function call(ctx: CompileContext, entity: EntityDef, a: string, name: string, args: Expr[]): Typed {
  const arg = (i: number) => expr(ctx, entity, a, args[i]!)
  const str = (i: number) => expect(arg(i), 'string', `${name}'s argument ${i + 1}`).sql
  const num = (i: number) => expect(arg(i), 'number', `${name}'s argument ${i + 1}`).sql
  const tim = (i: number) => expect(arg(i), 'time', `${name}'s argument ${i + 1}`).sql
  const pointArg = (i: number) => {
    const g = arg(i)
    if (g.type !== 'geo') throw new StaQueryError(`$filter: ${name}'s argument ${i + 1} must be a location (location, feature, observedArea) or a geography'POINT(...)' literal.`)
    return g.sql
  }
  const shapeArg = (i: number) => {
    const e = args[i]!
    if (e.k !== 'lit' || e.lit.k !== 'geo') throw new StaQueryError(`$filter: ${name}'s argument ${i + 1} must be a geography'...' literal.`)
    return { shape: e.lit.shape, sql: literal(ctx, e.lit).sql }
  }
  switch (name) {
    case 'substringof': return { sql: `(strpos(${str(1)}, ${str(0)}) > 0)`, type: 'bool' }
    case 'contains': return { sql: `(strpos(${str(0)}, ${str(1)}) > 0)`, type: 'bool' }
    case 'startswith': return { sql: `starts_with(${str(0)}, ${str(1)})`, type: 'bool' }
    case 'endswith': return { sql: `(right(${str(0)}, length(${str(1)})) = ${str(1)})`, type: 'bool' }
    case 'length': return { sql: `length(${str(0)})::float8`, type: 'number' }
    case 'indexof': return { sql: `(strpos(${str(0)}, ${str(1)}) - 1)::float8`, type: 'number' }
    case 'substring': return args.length === 2
      ? { sql: `substr(${str(0)}, (${num(1)})::int + 1)`, type: 'string' }
      : { sql: `substr(${str(0)}, (${num(1)})::int + 1, greatest((${num(2)})::int, 0))`, type: 'string' }
    case 'tolower': return { sql: `lower(${str(0)})`, type: 'string' }
    case 'toupper': return { sql: `upper(${str(0)})`, type: 'string' }
    case 'trim': return { sql: `btrim(${str(0)})`, type: 'string' }
    case 'concat': return { sql: `(${str(0)} || ${str(1)})`, type: 'string' }
    case 'year': case 'month': case 'day': case 'hour': case 'minute': case 'second':
      return { sql: `extract(${TEMPORAL[name]} FROM (${tim(0)}) AT TIME ZONE 'UTC')::int::float8`, type: 'number' }
    case 'fractionalseconds': return { sql: `(extract(microseconds FROM (${tim(0)})) / 1e6 - floor(extract(second FROM (${tim(0)}))))::float8`, type: 'number' }
    case 'date': return { sql: `date_trunc('day', (${tim(0)}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`, type: 'time' }
    case 'time': return { sql: `to_char((${tim(0)}) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS')`, type: 'string' }
    case 'totaloffsetminutes': tim(0); return { sql: '0::float8', type: 'number' }
    case 'now': return { sql: 'now()', type: 'time' }
    case 'mindatetime': return { sql: `'-infinity'::timestamptz`, type: 'time' }
    case 'maxdatetime': return { sql: `'infinity'::timestamptz`, type: 'time' }
    case 'round': return { sql: `round(${num(0)})`, type: 'number' }
    case 'floor': return { sql: `floor(${num(0)})`, type: 'number' }
    case 'ceiling': return { sql: `ceiling(${num(0)})`, type: 'number' }
    case 'geo.distance': return { sql: `(${pointArg(0)} <-> ${pointArg(1)})`, type: 'number' }
    case 'geo.length': {
      const s = shapeArg(0)
      if (s.shape.type !== 'LineString') throw new StaQueryError('$filter: geo.length takes a geography\'LINESTRING(...)\'.')
      return { sql: `length(${s.sql})`, type: 'number' }
    }
    case 'st_within': case 'st_intersects': case 'geo.intersects': case 'st_disjoint': case 'st_contains': case 'st_equals': {
      const [pi, si] = name === 'st_contains' ? [1, 0] : [0, 1]
      const p = pointArg(pi)
      const e = args[si]!
      if (e.k === 'lit' && e.lit.k === 'geo' && e.lit.shape.type === 'Point') {
        const q = literal(ctx, e.lit).sql
        const same = `(${p} ~= ${q})`
        return { sql: name === 'st_disjoint' ? `(NOT ${same})` : same, type: 'bool' }
      }
      const s = shapeArg(si)
      if (s.shape.type !== 'Polygon') throw new StaQueryError(`$filter: ${name} compares a location with a POINT or a POLYGON.`)
      if (name === 'st_equals') return { sql: 'FALSE', type: 'bool' }
      const inside = `(${s.sql} @> ${p})`
      return { sql: name === 'st_disjoint' ? `(NOT ${inside})` : inside, type: 'bool' }
    }
  }
  throw new StaQueryError(`$filter: the function ${name} is not implemented.`)
}

export function expr(ctx: CompileContext, entity: EntityDef, a: string, e: Expr): Typed {
  switch (e.k) {
    case 'lit': return literal(ctx, e.lit)
    case 'prop': return anyOf(ctx, () => property(ctx, entity, a, e.path))
    case 'not': return { sql: `(NOT ${expect(expr(ctx, entity, a, e.e), 'bool', 'not').sql})`, type: 'bool' }
    case 'neg': return { sql: `(- ${expect(expr(ctx, entity, a, e.e), 'number', 'unary minus').sql})`, type: 'number' }
    case 'call': return anyOf(ctx, () => call(ctx, entity, a, e.name, e.args))
    case 'bin': {
      // A comparison through collections is compiled again inside its EXISTS.
      if (e.op in CMP && ctx.inFilter && !ctx.any) return anyOf(ctx, () => expr(ctx, entity, a, e))
      if (e.op === 'and' || e.op === 'or') {
        const l = expect(expr(ctx, entity, a, e.left), 'bool', e.op)
        const r = expect(expr(ctx, entity, a, e.right), 'bool', e.op)
        return { sql: `(${l.sql} ${e.op.toUpperCase()} ${r.sql})`, type: 'bool' }
      }
      let l = expr(ctx, entity, a, e.left)
      let r = expr(ctx, entity, a, e.right)
      if (e.op in ARITH) {
        if ((l.type === 'time' || l.type === 'interval') && r.type === 'duration' && (e.op === 'add' || e.op === 'sub')) return { sql: `(${l.sql} ${ARITH[e.op]} ${r.sql})`, type: 'time' }
        l = expect(l, 'number', e.op)
        r = expect(r, 'number', e.op)
        // Division by zero is NULL (no row matches), not a database error.
        if (e.op === 'div' || e.op === 'mod') return { sql: `(${e.op === 'mod' ? `mod(${l.sql}::numeric, nullif(${r.sql}, 0)::numeric)::float8` : `${l.sql} / nullif(${r.sql}, 0)`})`, type: 'number' }
        return { sql: `(${l.sql} ${ARITH[e.op]} ${r.sql})`, type: 'number' }
      }
      const op = CMP[e.op]!
      if (l.type === 'null' || r.type === 'null') {
        const other = l.type === 'null' ? r : l
        if (e.op !== 'eq' && e.op !== 'ne') throw new StaQueryError(`$filter: null can only be compared with eq or ne.`)
        const sql = other.type === 'any' ? `(${other.sql} IS NULL OR jsonb_typeof(${other.sql}) = 'null')` : `(${other.sql} IS NULL)`
        return { sql: e.op === 'eq' ? sql : `(NOT ${sql})`, type: 'bool' }
      }
      if (l.type === 'any' && r.type === 'any') { l = coerce(l, 'string'); r = coerce(r, 'string') }
      l = coerce(l, r.type)
      r = coerce(r, l.type)
      const norm = (t: SqlType) => (t === 'interval' ? 'time' : t)
      if (norm(l.type) !== norm(r.type)) throw new StaQueryError(`$filter: cannot compare a ${describeType(l.type)} with a ${describeType(r.type)} (${e.op}).`)
      if (l.type === 'geo' || l.type === 'json' || l.type === 'duration') throw new StaQueryError(`$filter: ${describeType(l.type)} values cannot be compared with ${e.op}; use geo.distance, st_within or a member of the object.`)
      return { sql: `(${l.sql} ${op} ${r.sql})`, type: 'bool' }
    }
  }
}

export function filterSql(ctx: CompileContext, entity: EntityDef, a: string, e: Expr | undefined): string {
  if (!e) return 'TRUE'
  const outer = ctx.inFilter
  ctx.inFilter = true
  let t: Typed
  try {
    t = expr(ctx, entity, a, e)
  } finally {
    ctx.inFilter = outer
  }
  if (t.type !== 'bool' && t.type !== 'any') throw new StaQueryError(`$filter must be a condition (true or false), not a ${describeType(t.type)}.`)
  return coerce(t, 'bool').sql
}

export function orderSql(ctx: CompileContext, entity: EntityDef, a: string, orderby: OrderBy[] | undefined, withinDatastream = false): string {
  const keys = (orderby ?? []).map((o) => {
    const t = expr(ctx, entity, a, o.expr)
    if (t.type === 'geo' || t.type === 'json') throw new StaQueryError(`$orderby: ${describeType(t.type)} values cannot be ordered.`)
    // PostgreSQL's default null placement (last ascending, first descending) is the btree's order, so
    // phenomenonTime desc walks the primary key backwards instead of sorting.
    return `${t.type === 'any' ? `(${t.sql} #>> '{}')` : t.sql} ${o.desc ? 'DESC' : 'ASC'}`
  })
  // A unique tie-break keeps pages stable; within one Datastream the time is unique (the table's key).
  const tie = withinDatastream ? [`${a}.phenomenon_time`] : entity.defaultOrder(a)
  const asked = new Set((orderby ?? []).map((o) => (o.expr.k === 'prop' && o.expr.path.length === 1 && o.expr.path[0] === 'phenomenonTime' ? `${a}.phenomenon_time` : '')))
  return [...keys, ...tie.filter((k) => !asked.has(k)).map((k) => `${k} ASC`)].join(', ')
}

/** A request's options after the server's defaults. */
export interface Plan {
  entity: EntityDef
  options: QueryOptions
  top: number
  skip: number
  select: string[]
  /** Each expansion with its options as written (for its @iot.nextLink). */
  expand: { nav: string; navDef: NavDef; plan: Plan; text: ReadonlyMap<string, string> }[]
}

export function plan(entity: EntityDef, options: QueryOptions, maxTop: number, defaultTop: number): Plan {
  const top = Math.min(options.top ?? defaultTop, maxTop)
  const select = options.select ?? Object.keys(entity.props)
  for (const s of select) {
    if (!entity.props[s] && !entity.navs[s]) throw new StaQueryError(`$select: ${entity.name} has no property ${JSON.stringify(s)} (properties: ${Object.keys(entity.props).join(', ')}).`)
  }
  const expand = (options.expand ?? []).map((item) => {
    const navDef = entity.navs[item.nav]
    if (!navDef) throw new StaQueryError(`$expand: ${entity.name} has no navigation property ${JSON.stringify(item.nav)} (it has ${Object.keys(entity.navs).join(', ')}).`)
    if (!navDef.many && (item.options.top !== undefined || item.options.skip !== undefined || item.options.orderby || item.options.count !== undefined)) {
      throw new StaQueryError(`$expand: ${item.nav} is a single entity; $top, $skip, $orderby and $count apply to collections.`)
    }
    return { nav: item.nav, navDef, plan: plan(ENTITIES[navDef.target], item.options, maxTop, defaultTop), text: item.text }
  })
  return { entity, options, top, skip: options.skip ?? 0, select, expand }
}

/** `json_build_object(...)` of one entity at alias `a`, its selected properties, @iot.id, and its expansions. */
export function jsonOf(ctx: CompileContext, p: Plan, a: string): string {
  const parts: string[] = [`'@iot.id', ${a}.id`]
  for (const name of p.select) {
    const prop = p.entity.props[name]
    if (!prop || name === '@iot.id') continue
    parts.push(`${ctx.params.add(name)}::text, ${(prop.json ?? prop.sql)(a)}`)
  }
  for (const x of p.expand) {
    const inner = collection(ctx, x.plan, x.navDef, a, x.navDef.many ? x.plan.top + 1 : 1, x.navDef.many ? x.plan.skip : 0)
    parts.push(`${ctx.params.add(x.nav)}::text, ${x.navDef.many ? `(SELECT coalesce(json_agg(x.j), '[]'::json) FROM (${inner}) x)` : `(SELECT x.j FROM (${inner}) x)`}`)
    if (x.navDef.many && x.plan.options.count) parts.push(`${ctx.params.add(`${x.nav}@iot.count`)}::text, (${countOf(ctx, x.plan, x.navDef, a)})`)
  }
  // json_build_object takes at most 100 arguments.
  const chunks: string[] = []
  for (let i = 0; i < parts.length; i += 40) chunks.push(`jsonb_build_object(${parts.slice(i, i + 40).join(', ')})`)
  return chunks.join(' || ')
}

/**
 * The conditions of an Observations query: on the Datastream (alias `s`,
 * once per Datastream) and on its rows (alias `o`). The conjuncts of the
 * $filter that speak only of the Observation's Datastream
 * (`Datastream/Thing/Datastreams/name eq 'x'`) are moved to the Datastream,
 * so that they are not evaluated again for each row.
 */
function observationWhere(ctx: CompileContext, p: Plan, nav: NavDef | undefined, parentAlias: string | undefined, extraWhere: ((a: string) => string) | undefined, dsRestrict: string | undefined): { restrict: string; where: string } {
  const restrict = dsRestrict ?? (nav?.datastream && parentAlias ? nav.datastream('s', parentAlias) : 'TRUE')
  const ofDatastream: Expr[] = []
  const ofRows: Expr[] = []
  for (const c of conjuncts(p.options.filter)) (onlyDatastream(c) ? ofDatastream : ofRows).push(c)
  const both = (list: Expr[]) => list.reduce<Expr | undefined>((acc, e) => (acc ? { k: 'bin', op: 'and', left: acc, right: e } : e), undefined)
  const dsFilter = both(ofDatastream.map(stripDatastream))
  return {
    restrict: `${restrict} AND ${filterSql(ctx, ENTITIES.Datastream, 's', dsFilter)}`,
    where: `${filterSql(ctx, p.entity, 'o', both(ofRows))} AND ${extraWhere ? extraWhere('o') : 'TRUE'}`,
  }
}

function conjuncts(e: Expr | undefined): Expr[] {
  if (!e) return []
  return e.k === 'bin' && e.op === 'and' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e]
}

/** Whether every property in `e` is a path through the Observation's Datastream (and there is one). */
function onlyDatastream(e: Expr): boolean {
  let props = 0
  const walk = (x: Expr): boolean => {
    switch (x.k) {
      case 'prop': props++; return x.path.length > 1 && x.path[0] === 'Datastream'
      case 'lit': return true
      case 'not': case 'neg': return walk(x.e)
      case 'call': return x.args.every(walk)
      case 'bin': return walk(x.left) && walk(x.right)
    }
  }
  return walk(e) && props > 0
}

function stripDatastream(e: Expr): Expr {
  switch (e.k) {
    case 'prop': return { k: 'prop', path: e.path.slice(1) }
    case 'lit': return e
    case 'not': case 'neg': return { ...e, e: stripDatastream(e.e) }
    case 'call': return { ...e, args: e.args.map(stripDatastream) }
    case 'bin': return { ...e, left: stripDatastream(e.left), right: stripDatastream(e.right) }
  }
}

/**
 * One page of an entity set: `SELECT j FROM ...`, restricted to the children
 * of `parentAlias` through `nav` when given (an expansion, or the last
 * segment of a path), else by `where` alone.
 */
export function collection(ctx: CompileContext, p: Plan, nav: NavDef | undefined, parentAlias: string | undefined, limit: number, offset: number, extraWhere?: (a: string) => string, dsRestrict?: string): string {
  const a = ctx.alias()
  const lim = ctx.params.add(limit)
  const off = ctx.params.add(offset)
  if (p.entity.name === 'Observation') {
    // Filtered, ordered and cut per Datastream inside the LATERAL (alias o), then merged.
    const { restrict, where } = observationWhere(ctx, p, nav, parentAlias, extraWhere, dsRestrict)
    const source = observationSource(restrict, where, orderSql(ctx, p.entity, 'o', p.options.orderby, true), ctx.params.add(limit + offset))
    return `SELECT ${jsonOf(ctx, p, a)} AS j FROM ${source} ${a} ORDER BY ${orderSql(ctx, p.entity, a, p.options.orderby)} LIMIT ${lim} OFFSET ${off}`
  }
  const filter = filterSql(ctx, p.entity, a, p.options.filter)
  const extra = extraWhere ? extraWhere(a) : 'TRUE'
  const order = orderSql(ctx, p.entity, a, p.options.orderby)
  const on = nav?.on && parentAlias ? nav.on(a, parentAlias) : 'TRUE'
  return `SELECT ${jsonOf(ctx, p, a)} AS j FROM ${p.entity.view} ${a} WHERE ${on} AND ${filter} AND ${extra} ORDER BY ${order} LIMIT ${lim} OFFSET ${off}`
}

/** `count(*)` of what `collection` pages through, at most `cap` + 1 rows read. */
export function countOf(ctx: CompileContext, p: Plan, nav: NavDef | undefined, parentAlias: string | undefined, cap: number | null = 1_000_000, extraWhere?: (a: string) => string, dsRestrict?: string): string {
  // cap null: the rows themselves, uncounted, for EXPLAIN's estimate.
  const c = cap === null ? 'ALL' : ctx.params.add(cap + 1)
  const wrap = (rows: string) => (cap === null ? rows : `SELECT count(*)::float8 FROM (${rows} LIMIT ${c}) n`)
  if (p.entity.name === 'Observation') {
    const { restrict, where } = observationWhere(ctx, p, nav, parentAlias, extraWhere, dsRestrict)
    const source = observationSource(restrict, where, 'o.phenomenon_time', c)
    return wrap(`SELECT 1 FROM ${source} n0`)
  }
  const a = ctx.alias()
  const filter = filterSql(ctx, p.entity, a, p.options.filter)
  const extra = extraWhere ? extraWhere(a) : 'TRUE'
  const on = nav?.on && parentAlias ? nav.on(a, parentAlias) : 'TRUE'
  return wrap(`SELECT 1 FROM ${p.entity.view} ${a} WHERE ${on} AND ${filter} AND ${extra}`)
}

/**
 * Whether an Observations $filter bounds the rows it reads: a conjunct that
 * compares phenomenonTime or resultTime with a value, or names a Datastream.
 */
export function boundsObservations(e: Expr | undefined): boolean {
  if (!e) return false
  if (e.k === 'bin' && e.op === 'and') return boundsObservations(e.left) || boundsObservations(e.right)
  if (e.k === 'bin' && e.op in CMP) {
    const isTime = (x: Expr) => x.k === 'prop' && x.path.length === 1 && (x.path[0] === 'phenomenonTime' || x.path[0] === 'resultTime')
    const isDs = (x: Expr) => x.k === 'prop' && x.path[0] === 'Datastream' && x.path[1] === '@iot.id'
    const isLit = (x: Expr) => x.k === 'lit' || (x.k === 'call' && x.name === 'now') || (x.k === 'bin' && x.op in ARITH)
    if ((isTime(e.left) && isLit(e.right)) || (isTime(e.right) && isLit(e.left))) return e.op !== 'ne'
    if (e.op === 'eq' && ((isDs(e.left) && e.right.k === 'lit') || (isDs(e.right) && e.left.k === 'lit'))) return true
  }
  return false
}

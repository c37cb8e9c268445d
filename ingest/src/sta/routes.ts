import { createHash } from 'node:crypto'
import type { Logger } from '@gridline/core'
import { defaultCatalogue } from '@gridline/schemas'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type pg from 'pg'
import type { Registry } from 'prom-client'
import { type CompileContext, Params, type Plan, boundsObservations, collection, countOf, newContext, plan } from './compile.ts'
import type { StaConfig } from './config.ts'
import { ENTITIES, type EntityDef, type NavDef, SETS, observationSource, withViews } from './model.ts'
import { createStaMetrics, refusalOf, statusClass } from './metrics.ts'
import { type QueryOptions, StaQueryError, parseOptions, splitQueryString } from './odata.ts'

export const STA_PREFIX = '/sta/v1.1'

/** Units and descriptions of the indicators served as Datastreams. */
const INDICATOR_INFO: Record<string, { unit: string; description: string }> = {
  vn_aqi_hourly: { unit: 'VN_AQI', description: 'the hourly Vietnamese air quality index (Decision 1459/QĐ-TCMT)' },
  vn_aqi_daily: { unit: 'VN_AQI', description: 'the daily Vietnamese air quality index (Decision 1459/QĐ-TCMT)' },
  us_aqi: { unit: 'US AQI', description: 'the US EPA air quality index (NowCast)' },
  traffic_los: { unit: 'LOS (1 = A ... 6 = F)', description: 'the level of service of a road segment (HCM)' },
  flood_level: { unit: 'alert level', description: 'the flood alert level of a gauge (báo động I, II, III)' },
  flood_rise_rate: { unit: 'm/h', description: 'the rise rate of a water level' },
  night_flow_min: { unit: 'm3/h', description: 'the minimum night flow of a metered area' },
}

const CONFORMANCE = [
  'http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/request-data',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array',
]

interface Segment { name: string; key?: string | number }

/** The resource path after /sta/v1.1 [OGC 18-088 9.2]. */
function parsePath(raw: string): { segments: Segment[]; property?: string; value: boolean; ref: boolean } {
  let path: string
  try {
    path = decodeURIComponent(raw)
  } catch {
    throw new StaQueryError('The path has a malformed percent escape.')
  }
  const parts: string[] = []
  let cur = ''
  let quoted = false
  for (const c of path) {
    if (c === '\'') quoted = !quoted
    if (c === '/' && !quoted) { parts.push(cur); cur = '' } else cur += c
  }
  parts.push(cur)
  const names = parts.filter((p, i) => !(p === '' && i === parts.length - 1))
  if (names.length > 8) throw new StaQueryError('The path has more than 8 segments.')
  const segments: Segment[] = []
  let property: string | undefined
  let value = false
  let ref = false
  for (const [i, part] of names.entries()) {
    if (part === '$value') { if (i === 0 || i !== names.length - 1) throw new StaQueryError('$value follows a property, at the end of the path.'); value = true; continue }
    if (part === '$ref') { if (property || i !== names.length - 1) throw new StaQueryError('$ref follows an entity set or a navigation property, at the end of the path.'); ref = true; continue }
    const m = /^([A-Za-z@][A-Za-z.@]*)(?:\((.*)\))?$/s.exec(part)
    if (!m) throw new StaQueryError(`The path segment ${JSON.stringify(part.slice(0, 60))} is not an entity set, a navigation property or a property.`)
    if (property) throw new StaQueryError(`Nothing follows the property ${property} but $value.`)
    const key = m[2] === undefined ? undefined : parseKey(m[2])
    segments.push({ name: m[1]!, ...(key !== undefined ? { key } : {}) })
  }
  // The last segment may be a property of the entity before it.
  return { segments, ...(property ? { property } : {}), value, ref }
}

function parseKey(text: string): string | number {
  if (/^\d{1,15}$/.test(text)) return Number(text)
  const m = /^'((?:[^']|'')*)'$/s.exec(text)
  if (!m) throw new StaQueryError(`The key ${JSON.stringify(text.slice(0, 60))} is neither an integer nor a quoted string.`)
  if (m[1]!.length > 200) throw new StaQueryError('A key is at most 200 characters.')
  return m[1]!.replace(/''/g, '\'')
}

/** `17-1764370000000`: the Datastream and the phenomenon time in epoch milliseconds. */
function observationKey(key: string | number): { ds: number; ms: number } | undefined {
  const m = /^(\d{1,15})-(-?\d{1,16})$/.exec(String(key))
  return m ? { ds: Number(m[1]), ms: Number(m[2]) } : undefined
}

function keyLiteral(entity: EntityDef, id: unknown): string {
  return entity.idType === 'number' && typeof id === 'number' ? String(id) : `'${String(id).replace(/'/g, '\'\'')}'`
}

interface Resolved {
  entity: EntityDef
  /** A single entity (a key, or a to-one navigation). */
  single: boolean
  /** Restriction of the last segment over its alias; Observations: over o, with `ds` over s. */
  where: (ctx: CompileContext, a: string) => string
  ds?: (ctx: CompileContext) => string
  /** The property after it, if any. */
  property?: string
}

/** Turns the path into the entity it names and a condition over its alias. */
function resolve(segments: Segment[]): Resolved {
  if (segments.length === 0) throw new StaQueryError('No entity set named.')
  const first = segments[0]!
  const root = SETS[first.name]
  if (!root) throw new StaQueryError(`${JSON.stringify(first.name.slice(0, 40))} is not an entity set (${Object.keys(SETS).join(', ')}).`)
  interface Step { entity: EntityDef; nav?: NavDef; key?: string | number; single: boolean }
  const steps: Step[] = [{ entity: root, ...(first.key !== undefined ? { key: first.key } : {}), single: first.key !== undefined }]
  let property: string | undefined
  for (const [i, seg] of segments.slice(1).entries()) {
    const prev = steps[steps.length - 1]!
    if (!prev.single) throw new StaQueryError(`${prev.entity.set} needs a key, e.g. ${prev.entity.set}(${prev.entity.idType === 'number' ? '1' : '\'id\''}), before /${seg.name}.`)
    const nav = prev.entity.navs[seg.name]
    if (nav) {
      if (!nav.many && seg.key !== undefined) throw new StaQueryError(`${seg.name} is a single entity; it takes no key.`)
      steps.push({ entity: ENTITIES[nav.target], nav, ...(seg.key !== undefined ? { key: seg.key } : {}), single: !nav.many || seg.key !== undefined })
      continue
    }
    if (prev.entity.props[seg.name] && i === segments.length - 2 && seg.key === undefined) { property = seg.name; continue }
    throw new StaQueryError(`${prev.entity.name} has no property or navigation ${JSON.stringify(seg.name.slice(0, 40))} (properties: ${Object.keys(prev.entity.props).join(', ')}; navigation: ${Object.keys(prev.entity.navs).join(', ')}).`)
  }
  const keyCond = (ctx: CompileContext, step: Step, a: string): string => {
    if (step.key === undefined) return 'TRUE'
    if (step.entity.name === 'Observation') {
      const k = observationKey(step.key)
      if (!k) return 'FALSE'
      return `${a}.datastream_id = ${ctx.params.add(k.ds)}::bigint AND ${a}.phenomenon_time >= to_timestamp(${ctx.params.add(k.ms)}::float8 / 1000) AND ${a}.phenomenon_time < to_timestamp((${ctx.params.add(k.ms)}::float8 + 1) / 1000)`
    }
    if (step.entity.idType === 'number') return typeof step.key === 'number' ? `${a}.id = ${ctx.params.add(step.key)}::bigint` : 'FALSE'
    return `${a}.id = ${ctx.params.add(String(step.key))}::text`
  }
  // reach(k, a): alias a of step k is reachable along the path.
  const reach = (ctx: CompileContext, k: number, a: string): string => {
    const step = steps[k]!
    const own = keyCond(ctx, step, a)
    if (k === 0) return own
    const parent = steps[k - 1]!
    const b = ctx.alias()
    if (parent.entity.name === 'Observation') {
      const pk = observationKey(parent.key!)
      if (!pk) return 'FALSE'
      const src = observationSource(`s.id = ${ctx.params.add(pk.ds)}::bigint`, keyCond(ctx, parent, 'o'), 'o.phenomenon_time', '1')
      return `${own} AND EXISTS (SELECT 1 FROM ${src} ${b} WHERE ${step.nav!.on!(a, b)})`
    }
    if (step.entity.name === 'Observation') {
      // Only as the last step with a key: its Datastream along the path.
      return `${own} AND EXISTS (SELECT 1 FROM ${parent.entity.view} ${b} WHERE ${step.nav!.datastream!('s', b)} AND ${reach(ctx, k - 1, b)})`
    }
    return `${own} AND EXISTS (SELECT 1 FROM ${parent.entity.view} ${b} WHERE ${step.nav!.on!(a, b)} AND ${reach(ctx, k - 1, b)})`
  }
  const last = steps.length - 1
  const target = steps[last]!
  if (target.entity.name === 'Observation') {
    const dsSteps = (ctx: CompileContext): string => {
      const parts: string[] = []
      if (target.key !== undefined) {
        const k = observationKey(target.key)
        parts.push(k ? `s.id = ${ctx.params.add(k.ds)}::bigint` : 'FALSE')
      }
      if (last > 0) {
        const parent = steps[last - 1]!
        const b = ctx.alias()
        parts.push(`EXISTS (SELECT 1 FROM ${parent.entity.view} ${b} WHERE ${target.nav!.datastream!('s', b)} AND ${reach(ctx, last - 1, b)})`)
      }
      return parts.length ? parts.join(' AND ') : 'TRUE'
    }
    return { entity: target.entity, single: target.single, where: (ctx, a) => keyCond(ctx, target, a), ds: dsSteps, ...(property ? { property } : {}) }
  }
  return { entity: target.entity, single: target.single, where: (ctx, a) => reach(ctx, last, a), ...(property ? { property } : {}) }
}

export interface StaDeps {
  pool: pg.Pool
  logger: Logger
  /** The service's /metrics registry; without it the metrics are kept but exported nowhere. */
  registry?: Registry
}

/** The views' parameters (catalogue, indicators, what is open) for a config: the same for every request. */
function viewsOf(config: StaConfig): (params: Params) => string {
  const catalogue = defaultCatalogue()
  const rules = config.open
  const catalogueRows = [...catalogue.domains.values()].flatMap((d) => d.metrics.map((m) => ({ domain: d.domain, metric: m.name, unit: m.unit, description: m.description })))
  const indicatorRows = config.indicators.map((name) => ({ name, unit: INDICATOR_INFO[name]?.unit ?? '', description: INDICATOR_INFO[name]?.description ?? name.replace(/_/g, ' ') }))
  const catalogueJson = JSON.stringify(catalogueRows)
  const indicatorJson = JSON.stringify(indicatorRows)
  const domainsAll = rules.filter((r) => !r.metrics).map((r) => r.domain)
  const domainsAny = [...new Set(rules.map((r) => r.domain))]
  const pairs = rules.flatMap((r) => (r.metrics ?? []).map((m) => `${r.domain}.${m}`))
  return (params) => withViews({
    catalogue: params.add(catalogueJson),
    indicators: params.add(indicatorJson),
    domainsAll: params.add(domainsAll),
    domainsAny: params.add(domainsAny),
    pairs: params.add(pairs),
    deny: params.add(config.hiddenDevices),
  })
}

/** One request's statement, before it runs: what `answer` executes, and what a test can EXPLAIN. */
export interface StaStatement {
  path: ReturnType<typeof parsePath>
  resolved: Resolved
  raw: Map<string, string>
  options: QueryOptions
  plan: Plan
  sql: string
  values: unknown[]
}

/**
 * Parses and checks a request (`rawPath` after /sta/v1.1/, the query string
 * undecoded) and compiles its page into one parameterised statement.
 */
export function prepareStaQuery(config: StaConfig, rawPath: string, query: string, views: (params: Params) => string = viewsOf(config)): StaStatement {
  const path = parsePath(rawPath)
  const resolved = resolve(path.segments)
  const raw = splitQueryString(query)
  const options = parseOptions(raw)
  const entity = resolved.entity
  if (options.resultFormat && (entity.name !== 'Observation' || resolved.single)) throw new StaQueryError('$resultFormat=dataArray applies to collections of Observations.')
  if ((options.skip ?? 0) > config.maxSkip) throw new StaQueryError(`$skip ${options.skip} is larger than this service's ${config.maxSkip}; page Observations by phenomenonTime (e.g. $filter=phenomenonTime lt <the last one seen>) instead.`)
  if (entity.name === 'Observation' && !resolved.single && path.segments.length === 1 && options.filter && !boundsObservations(options.filter)) {
    throw new StaQueryError('A $filter on all Observations must bound phenomenonTime or resultTime (e.g. phenomenonTime ge 2026-12-01T00:00:00Z) or name a Datastream (Datastream/@iot.id eq 17), so that it does not read the whole table; or ask Datastreams(id)/Observations.')
  }
  if (path.value && !resolved.property) throw new StaQueryError('$value follows a property (e.g. Things(\'id\')/name/$value).')
  if (path.ref && (resolved.property || options.expand || options.select)) throw new StaQueryError('$ref follows an entity set or a navigation property, without $expand or $select.')
  if (resolved.property && (options.expand || options.select)) throw new StaQueryError('$expand and $select do not apply to a property.')
  const p: Plan = plan(entity, resolved.property ? { ...options, select: [resolved.property] } : options, config.maxTop, config.defaultTop)
  if (path.ref) p.select = ['@iot.id']
  const params = new Params()
  const head = views(params)
  const ctx = newContext(params, config.maxTop)
  const limit = resolved.single ? 1 : p.top + 1
  const sql = collection(ctx, p, undefined, undefined, limit, resolved.single ? 0 : p.skip, (a) => resolved.where(ctx, a), resolved.ds?.(ctx))
  return { path, resolved, raw, options, plan: p, sql: `${head} ${sql}`, values: params.values }
}

/** The entity set a request is about, for the metrics' label: the path's last entity, else its first segment when that names a set. */
function entitySetOf(rawPath: string): string {
  if (rawPath === '') return 'landing'
  try {
    return resolve(parsePath(rawPath).segments).entity.set
  } catch {
    const first = /^[A-Za-z]+/.exec(rawPath)?.[0]
    return first && SETS[first] ? first : 'other'
  }
}

class Bucket { constructor(public tokens: number, public at: number) {} }

/**
 * Planner settings of every SensorThings query's transaction. Observations are read by
 * walking each Datastream's index in order and stopping early (the latest one, a page, the
 * first match of an EXISTS); a bitmap scan reads all of a Datastream's rows first, and
 * PostgreSQL picks one whenever its statistics make a Datastream look small.
 */
export const STA_PLANNER_SETTINGS = 'SET LOCAL enable_bitmapscan = off'

/** The SensorThings API's routes on the service's HTTP server (docs/sensorthings.md). */
export function registerStaRoutes(app: FastifyInstance, config: StaConfig, deps: StaDeps): void {
  const keys = new Map(config.apiKeys.map((k) => [k.sha256, k]))
  const buckets = new Map<string, Bucket>()
  const views = viewsOf(config)
  const metrics = createStaMetrics(deps.registry)

  async function run(sql: string, values: unknown[]): Promise<unknown[]> {
    const client = await deps.pool.connect()
    try {
      await client.query('BEGIN READ ONLY')
      await client.query(`SET LOCAL statement_timeout = ${Number(config.queryTimeoutMs)}`)
      await client.query(STA_PLANNER_SETTINGS)
      const { rows } = await client.query({ text: sql, values, rowMode: 'array' })
      await client.query('COMMIT')
      return rows.map((r: unknown[]) => r[0])
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }

  async function estimate(sql: string, values: unknown[]): Promise<number> {
    const rows = await run(`EXPLAIN (FORMAT JSON) ${sql}`, values) as { Plan: { 'Plan Rows': number } }[][]
    return Math.round(rows[0]?.[0]?.Plan['Plan Rows'] ?? 0)
  }

  const send = (reply: FastifyReply, status: number, message: string) =>
    reply.code(status).header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store').send({ code: status, type: 'error', message })

  function admit(req: FastifyRequest, reply: FastifyReply): boolean {
    const header = req.headers['x-api-key']
    const fromQuery = /(?:^|[?&])api_key=([^&]*)/.exec(req.url)?.[1]
    const key = typeof header === 'string' ? header : fromQuery ? safeDecode(fromQuery) : undefined
    const consumer = key ? keys.get(createHash('sha256').update(key).digest('hex')) : undefined
    if (key && !consumer) { send(reply, 401, 'The API key is not known.'); return false }
    if (!consumer && config.requireApiKey) { send(reply, 401, 'This service needs an API key: send it in the X-Api-Key header.'); return false }
    const perMinute = consumer?.requestsPerMinute ?? config.rateLimit.requestsPerMinute
    const id = consumer ? `key:${consumer.consumer}` : `ip:${req.ip}`
    const now = Date.now()
    let b = buckets.get(id)
    if (!b) {
      if (buckets.size > 100_000) buckets.clear()
      buckets.set(id, (b = new Bucket(config.rateLimit.burst, now)))
    }
    b.tokens = Math.min(config.rateLimit.burst, b.tokens + ((now - b.at) * perMinute) / 60_000)
    b.at = now
    if (b.tokens < 1) {
      const wait = Math.ceil(((1 - b.tokens) * 60_000) / perMinute / 1000)
      reply.header('retry-after', wait)
      send(reply, 429, `Too many requests from this client (${perMinute} a minute); try again in ${wait} s.`)
      return false
    }
    b.tokens -= 1
    reply.header('cache-control', config.cacheMaxAgeS > 0 ? `${consumer ? 'private' : 'public'}, max-age=${config.cacheMaxAgeS}` : 'no-store')
    return true
  }

  function cors(req: FastifyRequest, reply: FastifyReply): void {
    if (config.corsOrigins.length === 0) return
    const origin = req.headers.origin
    if (config.corsOrigins.includes('*')) reply.header('access-control-allow-origin', '*')
    else if (origin && config.corsOrigins.includes(origin)) reply.header('access-control-allow-origin', origin).header('vary', 'Origin')
    reply.header('access-control-allow-headers', 'X-Api-Key, Content-Type').header('access-control-allow-methods', 'GET, OPTIONS')
  }

  app.register(async (scope) => {
    scope.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      if (err instanceof StaQueryError) return send(reply, err.status, err.message)
      if (err.code === '57014') return send(reply, 503, `The query took longer than ${config.queryTimeoutMs} ms and was cancelled; narrow it (a Datastream, a phenomenonTime range, a smaller $top).`)
      if (err.statusCode !== undefined && err.statusCode < 500) return send(reply, err.statusCode, err.message)
      // 22xxx: a value the database could not take (a date out of range, a number too large for the column).
      if (typeof err.code === 'string' && err.code.startsWith('22')) return send(reply, 400, `A value in the query is out of range: ${err.message}.`)
      deps.logger.error({ err, url: req.url }, 'A SensorThings request failed.')
      return send(reply, 500, 'The request failed inside the service; it is logged.')
    })
    scope.addHook('onResponse', async (req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return
      const url = req.raw.url ?? ''
      const q = url.indexOf('?')
      const set = entitySetOf((q < 0 ? url : url.slice(0, q)).slice(STA_PREFIX.length + 1))
      metrics.requests.inc({ entity_set: set, status_class: statusClass(reply.statusCode) })
      metrics.seconds.observe({ entity_set: set }, reply.elapsedTime / 1000)
      const refusal = refusalOf(reply.statusCode)
      if (refusal) metrics.refused.inc({ reason: refusal })
    })
    scope.options(`${STA_PREFIX}/*`, async (req, reply) => { cors(req, reply); return reply.code(204).send() })
    scope.get(STA_PREFIX, async (req, reply) => landing(req, reply))
    scope.get(`${STA_PREFIX}/`, async (req, reply) => landing(req, reply))
    scope.get(`${STA_PREFIX}/*`, async (req, reply) => {
      cors(req, reply)
      if (!admit(req, reply)) return reply
      const url = req.raw.url ?? ''
      const q = url.indexOf('?')
      const rawPath = (q < 0 ? url : url.slice(0, q)).slice(STA_PREFIX.length + 1)
      const query = q < 0 ? '' : url.slice(q + 1)
      return answer(req, reply, rawPath, query)
    })
  })

  function base(req: FastifyRequest): string {
    const host = req.headers.host ?? 'localhost'
    const proto = (req.headers['x-forwarded-proto'] as string | undefined) === 'https' ? 'https' : 'http'
    return `${proto}://${host}${STA_PREFIX}`
  }

  async function landing(req: FastifyRequest, reply: FastifyReply) {
    cors(req, reply)
    if (!admit(req, reply)) return reply
    const b = base(req)
    return {
      value: Object.values(ENTITIES).map((e) => ({ name: e.set, url: `${b}/${e.set}` })),
      serverSettings: { conformance: CONFORMANCE },
    }
  }

  async function answer(req: FastifyRequest, reply: FastifyReply, rawPath: string, query: string) {
    const statement = prepareStaQuery(config, rawPath, query, views)
    const rows = await run(statement.sql, statement.values) as Record<string, unknown>[]
    const tally = { n: 0 }
    const body = await respond(req, reply, rawPath, statement, rows, tally)
    metrics.rows.inc({ entity_set: statement.resolved.entity.set }, tally.n)
    return body
  }

  /** The answer to a statement's rows; `tally` counts the entities in it (expanded ones too). */
  async function respond(req: FastifyRequest, reply: FastifyReply, rawPath: string, statement: StaStatement, rows: Record<string, unknown>[], tally: { n: number }) {
    const { path, resolved, raw, options, plan: p } = statement
    const entity = resolved.entity
    const single = resolved.single
    const b = base(req)
    if (single) {
      const row = rows[0]
      if (!row) return send(reply, 404, `No such ${entity.name}.`)
      tally.n = 1
      if (resolved.property) {
        const v = row[resolved.property] ?? null
        if (path.value) return reply.header('content-type', typeof v === 'object' && v !== null ? 'application/json' : 'text/plain; charset=utf-8').send(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))
        return { [resolved.property]: v }
      }
      if (path.ref) return { '@iot.selfLink': `${b}/${entity.set}(${keyLiteral(entity, row['@iot.id'])})` }
      tally.n = 0
      return decorate(p, row, b, tally)
    }
    const more = rows.length > p.top
    const page = rows.slice(0, p.top)
    const out: Record<string, unknown> = {}
    if (options.count) {
      // The planner's estimate first (FROST-Server's countMode ESTIMATE_LIMIT): a large set is
      // never counted row by row; one estimated at most maxExactCount is counted exactly, reading
      // at most maxExactCount + 1 rows, and if it holds more after all, the estimate stands.
      const eparams = new Params()
      const ehead = views(eparams)
      const ectx = newContext(eparams, config.maxTop)
      const esql = `${ehead} ${countOf(ectx, p, undefined, undefined, null, (a) => resolved.where(ectx, a), resolved.ds?.(ectx))}`
      const estimated = await estimate(esql, eparams.values)
      let n = estimated
      if (estimated <= config.maxExactCount) {
        const cparams = new Params()
        const chead = views(cparams)
        const cctx = newContext(cparams, config.maxTop)
        const csql = `${chead} ${countOf(cctx, p, undefined, undefined, config.maxExactCount, (a) => resolved.where(cctx, a), resolved.ds?.(cctx))}`
        n = Number((await run(csql, cparams.values))[0])
      }
      if (n > config.maxExactCount) {
        n = Math.max(n, estimated)
        reply.header('x-sta-count-estimated', 'true')
      }
      out['@iot.count'] = n
    }
    if (more) out['@iot.nextLink'] = `${b}/${rawPath}?${nextQuery(raw, p.top, p.skip + p.top)}`
    tally.n = page.length
    if (path.ref) {
      out.value = page.map((r) => ({ '@iot.selfLink': `${b}/${entity.set}(${keyLiteral(entity, r['@iot.id'])})` }))
      return out
    }
    if (options.resultFormat === 'dataArray') {
      const components = p.select.filter((s) => s !== 'parameters' && s !== 'validTime').map((s) => (s === '@iot.id' ? 'id' : s))
      const groups = new Map<unknown, unknown[][]>()
      for (const r of page) {
        const ds = String(r['@iot.id']).split('-')[0]
        if (!groups.has(ds)) groups.set(ds, [])
        groups.get(ds)!.push(components.map((c) => r[c === 'id' ? '@iot.id' : c] ?? null))
      }
      out.value = [...groups].map(([ds, dataArray]) => ({ 'Datastream@iot.navigationLink': `${b}/Datastreams(${ds})`, components, 'dataArray@iot.count': dataArray.length, dataArray }))
      return out
    }
    tally.n = 0
    out.value = page.map((r) => decorate(p, r, b, tally))
    return out
  }

  /** Adds @iot.selfLink and the navigation links, and pages expanded collections. */
  function decorate(p: Plan, row: Record<string, unknown>, b: string, tally: { n: number }): Record<string, unknown> {
    tally.n++
    const e = p.entity
    const self = `${b}/${e.set}(${keyLiteral(e, row['@iot.id'])})`
    const out: Record<string, unknown> = { '@iot.id': row['@iot.id'], '@iot.selfLink': self }
    for (const name of p.select) if (name !== '@iot.id' && e.props[name]) out[name] = row[name] ?? null
    for (const nav of Object.keys(e.navs)) {
      const x = p.expand.find((y) => y.nav === nav)
      if (!x) {
        if (!p.options.select || p.select.includes(nav)) out[`${nav}@iot.navigationLink`] = `${self}/${nav}`
        continue
      }
      const value = row[nav]
      if (x.navDef.many) {
        const list = (value as Record<string, unknown>[] | null) ?? []
        if (row[`${nav}@iot.count`] !== undefined) out[`${nav}@iot.count`] = row[`${nav}@iot.count`]
        out[nav] = list.slice(0, x.plan.top).map((r) => decorate(x.plan, r, b, tally))
        // The next page of the expansion with its own options ($filter, $orderby, $select, $expand, $count) [OGC 18-088 9.3.3.2].
        if (list.length > x.plan.top) out[`${nav}@iot.nextLink`] = `${self}/${nav}?${nextQuery(x.text, x.plan.top, x.plan.skip + x.plan.top)}`
      } else {
        out[nav] = value ? decorate(x.plan, value as Record<string, unknown>, b, tally) : null
      }
    }
    return out
  }
}

function nextQuery(raw: ReadonlyMap<string, string>, top: number, skip: number): string {
  const parts: string[] = []
  for (const [k, v] of raw) if (k !== '$top' && k !== '$skip') parts.push(`${k}=${encodeURIComponent(v)}`)
  parts.push(`$top=${top}`, `$skip=${skip}`)
  return parts.join('&')
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s) } catch { return s }
}

export type { QueryOptions }

import { GridlineError } from '@gridline/core'
import pg from 'pg'
import { minuteRollupsSql } from '@gridline/processors'

const escapeLiteral = pg.escapeLiteral

/**
 * What an export reads (docs/exports.md): the SQL is built here from checked
 * parameters, every text value quoted with escapeLiteral (COPY takes no bind
 * parameters), every time re-formatted from a parsed Date.
 */
export const EXPORT_KINDS = ['readings', 'rollups', 'indicators', 'alarms'] as const
export type ExportKind = (typeof EXPORT_KINDS)[number]
export const EXPORT_FORMATS = ['csv', 'jsonl'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

/** The registry metadata keys an area is made of (docs/indicators.md#device-metadata), by the name an export takes. */
export const AREA_KINDS = { district: 'district', metered_area: 'meteredArea', road_segment: 'roadSegment', circuit: 'circuit' } as const
export type AreaKind = keyof typeof AREA_KINDS

const DAY_MS = 86_400_000
/** The longest range one export may cover, per kind: raw readings are the big ones. */
export const EXPORT_MAX_RANGE_DAYS: Record<ExportKind, number> = { readings: 31, rollups: 366, indicators: 366, alarms: 366 }
/** Rows one export holds at most (LIMIT): a bigger one is cut there; the last line is then a note saying so only in the docs, so ask for a shorter range. */
export const EXPORT_MAX_ROWS = 5_000_000

export interface ExportRequest {
  kind: ExportKind
  format: ExportFormat
  device?: string
  area?: { kind: AreaKind; name: string }
  metric?: string
  /** rollups: 1m or 1h. */
  resolution?: '1m' | '1h'
  /** indicators: the indicator name. */
  name?: string
  /** alarms: comma list of severities. */
  severity?: string
  from: number
  to: number
  limit: number
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/
const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info']

function bad(message: string): never {
  throw new GridlineError('GRIDLINE_BAD_REQUEST', message)
}

function time(name: string, v: string | undefined): number {
  if (v === undefined || v === '') bad(`${name}: an ISO 8601 time with its offset is required, e.g. ${name}=2026-11-01T00:00:00%2B07:00.`)
  // A time without an offset would be read in the server's zone: refused.
  if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d))?$/.test(v)) bad(`${name}: "${v}" is not an ISO 8601 time with an offset (2026-11-01T00:00:00+07:00) or a date (2026-11-01, read as UTC).`)
  const t = Date.parse(v)
  if (Number.isNaN(t)) bad(`${name}: "${v}" is not a valid time.`)
  return t
}

/** Parses and checks an export's query parameters; throws GRIDLINE_BAD_REQUEST naming the parameter. */
export function parseExportRequest(kind: string, q: Record<string, string | undefined>): ExportRequest {
  if (!(EXPORT_KINDS as readonly string[]).includes(kind)) bad(`kind: one of ${EXPORT_KINDS.join(', ')}, not "${kind}".`)
  const k = kind as ExportKind
  const format = (q.format || 'csv') as ExportFormat
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) bad(`format: csv or jsonl, not "${q.format}".`)
  const from = time('from', q.from)
  const to = time('to', q.to)
  if (to <= from) bad('from and to: from must be before to.')
  const maxDays = EXPORT_MAX_RANGE_DAYS[k]
  if (to - from > maxDays * DAY_MS) bad(`from and to: a ${k} export covers at most ${maxDays} days; split it.`)
  const req: ExportRequest = { kind: k, format, from, to, limit: EXPORT_MAX_ROWS }
  if (q.limit !== undefined && q.limit !== '') {
    const n = Number(q.limit)
    if (!Number.isInteger(n) || n < 1 || n > EXPORT_MAX_ROWS) bad(`limit: a whole number from 1 to ${EXPORT_MAX_ROWS}.`)
    req.limit = n
  }
  if (q.device) {
    if (!ID.test(q.device)) bad(`device: "${q.device}" is not a device id.`)
    req.device = q.device
  }
  if (q.area) {
    const colon = q.area.indexOf(':')
    const areaKind = q.area.slice(0, colon) as AreaKind
    const name = q.area.slice(colon + 1).trim()
    if (colon < 0 || !(areaKind in AREA_KINDS) || name === '' || name.length > 200) bad(`area: KIND:NAME with KIND one of ${Object.keys(AREA_KINDS).join(', ')}, e.g. area=district:Hải Châu.`)
    req.area = { kind: areaKind, name }
  }
  if (req.device && req.area) bad('device and area: give one, not both.')
  if (q.metric) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(q.metric)) bad(`metric: "${q.metric}" is not a metric name.`)
    req.metric = q.metric
  }
  if (k === 'readings' || k === 'rollups') {
    if (!req.device && !req.area) bad('device or area: which device (device=aq-1) or area (area=district:Hải Châu) to export.')
  }
  if (k === 'rollups') {
    const r = q.resolution || '1h'
    if (r !== '1m' && r !== '1h') bad(`resolution: 1m or 1h, not "${q.resolution}".`)
    req.resolution = r
  }
  if (k === 'indicators') {
    if (q.name) {
      if (!/^[a-z0-9_]{1,64}$/.test(q.name)) bad(`name: "${q.name}" is not an indicator name (vn_aqi_daily, traffic_los, ...).`)
      req.name = q.name
    }
    if (!req.device && !req.area && !req.name) bad('name, device or area: which indicator values to export.')
  }
  if (k === 'alarms' && q.severity) {
    const list = q.severity.split(',')
    if (!list.every((s) => SEVERITIES.includes(s))) bad(`severity: a comma list of ${SEVERITIES.join(', ')}.`)
    req.severity = q.severity
  }
  return req
}

const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
const lit = (ms: number) => `${escapeLiteral(new Date(ms).toISOString())}::timestamptz`
/**
 * CSV injection [OWASP "CSV Injection"]: a text cell a spreadsheet would read as a formula
 * (starting with = + - @, or a tab or carriage return) gets a leading apostrophe.
 * Only text columns: numbers are written as numbers.
 */
const safe = (col: string) => `CASE WHEN ${col} ~ '^[=+@\\t\\r-]' THEN '''' || ${col} ELSE ${col} END`

function devicesOf(req: ExportRequest, col: string): string {
  if (req.device) return `${col} = ${escapeLiteral(req.device)}`
  if (req.area) return `${col} IN (SELECT id FROM devices WHERE metadata->>${escapeLiteral(AREA_KINDS[req.area.kind])} = ${escapeLiteral(req.area.name)})`
  return 'true'
}

interface Column { name: string; sql: string; text?: boolean; json?: 'number' | 'json' }

function columnsFor(req: ExportRequest): { columns: Column[]; from: string; order: string } {
  const between = (col: string) => `${col} >= ${lit(req.from)} AND ${col} < ${lit(req.to)}`
  const metric = req.metric ? ` AND metric = ${escapeLiteral(req.metric)}` : ''
  switch (req.kind) {
    case 'readings':
      return {
        columns: [
          { name: 'time', sql: iso('time') }, { name: 'device_id', sql: 'device_id', text: true }, { name: 'metric', sql: 'metric', text: true },
          { name: 'value', sql: 'value', json: 'number' }, { name: 'quality', sql: 'quality', json: 'number' }, { name: 'flags', sql: 'flags', json: 'number' },
          { name: 'seq', sql: 'seq', json: 'number' }, { name: 'received_at', sql: iso('received_at') },
        ],
        from: `telemetry WHERE ${devicesOf(req, 'device_id')}${metric} AND ${between('time')}`,
        order: 'time, device_id, metric',
      }
    case 'rollups':
      return {
        columns: [
          { name: 'bucket', sql: iso('bucket') }, { name: 'device_id', sql: 'device_id', text: true }, { name: 'metric', sql: 'metric', text: true },
          { name: 'count', sql: 'count', json: 'number' }, { name: 'min', sql: 'min', json: 'number' }, { name: 'max', sql: 'max', json: 'number' },
          { name: 'avg', sql: 'avg', json: 'number' }, { name: 'last', sql: 'last', json: 'number' }, { name: 'non_good', sql: 'non_good', json: 'number' },
        ],
        // Minutes: telemetry_1m and the single-reading minutes from telemetry (docs/rollups.md#single-reading-minutes).
        from: req.resolution === '1m'
          ? `${minuteRollupsSql({ device: (col) => devicesOf(req, col), metric: req.metric ? escapeLiteral(req.metric) : null, from: lit(req.from), to: lit(req.to), oneSeries: Boolean(req.device && req.metric) })} AS m`
          : `telemetry_1h WHERE ${devicesOf(req, 'device_id')}${metric} AND ${between('bucket')}`,
        order: 'bucket, device_id, metric',
      }
    case 'indicators': {
      const scope = req.device
        ? `scope = 'device' AND key = ${escapeLiteral(req.device)}`
        : req.area
          ? `((scope = ${escapeLiteral(req.area.kind)} AND key = ${escapeLiteral(req.area.name)}) OR (scope = 'device' AND ${devicesOf(req, 'key')}))`
          : 'true'
      return {
        columns: [
          { name: 'time', sql: iso('time') }, { name: 'name', sql: 'name', text: true }, { name: 'scope', sql: 'scope', text: true }, { name: 'key', sql: 'key', text: true },
          { name: 'value', sql: 'value', json: 'number' }, { name: 'level', sql: 'level', text: true }, { name: 'revision', sql: 'revision', json: 'number' },
          { name: 'details', sql: 'details::text', text: true, json: 'json' },
        ],
        from: `indicator_values WHERE ${scope}${req.name ? ` AND name = ${escapeLiteral(req.name)}` : ''} AND ${between('time')}`,
        order: 'time, name, scope, key',
      }
    }
    case 'alarms': {
      const device = req.device ? ` AND (a.device_id = ${escapeLiteral(req.device)} OR e.subject = ${escapeLiteral(req.device)})` : req.area ? ` AND ${devicesOf(req, 'a.device_id')}` : ''
      const severity = req.severity ? ` AND e.severity = ANY (string_to_array(${escapeLiteral(req.severity)}, ','))` : ''
      return {
        columns: [
          { name: 'time', sql: iso('e.time') }, { name: 'alarm_id', sql: 'e.alarm_id::text' }, { name: 'rule_id', sql: 'e.rule_id', text: true },
          { name: 'subject', sql: 'e.subject', text: true }, { name: 'device_id', sql: 'a.device_id', text: true }, { name: 'severity', sql: 'e.severity' },
          { name: 'transition', sql: 'e.transition' }, { name: 'value', sql: 'e.value', json: 'number' }, { name: 'actor', sql: 'e.actor', text: true },
          { name: 'comment', sql: 'e.comment', text: true }, { name: 'message', sql: 'e.message', text: true },
        ],
        from: `alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE ${between('e.time')}${device}${severity}`,
        order: 'e.time, e.id',
      }
    }
  }
}

/**
 * The `COPY (SELECT ...) TO STDOUT` statement of an export. CSV: PostgreSQL's CSV
 * writer (quotes what needs quoting, header row), text cells defended against formulas.
 * JSON lines: one `json_build_object` per row, copied as CSV with a quote and a delimiter
 * that JSON text never holds raw (U+0001, U+0002: json escapes control characters),
 * so each line is the JSON text exactly.
 */
export function exportCopySql(req: ExportRequest): string {
  const { columns, from, order } = columnsFor(req)
  const select = `FROM ${from} ORDER BY ${order} LIMIT ${req.limit}`
  if (req.format === 'csv') {
    const cols = columns.map((c) => `${c.text ? safe(c.sql) : c.sql} AS ${c.name}`).join(', ')
    return `COPY (SELECT ${cols} ${select}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')`
  }
  const pairs = columns.map((c) => `'${c.name}', ${c.json === 'json' ? c.sql.replace('::text', '') : c.sql}`).join(', ')
  return `COPY (SELECT json_build_object(${pairs})::text ${select}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02', ENCODING 'UTF8')`
}

/** An attachment name for the export: ASCII only (the area's name folded), no quotes. */
export function exportFilename(req: ExportRequest): string {
  const subject = req.device ?? (req.area ? `${req.area.kind}-${req.area.name}` : req.name ?? 'all')
  const ascii = subject.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/g, 'd').replace(/Đ/g, 'D').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '')
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')
  const kind = req.kind === 'rollups' ? `rollups-${req.resolution}` : req.kind === 'indicators' && req.name && (req.device || req.area) ? `indicators-${req.name}` : req.kind
  return `${kind}-${ascii || 'export'}-${day(req.from)}-${day(req.to)}.${req.format === 'csv' ? 'csv' : 'jsonl'}`
}

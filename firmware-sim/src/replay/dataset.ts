import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { GridlineError } from '@gridline/core'
import { DEVICE_ID_PATTERN, METRIC_NAME_PATTERN, defaultCatalogue } from '@gridline/schemas'
import type { Values } from '../models/index.ts'
import { parseDelimited } from './csv.ts'
import { fileDirection, resolveRepeatedTimes } from './ambiguous-times.ts'
import type { ReplayMapping, ValueTransform } from './mapping.ts'
import { timeTextParser } from './timestamp.ts'
import { zoneResolver } from './zone.ts'

/** Why a reading of a row is not sent. */
export const UNMAPPED_REASONS = {
  timestamp_invalid: 'the time cell is empty, does not match the mapping\'s format, or names a local time that does not exist (clocks going forward)',
  device_id_invalid: 'the device id built from the row does not match the identifier pattern',
  no_values: 'every mapped cell of the device is empty, a missing marker or not a number',
  key_unmapped: 'long files: the row\'s key cell is not one the mapping\'s pivot names',
} as const
export type UnmappedReason = keyof typeof UNMAPPED_REASONS

/** What loading found: rows, readings, and what could not be mapped, by reason. */
export class ReplayCounts {
  files = 0
  rows = 0
  /** Rows with another number of fields than their header (sent as far as their cells allow). */
  raggedRows = 0
  readings = 0
  readingsUnmapped: Record<UnmappedReason, number> = { timestamp_invalid: 0, device_id_invalid: 0, no_values: 0, key_unmapped: 0 }
  /** Cells left out of a reading: empty or a missing marker such as N/A. */
  valuesMissing = 0
  /** Cells left out of a reading: text that is not a number. */
  valuesUnparseable = 0
  /** Rows whose local time does not exist in the zone (skipped when clocks go forward); also in timestamp_invalid. */
  localTimesNonexistent = 0
  /** Rows whose local time occurs twice in the zone (clocks going back), placed by their order in the file. */
  localTimesRepeated = 0
  /** Long files: rows repeating a device, time and metric already read; sent as a further reading. */
  pivotDuplicates = 0
  /** Readings rows (after long rows are merged) earlier than the row before them in their file. */
  rowsOutOfOrder = 0
  /** With `order: time`: rows that sorting moved to another place in their file. */
  rowsReordered = 0
}

export interface ReplayReading {
  device: number
  values: Values
}

/** One time of a file and the readings it carries (one per device; long rows of a device and time merged). */
export interface ReplayRow {
  ts: number
  readings: ReplayReading[]
}

export interface ReplayDevice {
  id: string
  domain: string
}

export interface LoadedDataset {
  devices: ReplayDevice[]
  files: { name: string; rows: ReplayRow[] }[]
  counts: ReplayCounts
}

/** The data files a path names: the file itself, or the folder's files matching the mapping's pattern, by name. */
export function datasetFiles(path: string, pattern: string): string[] {
  if (!statSync(path, { throwIfNoEntry: false })) throw new GridlineError('GRIDLINE_USAGE', `${path} does not exist.`)
  if (statSync(path).isFile()) return [path]
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  const files = readdirSync(path).filter((f) => re.test(f)).sort().map((f) => join(path, f))
  if (files.length === 0) throw new GridlineError('GRIDLINE_USAGE', `No file in ${path} matches "${pattern}".`)
  return files
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** A file row whose time is known: one instant, or two when its local time repeats. */
interface TimedLine {
  cells: string[]
  instants: number[]
  wallMs: number | undefined
}

/**
 * Reads and maps every row of the files. Nothing in the data stops the load:
 * each row or cell that cannot be used is counted with its reason. Problems of
 * the mapping itself (an unknown column, domain or metric name) are errors.
 */
export function loadDataset(path: string, mapping: ReplayMapping, options: { maxRows?: number } = {}): LoadedDataset {
  checkMapping(mapping)
  const counts = new ReplayCounts()
  const devices: ReplayDevice[] = []
  const deviceIndex = new Map<string, number>()
  const deviceOf = (id: string, domain: string): number => {
    let device = deviceIndex.get(id)
    if (device === undefined) {
      device = devices.push({ id, domain }) - 1
      deviceIndex.set(id, device)
    }
    return device
  }
  const readTime = timeTextParser(mapping.timestamp.format)
  const placeInZone = zoneResolver(mapping.timestamp.zone)
  const missing = new Set(mapping.missing)
  const maxRows = options.maxRows ?? Infinity
  const files: LoadedDataset['files'] = []

  for (const file of datasetFiles(path, mapping.files)) {
    if (counts.rows >= maxRows) break
    const [header, ...lines] = parseDelimited(readFileSync(file, 'utf8'), mapping.delimiter)
    if (!header) continue
    counts.files++
    const column = (name: string): number => {
      const i = header.findIndex((h) => h.trim() === name)
      if (i < 0) throw new GridlineError('GRIDLINE_CONFIG_INVALID', `Column "${name}" is not in the header of ${basename(file)} (${header.join(', ')}).`)
      return i
    }
    const tsColumn = column(mapping.timestamp.column)
    const plans = expandDevices(mapping.devices, header.map((h) => h.trim())).map((d) => ({
      domain: d.domain,
      id: idTemplate(d.id, column),
      metrics: Object.entries(d.metrics ?? {}).map(([metric, source]) => ({ metric, index: column(source.column), source })),
      pivot: d.pivot && { key: column(d.pivot.key), value: column(d.pivot.value), metrics: new Map(Object.entries(d.pivot.metrics)) },
    }))

    const timed: TimedLine[] = []
    for (const cells of lines) {
      if (counts.rows >= maxRows) break
      counts.rows++
      if (cells.length !== header.length) counts.raggedRows++
      const time = readTime(cells[tsColumn] ?? '')
      const instants = time === undefined ? [] : 'instant' in time ? [time.instant] : placeInZone(time.wallMs)
      if (instants.length === 0) {
        if (time !== undefined) counts.localTimesNonexistent++
        counts.readingsUnmapped.timestamp_invalid += plans.length
        continue
      }
      timed.push({ cells, instants, wallMs: time && 'wallMs' in time ? time.wallMs : undefined })
    }

    // A repeated local time is told apart by file order, per series: its devices (and pivot key).
    const repeated = timed.filter((t) => t.instants.length > 1)
    counts.localTimesRepeated += repeated.length
    const chosen = resolveRepeatedTimes(repeated.map((t) => ({
      key: `${t.wallMs}\0${plans.map((p) => `${p.id(t.cells)}\0${p.pivot ? (t.cells[p.pivot.key] ?? '').trim() : ''}`).join('\0')}`,
      instants: t.instants,
    })), fileDirection(timed.map((t) => t.instants[0]!)))
    repeated.forEach((t, i) => { t.instants = [chosen[i]!] })

    const rows: ReplayRow[] = []
    // Long rows merge per time (one row) and device (one reading); a repeated metric starts a further reading.
    const pivotRows = new Map<number, ReplayRow>()
    const pivotWithoutValues = new Set<string>()
    for (const { cells, instants } of timed) {
      const ts = instants[0]!
      const wide: ReplayReading[] = []
      for (const plan of plans) {
        const id = plan.id(cells)
        if (!DEVICE_ID_PATTERN.test(id)) {
          counts.readingsUnmapped.device_id_invalid++
          continue
        }
        if (plan.pivot) {
          const target = plan.pivot.metrics.get((cells[plan.pivot.key] ?? '').trim())
          if (!target) {
            counts.readingsUnmapped.key_unmapped++
            continue
          }
          const value = cellValue(cells[plan.pivot.value], target, missing, counts)
          if (value === undefined) {
            pivotWithoutValues.add(`${id}\0${ts}`)
            continue
          }
          let row = pivotRows.get(ts)
          if (!row) {
            row = { ts, readings: [] }
            pivotRows.set(ts, row)
            rows.push(row)
          }
          const device = deviceOf(id, plan.domain)
          let reading = row.readings.find((r) => r.device === device && !(target.metric in r.values))
          if (!reading) {
            if (row.readings.some((r) => r.device === device)) counts.pivotDuplicates++
            reading = { device, values: {} }
            row.readings.push(reading)
            counts.readings++
          }
          reading.values[target.metric] = value
          continue
        }
        const values: Values = {}
        let any = false
        for (const { metric, index, source } of plan.metrics) {
          const value = cellValue(cells[index], source, missing, counts)
          if (value !== undefined) {
            values[metric] = value
            any = true
          }
        }
        if (!any) {
          counts.readingsUnmapped.no_values++
          continue
        }
        wide.push({ device: deviceOf(id, plan.domain), values })
        counts.readings++
      }
      if (wide.length) rows.push({ ts, readings: wide })
    }
    for (const key of pivotWithoutValues) {
      const [id, ts] = key.split('\0') as [string, string]
      const device = deviceIndex.get(id)
      if (device === undefined || !pivotRows.get(Number(ts))?.readings.some((r) => r.device === device)) counts.readingsUnmapped.no_values++
    }
    files.push({ name: basename(file), rows: putInOrder(rows, mapping.order, counts) })
  }
  return { devices, files, counts }
}

/** Counts rows recorded out of order and, with `order: time`, sorts them (stably, so repeats keep their file order). */
function putInOrder(rows: ReplayRow[], order: ReplayMapping['order'], counts: ReplayCounts): ReplayRow[] {
  let outOfOrder = 0
  for (let i = 1; i < rows.length; i++) if (rows[i]!.ts < rows[i - 1]!.ts) outOfOrder++
  counts.rowsOutOfOrder += outOfOrder
  if (order === 'recorded' || outOfOrder === 0) return rows
  const sorted = rows.map((row, index) => ({ row, index })).sort((a, b) => a.row.ts - b.row.ts || a.index - b.index)
  sorted.forEach((s, i) => { if (s.index !== i) counts.rowsReordered++ })
  return sorted.map((s) => s.row)
}

type DeviceEntry = ReplayMapping['devices'][number]

/**
 * The mapping's devices for one file's header: an `eachColumn` entry becomes
 * one device per matching column ($0, $1 ... filled in), and
 * `catalogueMetrics` adds every column named like a metric of the domain.
 */
export function expandDevices(entries: readonly DeviceEntry[], header: readonly string[]): DeviceEntry[] {
  const catalogue = defaultCatalogue()
  const out: DeviceEntry[] = []
  for (const entry of entries) {
    const matches = entry.eachColumn === undefined
      ? [undefined]
      : header.map((h) => new RegExp(`^(?:${entry.eachColumn})$`).exec(h)).filter((m): m is RegExpExecArray => m !== null)
    for (const match of matches) {
      const fill = (text: string) => (match === undefined ? text : text.replace(/\$(\d)/g, (_, n: string) => match[Number(n)] ?? ''))
      const metrics = Object.fromEntries(Object.entries(entry.metrics ?? {}).map(([metric, source]) => [metric, { ...source, column: fill(source.column) }]))
      if (entry.catalogueMetrics) {
        const taken = new Set(Object.values(metrics).map((m) => m.column))
        for (const column of header) {
          if (metrics[column] === undefined && !taken.has(column) && catalogue.metric(entry.domain, column)) metrics[column] = { column, scale: 1, offset: 0, boolean: false }
        }
      }
      out.push({ ...entry, id: fill(entry.id), ...(entry.metrics || entry.catalogueMetrics ? { metrics } : {}) })
    }
  }
  return out
}

function checkMapping(mapping: ReplayMapping): void {
  const catalogue = defaultCatalogue()
  for (const d of mapping.devices) {
    if (!catalogue.hasDomain(d.domain)) throw new GridlineError('GRIDLINE_CONFIG_INVALID', `Mapping device "${d.id}": domain "${d.domain}" is not in the catalogue.`)
    const metrics = [...Object.keys(d.metrics ?? {}), ...Object.values(d.pivot?.metrics ?? {}).map((m) => m.metric)]
    for (const metric of metrics) {
      if (!METRIC_NAME_PATTERN.test(metric)) throw new GridlineError('GRIDLINE_CONFIG_INVALID', `Mapping device "${d.id}": "${metric}" is not a valid metric name.`)
    }
  }
}

function cellValue(raw: string | undefined, source: ValueTransform, missing: Set<string>, counts: ReplayCounts): number | boolean | undefined {
  let text = (raw ?? '').trim()
  if (missing.has(text)) {
    counts.valuesMissing++
    return undefined
  }
  if (source.suffix && text.endsWith(source.suffix.trim())) text = text.slice(0, text.length - source.suffix.trim().length).trim()
  if (!NUMBER.test(text)) {
    counts.valuesUnparseable++
    return undefined
  }
  const n = Number(text)
  if (source.boolean) return n !== 0
  // Rounded so a unit conversion does not send 0.30000000000000004.
  return Math.round((n * source.scale + source.offset) * 1e6) / 1e6
}

/** `aarhus-{REPORT_ID}` or `iqair-{city|slug}`: a function of the row's cells. */
function idTemplate(template: string, column: (name: string) => number): (cells: string[]) => string {
  const parts = template.split(/(\{[^}]+\})/).filter(Boolean).map((part) => {
    const m = /^\{([^}|]+)(\|slug)?\}$/.exec(part)
    if (!m) return () => part
    const index = column(m[1]!)
    return m[2] ? (cells: string[]) => slug(cells[index] ?? '') : (cells: string[]) => (cells[index] ?? '').trim()
  })
  return (cells) => parts.map((p) => p(cells)).join('')
}

/** "Đà Nẵng" -> "da-nang". */
export function slug(text: string): string {
  return text.replace(/[đĐ]/g, 'd').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
}

/**
 * Rows of all files in time order across files, each file's own order kept (so
 * a file's out-of-order rows stay out of order, as recorded).
 */
export function* mergeFiles(files: LoadedDataset['files']): Generator<ReplayRow> {
  const next = files.map(() => 0)
  for (;;) {
    let best = -1
    for (let f = 0; f < files.length; f++) {
      const row = files[f]!.rows[next[f]!]
      if (row && (best < 0 || row.ts < files[best]!.rows[next[best]!]!.ts)) best = f
    }
    if (best < 0) return
    yield files[best]!.rows[next[best]!++]!
  }
}

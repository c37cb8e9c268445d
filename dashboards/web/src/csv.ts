import { NUMBER_TEXT } from './metadata-fields.ts'

/**
 * CSV for the admin page's device import (docs/dashboards.md#importing-devices-from-csv).
 * Pure module (no DOM): unit-tested from dashboards/src/web-csv.test.ts.
 */

/**
 * Rows of RFC 4180 CSV: fields separated by commas (or by semicolons, when the
 * header line has more of those: a spreadsheet in a Vietnamese or European locale
 * saves so), quoted with `"` where they hold a separator, a quote (doubled) or a
 * line break; lines end in CRLF or LF; a UTF-8 byte order mark is skipped. Lines
 * with no field but an empty one are left out.
 */
export function parseCsv(text: string): { rows: string[][]; lines: number[] } {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const firstLine = src.slice(0, src.search(/\r?\n|$/))
  const sep = (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ';' : ','
  const rows: string[][] = []
  const lines: number[] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let line = 1
  let rowLine = 1
  const endRow = (): void => {
    row.push(field)
    field = ''
    if (row.length > 1 || row[0] !== '') {
      rows.push(row)
      lines.push(rowLine)
    }
    row = []
  }
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"'
          i++
        } else quoted = false
      } else {
        if (c === '\n') line++
        field += c
      }
    } else if (c === '"' && field === '') quoted = true
    else if (c === sep) {
      row.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++
      endRow()
      line++
      rowLine = line
    } else field += c
  }
  if (field !== '' || row.length > 0) endRow()
  return { rows, lines }
}

export interface CsvDevice {
  /** The line of the file it came from (1 is the header). */
  line: number
  id: string
  domain: string
  metadata: Record<string, string | number>
}

/**
 * Devices from CSV with a header line naming the columns: `id` and `domain`
 * (required), any others become metadata keys (`latitude`, `longitude`,
 * `district`, `meteredArea`, `ratedPowerW`, ...; docs/devices.md). A cell that
 * reads as a number becomes one; empty cells are left out. Rows that cannot be
 * a device (no id, no domain, more cells than columns, an id twice) are listed
 * with their line and the reason, and the others are still imported.
 */
export function devicesFromCsv(text: string): { devices: CsvDevice[]; problems: { line: number; message: string }[]; columns: string[] } {
  const { rows, lines } = parseCsv(text)
  const problems: { line: number; message: string }[] = []
  const header = (rows[0] ?? []).map((c) => c.trim())
  const idAt = header.indexOf('id')
  const domainAt = header.indexOf('domain')
  if (rows.length === 0 || idAt < 0 || domainAt < 0) {
    return { devices: [], problems: [{ line: 1, message: 'the first line must name the columns, with "id" and "domain" among them (e.g. id,domain,latitude,longitude,district)' }], columns: header }
  }
  const repeated = header.find((c, i) => c !== '' && header.indexOf(c) !== i)
  if (repeated !== undefined) return { devices: [], problems: [{ line: 1, message: `column "${repeated}" is named twice` }], columns: header }
  const devices: CsvDevice[] = []
  const seen = new Set<string>()
  for (let r = 1; r < rows.length; r++) {
    const cells = rows[r]!
    const line = lines[r]!
    if (cells.length > header.length) {
      problems.push({ line, message: `${cells.length} cells for ${header.length} columns (a separator inside a value needs quotes)` })
      continue
    }
    const id = (cells[idAt] ?? '').trim()
    const domain = (cells[domainAt] ?? '').trim()
    if (id === '') { problems.push({ line, message: 'no id' }); continue }
    if (domain === '') { problems.push({ line, message: `${id}: no domain` }); continue }
    if (seen.has(id)) { problems.push({ line, message: `${id}: already on an earlier line` }); continue }
    seen.add(id)
    const metadata: Record<string, string | number> = {}
    for (let c = 0; c < header.length; c++) {
      if (c === idAt || c === domainAt || header[c] === '') continue
      const value = (cells[c] ?? '').trim()
      if (value === '') continue
      metadata[header[c]!] = NUMBER_TEXT.test(value) ? Number(value) : value
    }
    devices.push({ line, id, domain, metadata })
  }
  return { devices, problems, columns: header }
}

/** One CSV field, quoted when it must be. */
export function csvField(value: string): string {
  return /[",\r\n;]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value
}

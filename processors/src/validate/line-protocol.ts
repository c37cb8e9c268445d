/**
 * InfluxDB line protocol (1.x `/write`, 2.x `/api/v2/write`, Telegraf's
 * output), parsed the way influxd parses it, one point per line:
 *
 *     measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * - measurement: commas and spaces escaped with a backslash;
 * - tag keys, tag values and field keys: commas, equals signs and spaces escaped;
 * - field values: float (`1`, `-1.5`, `1e3`), integer (`1i`), unsigned (`1u`),
 *   string (`"..."`, with `\"` and `\\` escaped; it may span lines), boolean
 *   (`t`, `T`, `true`, `True`, `TRUE` and the same for false);
 * - timestamp: an integer in the request's precision; absent, the server stamps it;
 * - lines starting with `#` are comments; blank lines and a `\r` before the
 *   newline are ignored.
 *
 * It never throws on input: a line that does not parse becomes a LineError
 * with its 1-based line number and influxd's wording, and the lines around it
 * are kept (influxd's partial write). The parser knows nothing of devices or
 * metrics; mapping points to readings is the source's.
 */

export type FieldValue =
  | { type: 'float'; value: number }
  | { type: 'integer'; value: number }
  | { type: 'unsigned'; value: number }
  | { type: 'string'; value: string }
  | { type: 'boolean'; value: boolean }

export interface LinePoint {
  /** 1-based line number in the body (where the point starts). */
  line: number
  measurement: string
  tags: Map<string, string>
  fields: Map<string, FieldValue>
  /** As written, in the request's precision; null when the line has none. */
  timestamp: bigint | null
}

export interface LineError {
  line: number
  /** influxd's wording, e.g. `unable to parse 'cpu value=': missing field value`. */
  message: string
  /** The line as sent, cut to 200 characters. */
  text: string
}

export interface ParsedLines {
  points: LinePoint[]
  errors: LineError[]
}

export type Precision = 'ns' | 'n' | 'us' | 'u' | 'ms' | 's'

const NANOS: Record<Precision, bigint> = { ns: 1n, n: 1n, us: 1_000n, u: 1_000n, ms: 1_000_000n, s: 1_000_000_000n }

/** True for the precisions influxd accepts (`n`, `ns`, `u`, `us`, `ms`, `s`). */
export function isPrecision(value: string): value is Precision {
  return Object.hasOwn(NANOS, value)
}

/** A timestamp in `precision` as epoch milliseconds (sub-millisecond parts kept as a fraction). */
export function timestampToEpochMs(timestamp: bigint, precision: Precision): number {
  const nanos = timestamp * NANOS[precision]
  const ms = nanos / 1_000_000n
  return Number(ms) + Number(nanos - ms * 1_000_000n) / 1e6
}

/** The range influxd stores: 1677-09-21T00:12:43.145224194Z to 2262-04-11T23:47:16.854775806Z in nanoseconds. */
const MIN_NANOS = -9_223_372_036_854_775_806n
const MAX_NANOS = 9_223_372_036_854_775_806n

const MAX_ERROR_TEXT = 200

/** Parses a whole body. Every line gives a point or an error. */
export function parseLineProtocol(body: string, precision: Precision = 'ns'): ParsedLines {
  const points: LinePoint[] = []
  const errors: LineError[] = []
  const scanner = new Scanner(body)
  while (!scanner.done) {
    const start = scanner.pos
    const line = scanner.line
    const result = scanner.point(precision)
    if (result === null) continue // blank or comment
    if (typeof result === 'string') {
      const text = body.slice(start, scanner.lastLineEnd).replace(/\r$/, '')
      const shown = text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}...` : text
      errors.push({ line, message: `unable to parse '${shown}': ${result}`, text: shown })
    } else {
      points.push({ ...result, line })
    }
  }
  return { points, errors }
}

class Scanner {
  pos = 0
  /** Line number at pos (1-based). */
  line = 1
  /** End (exclusive, before the newline) of the line the last point ended on. */
  lastLineEnd = 0

  constructor(private readonly s: string) {}

  get done(): boolean {
    return this.pos >= this.s.length
  }

  /** Skips to the start of the next line; records where this one ended. */
  private nextLine(): void {
    const nl = this.s.indexOf('\n', this.pos)
    const end = nl === -1 ? this.s.length : nl
    this.lastLineEnd = end
    this.pos = nl === -1 ? this.s.length : nl + 1
    if (nl !== -1) this.line++
  }

  private skipBlanks(): void {
    const s = this.s
    while (this.pos < s.length && (s[this.pos] === ' ' || s[this.pos] === '\t')) this.pos++
  }

  private atLineEnd(): boolean {
    const c = this.s[this.pos]
    return c === undefined || c === '\n' || (c === '\r' && (this.s[this.pos + 1] === '\n' || this.pos + 1 === this.s.length))
  }

  /** One line: null for a blank or comment line, a string for an error (the scanner is then past the line). */
  point(precision: Precision): Omit<LinePoint, 'line'> | string | null {
    this.skipBlanks()
    if (this.atLineEnd() || this.s[this.pos] === '#') {
      this.nextLine()
      return null
    }
    const result = this.parsePoint(precision)
    if (typeof result === 'string') this.nextLine()
    return result
  }

  private parsePoint(precision: Precision): Omit<LinePoint, 'line'> | string {
    const measurement = this.key(false)
    if (measurement === '') return 'missing measurement'
    const tags = new Map<string, string>()
    while (this.s[this.pos] === ',') {
      this.pos++
      const key = this.key(true)
      if (key === '') return 'missing tag key'
      if (this.s[this.pos] !== '=') return 'missing tag value'
      this.pos++
      const value = this.key(true)
      if (value === '') return 'missing tag value'
      if (this.s[this.pos] === '=') return 'invalid tag format'
      if (tags.has(key)) return `duplicate tags`
      tags.set(key, value)
    }
    if (this.s[this.pos] !== ' ' && this.s[this.pos] !== '\t') return 'missing fields'
    this.skipBlanks()
    if (this.atLineEnd()) return 'missing fields'
    const fields = new Map<string, FieldValue>()
    for (;;) {
      const key = this.key(true)
      if (key === '') return 'missing field key'
      if (this.s[this.pos] !== '=') return 'missing field value'
      this.pos++
      const value = this.fieldValue()
      if (typeof value === 'string') return value
      if (fields.has(key)) return `duplicate field '${key}'`
      fields.set(key, value)
      if (this.s[this.pos] !== ',') break
      this.pos++
    }
    let timestamp: bigint | null = null
    const afterFields = this.s[this.pos]
    if (afterFields === ' ' || afterFields === '\t') {
      this.skipBlanks()
      if (!this.atLineEnd()) {
        const start = this.pos
        if (this.s[this.pos] === '-') this.pos++
        while (this.pos < this.s.length && this.s[this.pos]! >= '0' && this.s[this.pos]! <= '9') this.pos++
        const digits = this.s.slice(start, this.pos)
        if (digits === '' || digits === '-') return 'bad timestamp'
        this.skipBlanks()
        if (!this.atLineEnd()) return 'bad timestamp'
        timestamp = BigInt(digits)
        const nanos = timestamp * NANOS[precision]
        if (nanos < MIN_NANOS || nanos > MAX_NANOS) return 'time outside range -9223372036854775806 - 9223372036854775806'
      }
    } else if (!this.atLineEnd()) {
      return 'invalid field format'
    }
    this.nextLine()
    return { measurement, tags, fields, timestamp }
  }

  /**
   * A measurement (`withEquals` false: only commas and spaces are special) or
   * a tag key, tag value or field key (an unescaped `=` ends it too). A
   * backslash escapes the next special character; before any other it is
   * itself, as influxd reads it.
   */
  private key(withEquals: boolean): string {
    const s = this.s
    let out = ''
    let from = this.pos
    while (this.pos < s.length) {
      const c = s[this.pos]!
      if (c === '\\') {
        const next = s[this.pos + 1]
        if (next === ',' || next === ' ' || next === '=' || next === '\\' || (next === '"' && !withEquals)) {
          out += s.slice(from, this.pos) + next
          this.pos += 2
          from = this.pos
          continue
        }
        this.pos++
        continue
      }
      if (c === ',' || c === ' ' || c === '\t' || c === '\n' || (withEquals && c === '=')) break
      if (c === '\r' && (s[this.pos + 1] === '\n' || this.pos + 1 === s.length)) break
      this.pos++
    }
    return out + s.slice(from, this.pos)
  }

  private fieldValue(): FieldValue | string {
    const s = this.s
    if (s[this.pos] === '"') return this.stringValue()
    const start = this.pos
    while (this.pos < s.length) {
      const c = s[this.pos]!
      if (c === ',' || c === ' ' || c === '\t' || c === '\n') break
      if (c === '\r' && (s[this.pos + 1] === '\n' || this.pos + 1 === s.length)) break
      this.pos++
    }
    const raw = s.slice(start, this.pos)
    if (raw === '') return 'missing field value'
    switch (raw) {
      case 't': case 'T': case 'true': case 'True': case 'TRUE':
        return { type: 'boolean', value: true }
      case 'f': case 'F': case 'false': case 'False': case 'FALSE':
        return { type: 'boolean', value: false }
    }
    if (/^[tfTF]/.test(raw)) return 'invalid boolean'
    const last = raw[raw.length - 1]
    if (last === 'i' || last === 'u') {
      const digits = raw.slice(0, -1)
      if (!(last === 'i' ? /^-?\d+$/ : /^\d+$/).test(digits)) return `invalid number`
      const n = BigInt(digits)
      if (last === 'i' && (n < -(2n ** 63n) || n > 2n ** 63n - 1n)) return `unable to parse integer ${digits}: value out of range`
      if (last === 'u' && n > 2n ** 64n - 1n) return `unable to parse unsigned ${digits}: value out of range`
      return { type: last === 'i' ? 'integer' : 'unsigned', value: Number(n) }
    }
    if (!FLOAT.test(raw)) return 'invalid number'
    const value = Number(raw)
    if (!Number.isFinite(value)) return `invalid number`
    return { type: 'float', value }
  }

  private stringValue(): FieldValue | string {
    const s = this.s
    this.pos++ // the opening quote
    let out = ''
    let from = this.pos
    while (this.pos < s.length) {
      const c = s[this.pos]!
      if (c === '\\' && (s[this.pos + 1] === '"' || s[this.pos + 1] === '\\')) {
        out += s.slice(from, this.pos) + s[this.pos + 1]
        this.pos += 2
        from = this.pos
        continue
      }
      if (c === '"') {
        out += s.slice(from, this.pos)
        this.pos++
        return { type: 'string', value: out }
      }
      if (c === '\n') this.line++
      this.pos++
    }
    return 'unbalanced quotes'
  }
}

/** influxd's float syntax: digits with an optional point and exponent, an optional sign; no NaN, no Inf. */
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/**
 * Parses a data set's time column. `format` is `iso` (RFC 3339 / ISO 8601; a
 * value without an offset takes `zone`) or a pattern of the tokens YYYY, YY,
 * MM, DD, HH, mm, ss (and literal characters), read in `zone`, a fixed offset
 * such as `Z` or `+07:00`. Returns epoch ms, or undefined when the text does not fit.
 */
export function timestampParser(format: string, zone = 'Z'): (text: string) => number | undefined {
  const offsetMs = parseOffset(zone)
  if (format === 'iso') {
    return (text) => {
      const t = text.trim()
      if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(t)) return undefined
      const hasOffset = /(Z|z|[+-]\d{2}:?\d{2})$/.test(t)
      const ms = Date.parse(hasOffset ? t : t.replace(' ', 'T') + 'Z')
      if (Number.isNaN(ms)) return undefined
      return hasOffset ? ms : ms - offsetMs
    }
  }
  const tokens: string[] = []
  const source = format.replace(/YYYY|YY|MM|DD|HH|mm|ss|[.*+?^${}()|[\]\\]/g, (token) => {
    if (token.length === 1) return `\\${token}`
    tokens.push(token)
    return token === 'YYYY' ? '(\\d{4})' : '(\\d{2})'
  })
  const pattern = new RegExp(`^${source}$`)
  return (text) => {
    const m = pattern.exec(text.trim())
    if (!m) return undefined
    const part: Record<string, number> = { YYYY: 1970, MM: 1, DD: 1, HH: 0, mm: 0, ss: 0 }
    tokens.forEach((token, i) => {
      const n = Number(m[i + 1])
      if (token === 'YY') part.YYYY = 2000 + n
      else part[token] = n
    })
    const { YYYY, MM, DD, HH, mm, ss } = part as Record<'YYYY' | 'MM' | 'DD' | 'HH' | 'mm' | 'ss', number>
    const ms = Date.UTC(YYYY, MM - 1, DD, HH, mm, ss)
    // Date.UTC rolls 31 April over into May; a day that does not exist is not a timestamp.
    const check = new Date(ms)
    if (check.getUTCMonth() !== MM - 1 || check.getUTCDate() !== DD || HH > 23 || mm > 59 || ss > 59) return undefined
    return ms - offsetMs
  }
}

function parseOffset(zone: string): number {
  if (zone === 'Z' || zone === 'UTC') return 0
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)
  if (!m) throw new Error(`Time zone "${zone}" must be Z or a fixed offset such as +07:00.`)
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000
}

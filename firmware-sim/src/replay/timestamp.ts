import { zoneResolver } from './zone.ts'

/** A time cell read: an instant when the text carries its offset, else a wall-clock time to place in the mapping's zone. */
export type TimeText = { instant: number } | { wallMs: number }

/**
 * Reads a data set's time column. `format` is `iso` (RFC 3339 / ISO 8601,
 * with or without an offset) or a pattern of the tokens YYYY, YY, MM, DD, HH,
 * mm, ss (and literal characters). A wall-clock value is returned as the epoch
 * ms it would be in UTC. Undefined when the text does not fit.
 */
export function timeTextParser(format: string): (text: string) => TimeText | undefined {
  if (format === 'iso') {
    return (text) => {
      const t = text.trim()
      if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(t)) return undefined
      const hasOffset = /(Z|z|[+-]\d{2}:?\d{2})$/.test(t)
      const ms = Date.parse(hasOffset ? t : t.replace(' ', 'T') + 'Z')
      if (Number.isNaN(ms)) return undefined
      return hasOffset ? { instant: ms } : { wallMs: ms }
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
    return { wallMs: ms }
  }
}

/**
 * Parses a time cell to epoch ms, placing wall-clock times in `zone` (see
 * zone.ts). A local time that occurs twice gives its earlier instant; one that
 * does not exist gives undefined. The loader resolves repeated times by their
 * order in the file instead (see ambiguous-times.ts).
 */
export function timestampParser(format: string, zone = 'Z'): (text: string) => number | undefined {
  const read = timeTextParser(format)
  const resolve = zoneResolver(zone)
  return (text) => {
    const t = read(text)
    if (!t) return undefined
    return 'instant' in t ? t.instant : resolve(t.wallMs)[0]
  }
}

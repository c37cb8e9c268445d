/**
 * Local wall-clock time to instants in a time zone: `Z`/`UTC`, a fixed offset
 * such as `+07:00`, or an IANA zone such as `Europe/Dublin` (through Intl, so
 * with its daylight saving rules).
 */

/** Instants (epoch ms) whose local time is the wall-clock value, earliest first. */
export type ZoneResolver = (wallMs: number) => number[]

const FIXED_OFFSET = /^([+-])(\d{2}):?(\d{2})$/
const DAY_MS = 86_400_000

/** Undefined when the text names a usable zone, else why not. */
export function zoneProblem(zone: string): string | undefined {
  if (zone === 'Z' || zone === 'UTC' || FIXED_OFFSET.test(zone)) return undefined
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return undefined
  } catch {
    return `Time zone "${zone}" must be Z, a fixed offset such as +07:00, or an IANA zone such as Europe/Dublin.`
  }
}

/**
 * A wall-clock time can have one instant, none (skipped when clocks go
 * forward) or two (repeated when they go back); a fixed offset always gives one.
 */
export function zoneResolver(zone: string): ZoneResolver {
  const problem = zoneProblem(zone)
  if (problem) throw new Error(problem)
  if (zone === 'Z' || zone === 'UTC') return (wallMs) => [wallMs]
  const fixed = FIXED_OFFSET.exec(zone)
  if (fixed) {
    const offsetMs = (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000
    return (wallMs) => [wallMs - offsetMs]
  }
  const offsetAt = offsetFunction(zone)
  return (wallMs) => {
    // Offsets a day either side cover every transition that is not itself within two days of another.
    const offsets = new Set([offsetAt(wallMs - DAY_MS), offsetAt(wallMs), offsetAt(wallMs + DAY_MS)])
    const instants = [...offsets].map((o) => wallMs - o).filter((t) => offsetAt(t) === wallMs - t)
    return [...new Set(instants)].sort((a, b) => a - b)
  }
}

/** Offset of local time from UTC (ms) at an instant, in an IANA zone. */
function offsetFunction(zone: string): (utcMs: number) => number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  })
  const cache = new Map<number, number>()
  return (utcMs) => {
    const second = Math.floor(utcMs / 1000) * 1000
    let offset = cache.get(second)
    if (offset === undefined) {
      const part: Record<string, number> = {}
      for (const p of format.formatToParts(second)) if (p.type !== 'literal') part[p.type] = Number(p.value)
      const local = Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!, part.second!)
      offset = local - second
      if (cache.size > 100_000) cache.clear()
      cache.set(second, offset)
    }
    return offset
  }
}

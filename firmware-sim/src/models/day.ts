/** Da Nang is UTC+7 all year (no daylight saving). */
export const DANANG_UTC_OFFSET_HOURS = 7
const HOUR_MS = 3_600_000

/** Hours since local midnight in Da Nang, fractional. */
export function danangHour(epochMs: number): number {
  return (((epochMs / HOUR_MS + DANANG_UTC_OFFSET_HOURS) % 24) + 24) % 24
}

/** Whole days since 1970-01-01 in Da Nang local time. */
export function danangDay(epochMs: number): number {
  return Math.floor((epochMs / HOUR_MS + DANANG_UTC_OFFSET_HOURS) / 24)
}

/** True on Saturday and Sunday, local time (1970-01-01 was a Thursday). */
export function isWeekend(epochMs: number): boolean {
  const weekday = (danangDay(epochMs) + 4) % 7
  return weekday === 0 || weekday === 6
}

/** A bell centred on `centre` hours with `width` hours, wrapping around midnight; 1 at the centre. */
export function bump(hour: number, centre: number, width: number): number {
  const d = Math.min(Math.abs(hour - centre), 24 - Math.abs(hour - centre))
  return Math.exp(-(d * d) / (2 * width * width))
}

export const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits

export const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v))

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000

/** Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact. */
export const VIETNAM_UTC_OFFSET_MINUTES = 420

/** Start of the UTC-aligned bucket of `sizeMs` holding `time` (hours align in every whole-hour zone). */
export function bucketStart(time: number, sizeMs: number): number {
  return Math.floor(time / sizeMs) * sizeMs
}

/** Start of the local calendar day holding `time`, as epoch ms. */
export function localDayStart(time: number, utcOffsetMinutes: number): number {
  const offset = utcOffsetMinutes * MINUTE_MS
  return Math.floor((time + offset) / DAY_MS) * DAY_MS - offset
}

/** Minutes since local midnight, 0 <= m < 1440. */
export function localMinuteOfDay(time: number, utcOffsetMinutes: number): number {
  return (time - localDayStart(time, utcOffsetMinutes)) / MINUTE_MS
}

/** Local date as YYYY-MM-DD (for event details). */
export function localDate(time: number, utcOffsetMinutes: number): string {
  return new Date(localDayStart(time, utcOffsetMinutes) + utcOffsetMinutes * MINUTE_MS).toISOString().slice(0, 10)
}

/**
 * Formatting and colour scales. Pure module (no DOM), unit-tested from
 * dashboards/src/web-format.test.ts.
 */
import type { Lang } from './i18n.ts'

export const AQI_LEVELS = ['good', 'moderate', 'poor', 'bad', 'very_bad', 'hazardous'] as const
export type AqiLevel = (typeof AQI_LEVELS)[number]

/** VN_AQI band colours (Decision 1459/QĐ-TCMT). */
export const AQI_COLORS: Record<AqiLevel, string> = {
  good: '#00e400',
  moderate: '#ffff00',
  poor: '#ff7e00',
  bad: '#ff0000',
  very_bad: '#8f3f97',
  hazardous: '#7e0023',
}

export function isAqiLevel(value: unknown): value is AqiLevel {
  return typeof value === 'string' && (AQI_LEVELS as readonly string[]).includes(value)
}

/** The VN_AQI band of a value: 0–50 good, 51–100 moderate, 101–150 poor, 151–200 bad, 201–300 very bad, above hazardous. */
export function aqiLevelOf(value: number): AqiLevel {
  if (value <= 50) return 'good'
  if (value <= 100) return 'moderate'
  if (value <= 150) return 'poor'
  if (value <= 200) return 'bad'
  if (value <= 300) return 'very_bad'
  return 'hazardous'
}

/** The band to show: the server's level when it sent a known one, else derived from the value. */
export function aqiLevel(level: string | null | undefined, value: number | null | undefined): AqiLevel | null {
  if (isAqiLevel(level)) return level
  if (typeof value === 'number' && Number.isFinite(value)) return aqiLevelOf(value)
  return null
}

/** Text colour readable on a band colour (yellow and green need dark text). */
export function textOn(background: string): string {
  const hex = background.replace('#', '')
  if (hex.length !== 6) return '#000'
  const r = parseInt(hex.slice(0, 2), 16)
  const g = parseInt(hex.slice(2, 4), 16)
  const b = parseInt(hex.slice(4, 6), 16)
  // Relative luminance, sRGB approximation: good enough to pick black or white.
  return 0.299 * r + 0.587 * g + 0.114 * b > 120 ? '#000' : '#fff'
}

/** Traffic level of service A–F: green (free flow) to dark red (breakdown). */
export const LOS_COLORS: Record<string, string> = {
  A: '#00c853',
  B: '#64dd17',
  C: '#ffd600',
  D: '#ff9100',
  E: '#ff1744',
  F: '#8b0000',
}

export function losColor(los: string | null | undefined): string {
  return (los && LOS_COLORS[los.toUpperCase()]) || '#607080'
}

export const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

export const SEVERITY_COLORS: Record<Severity, string> = {
  critical: '#ff1744',
  major: '#ff9100',
  minor: '#ffd600',
  warning: '#40c4ff',
  info: '#90a4ae',
}

/** 0 for critical … 4 for info; unknown severities sort last. */
export function severityRank(severity: string): number {
  const i = (SEVERITIES as readonly string[]).indexOf(severity)
  return i < 0 ? SEVERITIES.length : i
}

/** Flood alert levels 0 (normal) to 3 (báo động III). */
export const FLOOD_COLORS = ['#00c853', '#ffd600', '#ff9100', '#ff1744'] as const

export function floodColor(alert: number): string {
  const i = Math.max(0, Math.min(3, Math.round(alert)))
  return FLOOD_COLORS[i] ?? FLOOD_COLORS[0]
}

export const STATUS_COLORS: Record<string, string> = {
  online: '#00c853',
  stale: '#ffd600',
  offline: '#ff5252',
}

export const COMMAND_STATUSES = ['pending', 'ok', 'rejected', 'failed', 'timeout'] as const

/** A number with at most `digits` decimals, locale grouping; '–' for null/NaN. */
export function formatNumber(value: number | null | undefined, digits = 1, lang: Lang = 'en'): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–'
  return value.toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', { maximumFractionDigits: digits })
}

/** Sensible decimals for a metric value: fewer for big numbers. */
export function formatValue(value: number | null | undefined, unit = '', lang: Lang = 'en'): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–'
  const abs = Math.abs(value)
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3
  const text = formatNumber(value, digits, lang)
  return unit && unit !== 'bool' ? `${text} ${unit}` : text
}

const TIME_ZONE = 'Asia/Ho_Chi_Minh'

/** Date and time in Da Nang's time zone (operators read local time whatever the browser's zone). */
export function formatDateTime(ms: number | null | undefined, lang: Lang = 'en'): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  return new Date(ms).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  })
}

export function formatTime(ms: number | null | undefined, lang: Lang = 'en'): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  return new Date(ms).toLocaleTimeString(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: TIME_ZONE, hour12: false })
}

/** How long ago, as a message key and count ('time.minutesAgo', 5). */
export function relativeParts(ms: number, now: number): { key: 'time.justNow' | 'time.secondsAgo' | 'time.minutesAgo' | 'time.hoursAgo' | 'time.daysAgo'; n: number } {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 5) return { key: 'time.justNow', n: 0 }
  if (s < 60) return { key: 'time.secondsAgo', n: s }
  if (s < 3600) return { key: 'time.minutesAgo', n: Math.floor(s / 60) }
  if (s < 86400) return { key: 'time.hoursAgo', n: Math.floor(s / 3600) }
  return { key: 'time.daysAgo', n: Math.floor(s / 86400) }
}

/** A value between 0 and 100 for a fill bar. */
export function clampPercent(value: number | null | undefined): number {
  if (value === null || value === undefined || !Number.isFinite(value)) return 0
  return Math.max(0, Math.min(100, value))
}

export interface SortableAlarm {
  severity: string
  time?: number
  raisedAt?: number
}

/** Active alarms as operators read them: most severe first, then newest first. */
export function compareAlarms(a: SortableAlarm, b: SortableAlarm): number {
  const bySeverity = severityRank(a.severity) - severityRank(b.severity)
  if (bySeverity !== 0) return bySeverity
  return (b.raisedAt ?? b.time ?? 0) - (a.raisedAt ?? a.time ?? 0)
}

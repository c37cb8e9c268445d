import { GridlineError } from '@gridline/core'
import type pg from 'pg'
import { escapeHtml } from '../html.ts'

/**
 * The daily air-quality report of one district (docs/exports.md#air-quality-report):
 * the day's VN_AQI, its hourly values and worst hours (indicator_values), and the
 * hours and days its sensors' means exceeded the national ambient limits (telemetry).
 */

/**
 * QCVN 05:2023/BTNMT, national technical regulation on ambient air quality, Table 1
 * (µg/m³): the 1-hour and 24-hour limits. The 8-hour (O3, CO) and yearly limits
 * need longer windows than one day's report and are left out.
 */
export const NATIONAL_LIMITS: readonly { metric: string; averaging: '1h' | '24h'; limit: number; scale: number }[] = [
  { metric: 'so2', averaging: '1h', limit: 350, scale: 1 },
  { metric: 'so2', averaging: '24h', limit: 125, scale: 1 },
  { metric: 'no2', averaging: '1h', limit: 200, scale: 1 },
  { metric: 'no2', averaging: '24h', limit: 100, scale: 1 },
  { metric: 'o3', averaging: '1h', limit: 200, scale: 1 },
  // CO is stored in mg/m³: compared in µg/m³.
  { metric: 'co', averaging: '1h', limit: 30_000, scale: 1000 },
  { metric: 'pm10', averaging: '24h', limit: 100, scale: 1 },
  { metric: 'pm25', averaging: '24h', limit: 50, scale: 1 },
]

/** Vietnam's offset: the report's day runs 00:00-24:00 local (UTC+7, no daylight saving). */
const OFFSET = '+07:00'
const HOUR = 3_600_000
/** A 24-hour mean needs this many hourly means (as the indicators' dailyMinHours). */
export const REPORT_MIN_HOURS = 18

export interface AqReport {
  district: string
  date: string
  from: number
  to: number
  daily: { value: number; level: string | null; dominant: string | null; revision: number } | null
  hourly: { time: number; value: number; level: string | null; dominant: string | null; worstSensor: string | null }[]
  worstHours: { time: number; value: number; level: string | null; dominant: string | null; worstSensor: string | null }[]
  exceedances: { sensor: string; metric: string; averaging: '1h' | '24h'; time: number; mean: number; limit: number; hours: number }[]
  sensors: string[]
}

export function parseReportParams(q: Record<string, string | undefined>): { district: string; date: string; format: 'csv' | 'html' | 'json' } {
  const district = q.district?.trim()
  if (!district || district.length > 200) throw new GridlineError('GRIDLINE_BAD_REQUEST', 'district: the district\'s name as in the devices\' metadata, e.g. district=Hải Châu.')
  const date = q.date ?? ''
  if (!/^\d{4}-\d\d-\d\d$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00${OFFSET}`)) || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
    throw new GridlineError('GRIDLINE_BAD_REQUEST', `date: a local day as YYYY-MM-DD, e.g. date=2026-11-30, not "${date}".`)
  }
  const format = (q.format || 'html') as 'csv' | 'html' | 'json'
  if (!['csv', 'html', 'json'].includes(format)) throw new GridlineError('GRIDLINE_BAD_REQUEST', `format: csv, html or json, not "${q.format}".`)
  return { district, date, format }
}

/** Reads the report from storage: a few small queries, bounded by the district's sensors and one day. */
export async function airQualityReport(db: Pick<pg.Pool, 'query'>, district: string, date: string): Promise<AqReport> {
  const from = Date.parse(`${date}T00:00:00${OFFSET}`)
  const to = from + 24 * HOUR
  const daily = await db.query<{ value: number; level: string | null; dominant: string | null; revision: number }>(
    `SELECT value, level, details->>'dominant' AS dominant, revision FROM indicator_values
      WHERE name = 'vn_aqi_daily' AND scope = 'district' AND key = $1 AND time = $2`, [district, new Date(from)])
  // Hourly values are stamped at the hour's end: the day's are 01:00 ... 24:00.
  const hourly = await db.query<{ t: string; value: number; level: string | null; dominant: string | null; worst: string | null }>(
    `SELECT (extract(epoch FROM time) * 1000)::bigint AS t, value, level, details->>'dominant' AS dominant, details->>'worstSensor' AS worst
       FROM indicator_values
      WHERE name = 'vn_aqi_hourly' AND scope = 'district' AND key = $1 AND time > $2 AND time <= $3
      ORDER BY time`, [district, new Date(from), new Date(to)])
  const sensors = await db.query<{ id: string }>(`SELECT id FROM devices WHERE metadata->>'district' = $1 AND kind = 'device' ORDER BY id`, [district])
  const metrics = [...new Set(NATIONAL_LIMITS.map((l) => l.metric))]
  const means = await db.query<{ device_id: string; metric: string; t: string; mean: number }>(
    `SELECT device_id, metric, (extract(epoch FROM date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01')) * 1000)::bigint AS t, avg(value) AS mean
       FROM telemetry
      WHERE device_id = ANY ($1) AND metric = ANY ($2) AND quality = 0 AND time >= $3 AND time < $4
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, [sensors.rows.map((r) => r.id), metrics, new Date(from), new Date(to)])
  const exceedances: AqReport['exceedances'] = []
  const bySeries = new Map<string, { sensor: string; metric: string; hours: { t: number; mean: number }[] }>()
  for (const r of means.rows) {
    const k = `${r.device_id}\u0000${r.metric}`
    let s = bySeries.get(k)
    if (!s) bySeries.set(k, s = { sensor: r.device_id, metric: r.metric, hours: [] })
    s.hours.push({ t: Number(r.t), mean: Number(r.mean) })
  }
  for (const s of bySeries.values()) {
    for (const limit of NATIONAL_LIMITS.filter((l) => l.metric === s.metric)) {
      if (limit.averaging === '1h') {
        for (const h of s.hours) {
          const mean = h.mean * limit.scale
          if (mean > limit.limit) exceedances.push({ sensor: s.sensor, metric: s.metric, averaging: '1h', time: h.t + HOUR, mean: round1(mean), limit: limit.limit, hours: 1 })
        }
      } else if (s.hours.length >= REPORT_MIN_HOURS) {
        const mean = (s.hours.reduce((a, h) => a + h.mean, 0) / s.hours.length) * limit.scale
        if (mean > limit.limit) exceedances.push({ sensor: s.sensor, metric: s.metric, averaging: '24h', time: to, mean: round1(mean), limit: limit.limit, hours: s.hours.length })
      }
    }
  }
  exceedances.sort((a, b) => a.time - b.time || a.sensor.localeCompare(b.sensor) || a.metric.localeCompare(b.metric))
  const hourlyRows = hourly.rows.map((r) => ({ time: Number(r.t), value: Number(r.value), level: r.level, dominant: r.dominant, worstSensor: r.worst }))
  const worstHours = [...hourlyRows].sort((a, b) => b.value - a.value || a.time - b.time).slice(0, 3)
  const d = daily.rows[0]
  return {
    district, date, from, to,
    daily: d ? { value: Number(d.value), level: d.level, dominant: d.dominant, revision: d.revision } : null,
    hourly: hourlyRows, worstHours, exceedances, sensors: sensors.rows.map((r) => r.id),
  }
}

const round1 = (v: number) => Math.round(v * 10) / 10

/** A time as ISO 8601 in Vietnam's offset: 2026-11-30T13:00:00+07:00. */
export function localIso(ms: number): string {
  return `${new Date(ms + 7 * HOUR).toISOString().slice(0, 19)}${OFFSET}`
}

/** A CSV cell [RFC 4180 2.6, 2.7], with formulas defended as in the exports. */
export function csvCell(v: string | number | null): string {
  if (v === null) return ''
  let s = String(v)
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** The report as one rectangular CSV: a `section` column tells the day, its hours, its worst hours and the exceedances apart. */
export function reportCsv(r: AqReport): string {
  const header = ['section', 'district', 'time', 'sensor', 'pollutant', 'averaging', 'value', 'limit', 'level', 'hours']
  const rows: (string | number | null)[][] = []
  if (r.daily) rows.push(['vn_aqi_daily', r.district, localIso(r.from), null, r.daily.dominant, '24h', r.daily.value, null, r.daily.level, null])
  for (const h of r.hourly) rows.push(['vn_aqi_hourly', r.district, localIso(h.time), h.worstSensor, h.dominant, '1h', h.value, null, h.level, null])
  for (const h of r.worstHours) rows.push(['worst_hour', r.district, localIso(h.time), h.worstSensor, h.dominant, '1h', h.value, null, h.level, null])
  for (const e of r.exceedances) rows.push(['exceedance', r.district, localIso(e.time), e.sensor, e.metric, e.averaging, e.mean, e.limit, null, e.hours])
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n'
}

const LEVELS: Record<string, [string, string]> = {
  good: ['Tốt', 'Good'], moderate: ['Trung bình', 'Moderate'], poor: ['Kém', 'Poor'],
  bad: ['Xấu', 'Bad'], very_bad: ['Rất xấu', 'Very bad'], hazardous: ['Nguy hại', 'Hazardous'],
}
const POLLUTANTS: Record<string, string> = { pm25: 'PM2.5', pm10: 'PM10', o3: 'O₃', no2: 'NO₂', so2: 'SO₂', co: 'CO' }

const bi = (vi: string, en: string) => `<span lang="vi">${escapeHtml(vi)}</span> <span lang="en" class="en">/ ${escapeHtml(en)}</span>`
const level = (l: string | null) => (l && LEVELS[l] ? `<span class="level level-${escapeHtml(l)}">${bi(LEVELS[l][0], LEVELS[l][1])}</span>` : '–')
const hhmm = (ms: number) => { const t = localIso(ms).slice(11, 16); return t === '00:00' ? '24:00' : t }

/** The printable page (print CSS in reportCss): Vietnamese first, English beside it. */
export function reportHtml(r: AqReport, cssHref: string, generatedAt = Date.now()): string {
  const title = `Báo cáo chất lượng không khí ngày ${r.date.split('-').reverse().join('/')} – ${r.district}`
  const hourRows = r.hourly.map((h) => `<tr><td>${hhmm(h.time)}</td><td class="num">${h.value}</td><td>${level(h.level)}</td><td>${escapeHtml(POLLUTANTS[h.dominant ?? ''] ?? h.dominant ?? '–')}</td><td>${escapeHtml(h.worstSensor ?? '–')}</td></tr>`).join('\n')
  const worst = r.worstHours.map((h) => `<li>${hhmm(h.time)}: VN_AQI <strong>${h.value}</strong> ${level(h.level)}${h.dominant ? `, ${escapeHtml(POLLUTANTS[h.dominant] ?? h.dominant)}` : ''}</li>`).join('\n')
  const exceed = r.exceedances.map((e) => `<tr><td>${e.averaging === '1h' ? hhmm(e.time) : bi('cả ngày', 'whole day')}</td><td>${escapeHtml(e.sensor)}</td><td>${escapeHtml(POLLUTANTS[e.metric] ?? e.metric)}</td><td>${e.averaging}</td><td class="num">${e.mean}</td><td class="num">${e.limit}</td></tr>`).join('\n')
  return `<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${escapeHtml(cssHref)}">
</head>
<body>
<header>
<h1 id="report-title">${bi('Báo cáo chất lượng không khí ngày', 'Daily air-quality report')}</h1>
<p class="meta">${bi('Quận/huyện', 'District')}: <strong id="report-district">${escapeHtml(r.district)}</strong> · ${bi('Ngày', 'Date')}: <strong>${escapeHtml(r.date.split('-').reverse().join('/'))}</strong> (00:00–24:00, UTC+07:00) · ${bi('Số trạm', 'Sensors')}: ${r.sensors.length}</p>
</header>
<section id="daily">
<h2>${bi('Chỉ số VN_AQI ngày', 'Daily VN_AQI')}</h2>
${r.daily ? `<p class="big"><span id="daily-value">${r.daily.value}</span> ${level(r.daily.level)}${r.daily.dominant ? ` · ${bi('chất ô nhiễm chính', 'dominant pollutant')}: ${escapeHtml(POLLUTANTS[r.daily.dominant] ?? r.daily.dominant)}` : ''}</p>` : `<p id="daily-value" class="none">${bi('Chưa đủ số liệu để tính', 'Not enough data to compute it')}</p>`}
<p class="note">${bi('Theo Quyết định 1459/QĐ-TCMT; chỉ số của quận là giá trị lớn nhất của các trạm.', 'Per Decision 1459/QĐ-TCMT; the district value is the largest of its sensors.')}</p>
</section>
<section id="worst">
<h2>${bi('Các giờ ô nhiễm nhất', 'Worst hours')}</h2>
${worst ? `<ol>${worst}</ol>` : `<p>–</p>`}
</section>
<section id="exceedances">
<h2>${bi('Vượt quy chuẩn QCVN 05:2023/BTNMT', 'Exceedances of QCVN 05:2023/BTNMT')}</h2>
${exceed ? `<table><thead><tr><th>${bi('Giờ', 'Hour')}</th><th>${bi('Trạm', 'Sensor')}</th><th>${bi('Chất', 'Pollutant')}</th><th>${bi('Trung bình', 'Averaging')}</th><th>${bi('Giá trị (µg/m³)', 'Value (µg/m³)')}</th><th>${bi('Giới hạn', 'Limit')}</th></tr></thead><tbody>${exceed}</tbody></table>` : `<p id="no-exceedances">${bi('Không có giá trị vượt quy chuẩn.', 'No exceedance.')}</p>`}
</section>
<section id="hourly">
<h2>${bi('VN_AQI theo giờ', 'Hourly VN_AQI')}</h2>
<table><thead><tr><th>${bi('Giờ', 'Hour')}</th><th>VN_AQI</th><th>${bi('Mức', 'Level')}</th><th>${bi('Chất chính', 'Dominant')}</th><th>${bi('Trạm cao nhất', 'Worst sensor')}</th></tr></thead>
<tbody>${hourRows}</tbody></table>
</section>
<footer><p>${bi('Lập lúc', 'Generated')} ${escapeHtml(localIso(generatedAt))} · gridline</p></footer>
</body>
</html>
`
}

/** The report's style sheet: served as a file (the console's CSP allows no inline styles), A4 print rules. */
export const REPORT_CSS = `body{font-family:system-ui,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;color:#111}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #999}
.en{color:#555;font-weight:normal}.meta,.note{color:#333}.big{font-size:2rem;margin:.2rem 0}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:.2rem .4rem;text-align:left}td.num{text-align:right}
.level{padding:0 .3rem;border-radius:.2rem}.level-good{background:#00e400}.level-moderate{background:#ffff00}.level-poor{background:#ff7e00}
.level-bad{background:#ff0000;color:#fff}.level-very_bad{background:#8f3f97;color:#fff}.level-hazardous{background:#7e0023;color:#fff}
@media print{@page{size:A4;margin:15mm}body{margin:0;max-width:none;font-size:10pt}.level{-webkit-print-color-adjust:exact;print-color-adjust:exact}
section{break-inside:avoid}#hourly{break-before:auto}thead{display:table-header-group}tr{break-inside:avoid}}
`

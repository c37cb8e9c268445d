import { Quality } from '@gridline/schemas'
import type { Reading } from '../../stream/events.ts'

/**
 * Test support, not used by the service: hourly VN_AQI written as plainly as
 * possible, separately from vn-aqi.ts, so tests can check the indicator
 * against it on recorded data (PM2.5 and PM10 only, as the HCMC sensor has).
 */
const HOUR = 3_600_000

export interface ReferenceOptions {
  /**
   * Share of the expected readings an hour needs, % (default 75, the service's default);
   * 0: any reading makes an hourly mean.
   */
  completenessPct?: number
  /** The device's reporting interval, s; default: the median spacing of each metric's good readings over the whole input. */
  intervalS?: number
}

// An independent, deliberately plain computation: hourly means of the hours complete
// enough -> NowCast per the decision's text -> AQI from Table 2 -> the larger of PM2.5
// and PM10 -> rounded. One device.
export function independentHourlyVnAqi(readings: Reading[], options: ReferenceOptions = {}): Map<number, number> {
  const completenessPct = options.completenessPct ?? 75
  const sums = new Map<string, { s: number; n: number }>()
  const times = new Map<string, number[]>()
  for (const r of readings) {
    if (r.quality !== Quality.GOOD) continue
    const k = `${r.metric}@${Math.floor(r.time / HOUR) * HOUR}`
    const a = sums.get(k) ?? { s: 0, n: 0 }
    a.s += r.value; a.n++
    sums.set(k, a)
    const t = times.get(r.metric)
    if (t === undefined) times.set(r.metric, [r.time])
    else t.push(r.time)
  }
  const needed = new Map<string, number>()
  for (const [metric, t] of times) {
    let intervalMs = (options.intervalS ?? 0) * 1000
    if (intervalMs === 0) {
      const sorted = [...new Set(t)].sort((a, b) => a - b)
      const gaps = sorted.slice(1).map((x, i) => x - sorted[i]!).sort((a, b) => a - b)
      intervalMs = gaps[Math.floor((gaps.length - 1) / 2)]!
    }
    const expected = Math.max(1, Math.round(HOUR / intervalMs))
    needed.set(metric, Math.max(1, Math.ceil(Math.round(completenessPct * expected) / 100)))
  }
  const mean = (metric: string, hour: number): number | undefined => {
    const a = sums.get(`${metric}@${hour}`)
    return a === undefined || a.n < needed.get(metric)! ? undefined : a.s / a.n
  }
  const nowcast = (metric: string, hour: number): number | undefined => {
    const c: (number | undefined)[] = []
    for (let i = 0; i < 12; i++) c.push(mean(metric, hour - i * HOUR))
    if (c.slice(0, 3).filter((x) => x !== undefined).length < 2) return undefined
    const present = c.filter((x): x is number => x !== undefined)
    const ratio = Math.min(...present) / Math.max(...present)
    const w = ratio > 0.5 ? ratio : 0.5
    let num = 0, den = 0
    c.forEach((x, i) => { if (x !== undefined) { num += x * w ** i; den += w ** i } })
    return num / den
  }
  const table = (bp: number[], c: number): number => {
    const I = [0, 50, 100, 150, 200, 300, 400, 500]
    for (let i = 0; i < bp.length - 1; i++) {
      if (c <= bp[i + 1]!) return ((I[i + 1]! - I[i]!) / (bp[i + 1]! - bp[i]!)) * (c - bp[i]!) + I[i]!
    }
    return 500
  }
  const hours = new Set([...sums.keys()].map((k) => Number(k.split('@')[1])))
  const result = new Map<number, number>()
  for (const hour of hours) {
    const pm25 = nowcast('pm25', hour)
    const pm10 = nowcast('pm10', hour)
    if (pm25 === undefined && pm10 === undefined) continue
    const a25 = pm25 === undefined ? -1 : table([0, 25, 50, 80, 150, 250, 350, 500], pm25)
    const a10 = pm10 === undefined ? -1 : table([0, 50, 150, 250, 350, 420, 500, 600], pm10)
    result.set(hour + HOUR, Math.round(Math.max(a25, a10)))
  }
  return result
}


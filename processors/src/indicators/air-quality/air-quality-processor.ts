import type { DeviceInfo, IndicatorEvent, Reading } from '../../stream/events.ts'
import { type IndicatorProcessor, type IndicatorStats, groupOf } from '../shared/processor.ts'
import { DAY_MS, HOUR_MS, bucketStart, localDate, localDayStart } from '../shared/time.ts'
import { usAqiBand, vnAqiBand } from './bands.ts'
import type { AirQualityConfig } from './config.ts'
import { usAqi, usNowcast } from './us-aqi.ts'
import { type AqiResult, maxEightHourMean, vnAqiDaily, vnAqiHourly, vnNowcast } from './vn-aqi.ts'

const POLLUTANTS = ['pm25', 'pm10', 'o3', 'no2', 'so2', 'co'] as const
type Pollutant = (typeof POLLUTANTS)[number]
const isPollutant = (metric: string): metric is Pollutant => (POLLUTANTS as readonly string[]).includes(metric)

interface Sum { sum: number; n: number }

/** Spacings between one pollutant's consecutive readings, to infer the reporting interval. */
interface Spacing {
  last: number
  /** The last SPACING_SAMPLES spacings, ms, as a ring. */
  ring: number[]
  next: number
}

/** Spacings the inferred interval is the median of: a gap or two does not move it. */
const SPACING_SAMPLES = 15

interface SensorState {
  district: string | undefined
  /** Registry metadata `reportingIntervalS`, ms; undefined: infer it from `spacing`. */
  reportingIntervalMs: number | undefined
  spacing: Map<Pollutant, Spacing>
  /** Open hours: hour start -> pollutant -> running sum. */
  open: Map<number, Map<Pollutant, Sum>>
  /** Closed hourly means: pollutant -> hour start -> mean. Kept for 36 h (NowCast, 8-hour and daily means). */
  hourly: Map<Pollutant, Map<number, number>>
}

interface DistrictWorst { value: number; sensor: string; sensors: number }

const HISTORY_MS = 36 * HOUR_MS

/**
 * VN_AQI and US EPA AQI per sensor and per district. Hourly values are emitted when
 * the hour closes (time = the hour's end, as the decision labels hours); daily values
 * when the local day closes (time = the day's start).
 *
 * An hourly mean counts only when the hour holds `hourlyCompletenessPct` of the
 * readings the device should have sent in it (and at least `minReadingsPerHour`):
 * the expected count is one hour over the device's reporting interval, rounded, from
 * registry metadata `reportingIntervalS`, else the median spacing of the pollutant's
 * last 15 readings. An hour that falls short is a missing hour, which the decision's
 * own rules then handle (NowCast needs 2 of c1..c3, a missing ci weighs 0).
 */
export class AirQualityProcessor implements IndicatorProcessor {
  readonly name = 'air-quality'
  readonly metrics: readonly string[] = POLLUTANTS
  private readonly sensors = new Map<string, SensorState>()
  /** Hour start -> sensors with readings in it, so closing costs nothing per reading. */
  private readonly openHours = new Map<number, Set<string>>()
  private closedBefore = -Infinity
  private nextDayEnd: number | undefined
  private lastHourWithData = -Infinity
  /** Hourly means left out as incomplete (per sensor and pollutant), since start. */
  incompleteHours = 0

  constructor(private readonly config: AirQualityConfig, private readonly stats: IndicatorStats) {}

  onReading(reading: Reading, device: DeviceInfo | undefined): void {
    if (!isPollutant(reading.metric)) return
    const hour = bucketStart(reading.time, HOUR_MS)
    if (hour < this.closedBefore) { this.stats.late++; return }
    let sensor = this.sensors.get(reading.deviceId)
    if (sensor === undefined) {
      sensor = { district: groupOf(device, 'district'), reportingIntervalMs: undefined, spacing: new Map(), open: new Map(), hourly: new Map() }
      this.sensors.set(reading.deviceId, sensor)
    }
    // Read every time: a metadata change reaches the running service without a restart.
    sensor.district = groupOf(device, 'district')
    const intervalS = device?.metadata.reportingIntervalS
    sensor.reportingIntervalMs = typeof intervalS === 'number' && intervalS > 0 ? intervalS * 1000 : undefined
    trackSpacing(sensor.spacing, reading.metric, reading.time)
    let sums = sensor.open.get(hour)
    if (sums === undefined) {
      sums = new Map()
      sensor.open.set(hour, sums)
      let set = this.openHours.get(hour)
      if (set === undefined) { set = new Set(); this.openHours.set(hour, set) }
      set.add(reading.deviceId)
    }
    const s = sums.get(reading.metric)
    if (s === undefined) sums.set(reading.metric, { sum: reading.value, n: 1 })
    else { s.sum += reading.value; s.n++ }
    if (hour > this.lastHourWithData) this.lastHourWithData = hour
    this.nextDayEnd ??= localDayStart(reading.time, this.config.utcOffsetMinutes) + DAY_MS
  }

  onWatermark(watermark: number, out: IndicatorEvent[]): void {
    const due = [...this.openHours.keys()].filter((h) => h + HOUR_MS <= watermark).sort((a, b) => a - b)
    for (const hour of due) {
      this.closeHour(hour, this.openHours.get(hour)!, out)
      this.openHours.delete(hour)
    }
    if (watermark !== Infinity) this.closedBefore = Math.max(this.closedBefore, bucketStart(watermark, HOUR_MS))
    else this.closedBefore = Infinity
    while (this.nextDayEnd !== undefined && this.nextDayEnd <= watermark && this.nextDayEnd - DAY_MS <= this.lastHourWithData) {
      this.closeDay(this.nextDayEnd - DAY_MS, out)
      this.nextDayEnd += DAY_MS
    }
  }

  private closeHour(hour: number, sensorIds: Set<string>, out: IndicatorEvent[]): void {
    const vnWorst = new Map<string, DistrictWorst>()
    const usWorst = new Map<string, DistrictWorst>()
    const time = hour + HOUR_MS
    for (const id of sensorIds) {
      const sensor = this.sensors.get(id)!
      const sums = sensor.open.get(hour)
      sensor.open.delete(hour)
      if (sums === undefined) continue
      for (const [pollutant, s] of sums) {
        if (s.n < this.requiredReadings(sensor, pollutant)) {
          this.incompleteHours++
          this.stats.incompleteHours[pollutant] = (this.stats.incompleteHours[pollutant] ?? 0) + 1
          continue
        }
        let series = sensor.hourly.get(pollutant)
        if (series === undefined) { series = new Map(); sensor.hourly.set(pollutant, series) }
        series.set(hour, s.sum / s.n)
        for (const h of series.keys()) if (h < hour - HISTORY_MS) series.delete(h)
      }
      const back = (p: Pollutant, count: number): (number | undefined)[] => {
        const series = sensor.hourly.get(p)
        const values: (number | undefined)[] = []
        for (let i = 0; i < count; i++) values.push(series?.get(hour - i * HOUR_MS))
        return values
      }
      const now = (p: Pollutant): number | undefined => sensor.hourly.get(p)?.get(hour)
      const mean8 = (p: Pollutant): number | undefined => {
        const present = back(p, 8).filter((v): v is number => v !== undefined)
        return present.length >= this.config.eightHourMinHours ? present.reduce((a, b) => a + b, 0) / present.length : undefined
      }
      const details = { periodStart: new Date(hour).toISOString() }

      if (this.config.vnAqi) {
        const nowcastOptions = { literalHalfWeight: this.config.literalHalfWeightNowcast }
        const pm25Nowcast = vnNowcast(back('pm25', 12), nowcastOptions)
        const pm10Nowcast = vnNowcast(back('pm10', 12), nowcastOptions)
        const r = vnAqiHourly({ pm25Nowcast, pm10Nowcast, o3: now('o3'), no2: now('no2'), so2: now('so2'), coMgM3: now('co') })
        if (r !== undefined) {
          out.push(aqiEvent('vn_aqi_hourly', 'device', id, time, r, { ...details, ...(pm25Nowcast === undefined ? {} : { pm25Nowcast: round1(pm25Nowcast) }), ...(pm10Nowcast === undefined ? {} : { pm10Nowcast: round1(pm10Nowcast) }) }))
          trackWorst(vnWorst, sensor.district, id, r.value)
        }
      }
      if (this.config.usAqi) {
        const r = usAqi({
          pm25: usNowcast(back('pm25', 12)), pm10: usNowcast(back('pm10', 12)),
          o3Mean8hUgM3: mean8('o3'), o3Mean1hUgM3: now('o3'), no2UgM3: now('no2'), so2UgM3: now('so2'), coMean8hMgM3: mean8('co'),
        })
        if (r !== undefined) {
          out.push(aqiEvent('us_aqi_hourly', 'device', id, time, r, details))
          trackWorst(usWorst, sensor.district, id, r.value)
        }
      }
    }
    if (this.config.perDistrict) {
      this.emitDistricts('vn_aqi_hourly', vnWorst, time, out)
      this.emitDistricts('us_aqi_hourly', usWorst, time, out)
    }
  }

  /**
   * Readings a pollutant's hour needs to count: `hourlyCompletenessPct` of the expected
   * count (one hour over the reporting interval, rounded, at least 1), at least
   * `minReadingsPerHour`. Infinity while the interval is unknown (no metadata and no two
   * readings yet): completeness cannot be judged, so the hour does not count.
   */
  private requiredReadings(sensor: SensorState, pollutant: Pollutant): number {
    const pct = this.config.hourlyCompletenessPct
    if (pct <= 0) return this.config.minReadingsPerHour
    const intervalMs = sensor.reportingIntervalMs ?? medianSpacing(sensor.spacing.get(pollutant))
    if (intervalMs === undefined) return Infinity
    const expected = Math.max(1, Math.round(HOUR_MS / intervalMs))
    // The epsilon keeps 75 % of 24 at 18, not 18.000000000000004 -> 19.
    return Math.max(this.config.minReadingsPerHour, Math.ceil((pct / 100) * expected - 1e-9))
  }

  private closeDay(dayStart: number, out: IndicatorEvent[]): void {
    const vnWorst = new Map<string, DistrictWorst>()
    const usWorst = new Map<string, DistrictWorst>()
    const details = { date: localDate(dayStart, this.config.utcOffsetMinutes) }
    for (const [id, sensor] of this.sensors) {
      const dayValues = (p: Pollutant, from = dayStart): (number | undefined)[] => {
        const series = sensor.hourly.get(p)
        const values: (number | undefined)[] = []
        for (let h = from; h < dayStart + DAY_MS; h += HOUR_MS) values.push(series?.get(h))
        return values
      }
      const present = (p: Pollutant): number[] => dayValues(p).filter((v): v is number => v !== undefined)
      const mean24 = (p: Pollutant): number | undefined => {
        const v = present(p)
        return v.length >= this.config.dailyMinHours ? v.reduce((a, b) => a + b, 0) / v.length : undefined
      }
      const max1 = (p: Pollutant): number | undefined => {
        const v = present(p)
        return v.length > 0 ? Math.max(...v) : undefined
      }
      // 8-hour means ending in this day reach back 7 hours into the previous one.
      const max8 = (p: Pollutant): number | undefined => maxEightHourMean(dayValues(p, dayStart - 7 * HOUR_MS), this.config.eightHourMinHours)
      if (POLLUTANTS.every((p) => present(p).length === 0)) continue
      if (this.config.vnAqi) {
        const r = vnAqiDaily({ pm25Mean24h: mean24('pm25'), pm10Mean24h: mean24('pm10'), o3Max1h: max1('o3'), o3Max8h: max8('o3'), no2Max1h: max1('no2'), so2Max1h: max1('so2'), coMax1hMgM3: max1('co') })
        if (r !== undefined) {
          out.push(aqiEvent('vn_aqi_daily', 'device', id, dayStart, r, details))
          trackWorst(vnWorst, sensor.district, id, r.value)
        }
      }
      if (this.config.usAqi) {
        const r = usAqi({ pm25: mean24('pm25'), pm10: mean24('pm10'), o3Mean8hUgM3: max8('o3'), o3Mean1hUgM3: max1('o3'), no2UgM3: max1('no2'), so2UgM3: max1('so2'), coMean8hMgM3: max8('co') })
        if (r !== undefined) {
          out.push(aqiEvent('us_aqi_daily', 'device', id, dayStart, r, details))
          trackWorst(usWorst, sensor.district, id, r.value)
        }
      }
    }
    if (this.config.perDistrict) {
      this.emitDistricts('vn_aqi_daily', vnWorst, dayStart, out)
      this.emitDistricts('us_aqi_daily', usWorst, dayStart, out)
    }
  }

  private emitDistricts(name: string, worst: Map<string, DistrictWorst>, time: number, out: IndicatorEvent[]): void {
    const bandOf = name.startsWith('vn') ? 'vn' : 'us'
    for (const [district, w] of worst) {
      out.push({
        kind: 'indicator', name, scope: 'district', key: district, time, value: w.value,
        level: bandKey(bandOf, w.value), details: { worstSensor: w.sensor, sensors: w.sensors },
      })
    }
  }
}

function trackSpacing(spacing: Map<Pollutant, Spacing>, pollutant: Pollutant, time: number): void {
  const s = spacing.get(pollutant)
  if (s === undefined) { spacing.set(pollutant, { last: time, ring: [], next: 0 }); return }
  // A repeat (same time) or an older reading says nothing about the interval.
  if (time <= s.last) return
  const gap = time - s.last
  s.last = time
  if (s.ring.length < SPACING_SAMPLES) s.ring.push(gap)
  else s.ring[s.next] = gap
  s.next = (s.next + 1) % SPACING_SAMPLES
}

/** Median of the recorded spacings (the lower middle of an even count), ms; undefined without any. */
function medianSpacing(s: Spacing | undefined): number | undefined {
  if (s === undefined || s.ring.length === 0) return undefined
  const sorted = [...s.ring].sort((a, b) => a - b)
  return sorted[(sorted.length - 1) >> 1]
}

function trackWorst(worst: Map<string, DistrictWorst>, district: string | undefined, sensor: string, value: number): void {
  if (district === undefined) return
  const w = worst.get(district)
  if (w === undefined) worst.set(district, { value, sensor, sensors: 1 })
  else {
    w.sensors++
    if (value > w.value) { w.value = value; w.sensor = sensor }
  }
}

function bandKey(kind: 'vn' | 'us', value: number): string {
  return (kind === 'vn' ? vnAqiBand(value) : usAqiBand(value)).key
}

const round1 = (x: number): number => Math.round(x * 10) / 10

function aqiEvent(name: string, scope: 'device', key: string, time: number, r: Pick<AqiResult, 'value' | 'band' | 'dominant' | 'subIndices' | 'aboveScale'>, extra: Record<string, string | number>): IndicatorEvent {
  const details: Record<string, string | number | boolean> = { ...extra, dominant: r.dominant, label: r.band.label, colour: r.band.colour }
  for (const [p, v] of Object.entries(r.subIndices)) details[`aqi_${p}`] = Math.floor(v + 0.5)
  if (r.aboveScale) details.aboveScale = true
  return { kind: 'indicator', name, scope, key, time, value: r.value, level: r.band.key, details }
}

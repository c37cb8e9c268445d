/**
 * The events processors consume and produce. One shape for every processor so
 * they compose by configuration, and so dashboards and Node-RED subscribe to
 * one stream. Times are epoch milliseconds.
 */

/** One committed telemetry value, as processors see it after the write. */
export interface Reading {
  /** Event time: the reading's `ts` (the server's receive time when the device sent none; see flags). */
  time: number
  /** When the ingest service received the message. */
  receivedAt: number
  deviceId: string
  domain: string
  metric: string
  value: number
  /** A `Quality` code from @gridline/schemas. */
  quality: number
  /** The device's sequence number, -1 when it sent none. */
  seq: number
  /** `RowFlags` bits from @gridline/schemas (SERVER_TIME, BACKFILL). */
  flags: number
}

/**
 * What the registry knows about a device beyond its id (the `devices.metadata`
 * jsonb column; set with `gridline devices add ID --domain D --metadata '{...}'`).
 * Every key is optional; indicators skip devices that lack the key they group by.
 */
export interface DeviceMetadata {
  district?: string
  /** Road segment a traffic counter measures. */
  roadSegment?: string
  /** Free-flow speed of that segment, km/h (traffic level of service). */
  freeFlowSpeedKmh?: number
  /** District metered area a water meter or pressure sensor belongs to. */
  meteredArea?: string
  /** A flow meter's sign in its area's total: `in` (default) adds, `out` (water leaving the area) subtracts. */
  flowDirection?: 'in' | 'out'
  /** Lighting circuit a street light is on. */
  circuit?: string
  /** Flood gauge kind. */
  gauge?: 'river' | 'street'
  /** A flood gauge's alert levels I, II and III (báo động I/II/III), metres. */
  alertLevelsM?: number[]
  /** A tank's usable range, metres (tank level trend: hours to empty or full). */
  tankMinLevelM?: number
  tankMaxLevelM?: number
  /** How often the device sends a reading, seconds: the expected readings per hour (air-quality completeness). */
  reportingIntervalS?: number
  [key: string]: unknown
}

export interface DeviceInfo {
  id: string
  domain: string
  metadata: DeviceMetadata
}

export type DeviceLookup = (deviceId: string) => DeviceInfo | undefined

/** One closed (or corrected) rollup bucket. */
export interface RollupEvent {
  kind: 'rollup'
  resolution: '1m' | '1h'
  deviceId: string
  metric: string
  /** Bucket start. */
  bucket: number
  count: number
  min: number
  max: number
  avg: number
  last: number
  /** Readings in the bucket whose quality was not GOOD (excluded from min/max/avg/last). */
  nonGood: number
  /** True when a late reading changed a bucket already emitted. */
  correction: boolean
}

/** A derived city indicator value (docs/indicators.md). */
export interface IndicatorEvent {
  kind: 'indicator'
  /** e.g. `vn_aqi_hourly`, `us_aqi`, `traffic_los`, `night_flow_min`, `lamp_failure`, `flood_level`. */
  name: string
  /** What the value is about: a device, or a group of devices by a metadata key. */
  scope: 'device' | 'district' | 'road_segment' | 'metered_area' | 'circuit'
  /** The device id or the group's name. */
  key: string
  time: number
  value: number
  /** A category where the indicator has one (an AQI band, a level of service letter). */
  level?: string
  details?: Record<string, number | string | boolean>
}

export type AlarmSeverity = 'critical' | 'major' | 'minor' | 'warning' | 'info'
export type AlarmState = 'raised' | 'acknowledged' | 'cleared'
/**
 * What an alarm event names: a lifecycle state, or a change that leaves the
 * state as it was (shelved, unshelved, escalated; docs/alarms.md#shelving).
 */
export type AlarmChange = AlarmState | 'shelved' | 'unshelved' | 'escalated'

/** A change in an alarm's lifecycle. */
export interface AlarmEvent {
  kind: 'alarm'
  alarmId: string
  ruleId: string
  /** The device or indicator key the alarm is about. */
  subject: string
  severity: AlarmSeverity
  state: AlarmChange
  /** When the change happened. */
  time: number
  /** The value that caused the change, when there is one. */
  value?: number
  message: string
  acknowledgedBy?: string
  comment?: string
}

export interface ReadingEvent extends Reading {
  kind: 'reading'
}

export type StreamEvent = ReadingEvent | RollupEvent | IndicatorEvent | AlarmEvent

import type { DecodedMessage } from '@gridline/core'
import { METRIC_NAME_PATTERN } from '@gridline/schemas'
import { type DecodeOptions, ReadingValidator, clip, describe, emptyDecoded, isPlainObject, refuseMessage } from './reading-validator.ts'

/**
 * The Sensor.Community (airrohr, "luftdaten") firmware's value types and the
 * catalogue metrics they are (docs/http-ingest.md#value-types). `scale`
 * converts the firmware's unit to the catalogue's (pressure: Pa to hPa).
 * `null`: a firmware diagnostic or a location, not a measurement: not stored,
 * counted by the source (gridline_http_ignored_values_total).
 */
export const SENSOR_COMMUNITY_VALUE_TYPES: Readonly<Record<string, { metric: string; scale?: number } | null>> = {
  // Particles: P0 is PM1.0, P1 PM10, P2 PM2.5, P4 PM4.0 (the firmware's numbering).
  SDS_P1: { metric: 'pm10' }, SDS_P2: { metric: 'pm25' },
  PMS_P0: { metric: 'pm1' }, PMS_P1: { metric: 'pm10' }, PMS_P2: { metric: 'pm25' },
  HPM_P1: { metric: 'pm10' }, HPM_P2: { metric: 'pm25' },
  SPS30_P0: { metric: 'pm1' }, SPS30_P1: { metric: 'pm10' }, SPS30_P2: { metric: 'pm25' }, SPS30_P4: { metric: 'pm4' },
  NPM_P0: { metric: 'pm1' }, NPM_P1: { metric: 'pm10' }, NPM_P2: { metric: 'pm25' },
  IPS_P0: { metric: 'pm1' }, IPS_P1: { metric: 'pm10' }, IPS_P2: { metric: 'pm25' },
  // Temperature, humidity, pressure (DHT22 and the like send the bare names).
  temperature: { metric: 'temperature' }, humidity: { metric: 'humidity' },
  BME280_temperature: { metric: 'temperature' }, BME280_humidity: { metric: 'humidity' }, BME280_pressure: { metric: 'pressure', scale: 0.01 },
  BMP280_temperature: { metric: 'temperature' }, BMP280_pressure: { metric: 'pressure', scale: 0.01 },
  BMP_temperature: { metric: 'temperature' }, BMP_pressure: { metric: 'pressure', scale: 0.01 },
  HTU21D_temperature: { metric: 'temperature' }, HTU21D_humidity: { metric: 'humidity' },
  SHT3X_temperature: { metric: 'temperature' }, SHT3X_humidity: { metric: 'humidity' },
  DS18B20_temperature: { metric: 'temperature' },
  SCD30_temperature: { metric: 'temperature' }, SCD30_humidity: { metric: 'humidity' }, SCD30_co2: { metric: 'co2' },
  // Noise (DNMS).
  DNMS_noise_LAeq: { metric: 'noise' }, DNMS_noise_LA_min: { metric: 'noise_min' }, DNMS_noise_LA_max: { metric: 'noise_max' },
  // Firmware diagnostics and GPS: not measurements of the air.
  samples: null, min_micro: null, max_micro: null, interval: null, signal: null,
  GPS_lat: null, GPS_lon: null, GPS_height: null, GPS_date: null, GPS_time: null,
}

/**
 * The metric a Sensor.Community value type (or an airrohr InfluxDB field) is:
 * the table above, else the name in lower case, which the unknown-metric
 * policy then judges like any other. `null`: ignored (a diagnostic).
 */
export function sensorCommunityMetric(valueType: string): { metric: string; scale?: number } | null {
  if (Object.hasOwn(SENSOR_COMMUNITY_VALUE_TYPES, valueType)) return SENSOR_COMMUNITY_VALUE_TYPES[valueType]!
  return { metric: valueType.toLowerCase() }
}

/** The chip id in the firmware's `X-Sensor` header (`esp8266-12779556`, `esp32-...`) or InfluxDB `node` tag; null when it is not one. */
export function sensorCommunityChipId(value: string): string | null {
  const match = /^(?:esp8266|esp32|raspi|smogomierz)-([0-9A-Za-z]{1,32})$/.exec(value)
  return match ? match[1]! : null
}

export interface SensorCommunityDecoded {
  decoded: DecodedMessage
  /** Value types not stored because they are diagnostics, by type. */
  ignored: Map<string, number>
}

/**
 * Decodes one airrohr "send to own API" body for a device already found (by
 * its chip id): `{"esp8266id": "...", "software_version": "...",
 * "sensordatavalues": [{"value_type": "SDS_P1", "value": "12.30"}, ...]}`.
 * Values arrive as strings. The firmware sends no time: the reading gets the
 * receive time, unique per device (the server clock). Every value becomes a
 * row or a refusal with its reason; it never throws.
 */
export function decodeSensorCommunity(payload: Buffer, deviceId: string, domain: string, receivedAt: number, options: DecodeOptions): SensorCommunityDecoded {
  const out = emptyDecoded()
  out.domain = domain
  const ignored = new Map<string, number>()
  let body: unknown
  try {
    body = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    return { decoded: refuseMessage(out, options, payload, 'json_malformed', (err as Error).message, deviceId), ignored }
  }
  if (!isPlainObject(body) || !Array.isArray(body.sensordatavalues)) {
    return { decoded: refuseMessage(out, options, payload, 'payload_not_object', `payload is ${describe(body)}, expected {"esp8266id": ..., "sensordatavalues": [...]}`, deviceId), ignored }
  }
  const entries = body.sensordatavalues as unknown[]
  if (entries.length === 0) return { decoded: refuseMessage(out, options, payload, 'batch_empty', 'sensordatavalues is empty', deviceId), ignored }
  const rules = new ReadingValidator(out, receivedAt, options, false)
  const values: Record<string, number> = {}
  const from: Record<string, string> = {}
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]
    if (!isPlainObject(entry) || typeof entry.value_type !== 'string') {
      rules.reject('reading_not_object', `sensordatavalues[${i}] is ${describe(entry)}, expected {"value_type": "...", "value": "..."}`, deviceId, entry)
      continue
    }
    const type = entry.value_type
    const target = sensorCommunityMetric(type)
    if (target === null) {
      ignored.set(type, (ignored.get(type) ?? 0) + 1)
      continue
    }
    const value = numberOf(entry.value)
    if (value === null) {
      rules.reject('value_invalid', `${clip(type, 64)} is ${describe(entry.value)}, expected a number (as the firmware's string, e.g. "12.30")`, deviceId, entry)
      continue
    }
    if (!METRIC_NAME_PATTERN.test(target.metric)) {
      rules.reject('metric_name_invalid', `value type "${clip(type, 64)}" is no catalogue metric and "${clip(target.metric, 64)}" is no valid metric name`, deviceId, entry)
      continue
    }
    if (Object.hasOwn(values, target.metric)) {
      // Two sensors of one kind on one device (an SDS011 and a PMS5003): the first is kept.
      rules.reject('value_invalid', `${clip(type, 64)} is ${target.metric} too, which ${from[target.metric]} already gave in this message; the first is kept`, deviceId, entry)
      continue
    }
    values[target.metric] = target.scale === undefined ? value : round(value * target.scale)
    from[target.metric] = type
  }
  if (Object.keys(values).length > 0) rules.accept({ values }, -1, deviceId, domain, 0)
  return { decoded: out, ignored }
}

/** The firmware's value text ("12.30", " -61 ") or a JSON number as a finite number; null otherwise. */
function numberOf(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null
  if (typeof raw !== 'string') return null
  const text = raw.trim()
  if (text === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null
  const n = Number(text)
  return Number.isFinite(n) ? n : null
}

/** A scaled value without binary noise (100512.34 Pa is 1005.1234 hPa, not 1005.1234000000001). */
function round(n: number): number {
  return Number(n.toPrecision(12))
}

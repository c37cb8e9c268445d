/**
 * Why a message or reading was rejected. Each code is stable: it is stored in
 * `rejected.reason`, labels `gridline_ingest_rejected_total{reason}` and is
 * documented in docs/errors.md (a test keeps the two in sync).
 */
export const REJECT_REASONS = {
  topic_invalid: 'The topic does not match telemetry/{domain}/{deviceId}, status/{domain}/{deviceId}, replies/{domain}/{deviceId} or gateways/{gatewayId}/telemetry.',
  domain_unknown: 'The domain in the topic or reading is not in the metric catalogue.',
  device_id_invalid: 'The device or gateway id does not match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$.',
  topic_not_authorized: 'The client may not publish to this topic (another device\'s topic, another domain, or another gateway).',
  device_not_behind_gateway: 'A gateway forwarded a reading for a device that is not registered behind it.',
  device_domain_mismatch: 'A gateway reading names a domain other than the one the device is registered with.',
  payload_empty: 'The payload has no bytes.',
  payload_too_large: 'The payload is larger than the contract allows for the topic.',
  payload_not_utf8: 'The payload is not valid UTF-8.',
  json_malformed: 'The payload is not valid JSON (NaN and Infinity are not JSON either).',
  payload_not_object: 'The payload is neither a reading object nor an array of readings (for gateways: an object with a readings array).',
  batch_empty: 'The array of readings is empty.',
  too_many_readings: 'The message carries more readings than the contract allows.',
  reading_not_object: 'An element of the readings array is not an object.',
  reading_unknown_field: 'A reading has a field the contract does not define.',
  ts_invalid: 'ts is neither an RFC 3339 date-time with offset nor epoch milliseconds.',
  ts_missing: 'A message with more than one reading has a reading without ts; they would all get the same receive time and collide.',
  ts_in_future: 'ts is further into the future than the configured clock skew allows.',
  ts_too_old: 'ts is before the configured earliest accepted time (often an unset device clock).',
  seq_invalid: 'seq is not an integer >= 0.',
  quality_invalid: 'quality is not one of "good", "uncertain", "bad".',
  device_invalid: 'A reading names no valid device id (a gateway reading\'s device field, a line protocol point\'s device tag).',
  device_unknown: 'The device the data names (a line protocol tag, a Sensor.Community chip id) is not registered, and the source does not register devices.',
  topic_unmapped: 'A message an MQTT client source received names no device where its subscription says the device is (the topic level is missing), or matches none of the source\'s subscriptions (a filter an earlier configuration left in the broker\'s session).',
  device_not_authorized: 'The login may not write for the device the data names: a device writes only for itself, an integration for nobody.',
  line_invalid: 'A line of InfluxDB line protocol does not parse (influxd\'s own wording and the line number are in the detail); the other lines of the body are kept.',
  values_missing: 'A reading has no values object.',
  values_empty: 'A reading\'s values object has no entries.',
  too_many_values: 'A reading has more values than the contract allows.',
  metric_name_invalid: 'A metric name does not match ^[a-z][a-z0-9_]{0,63}$.',
  value_invalid: 'A value is not a finite number or a boolean (strings, null, objects are refused).',
  status_invalid: 'A status message is not {"state": "online" | "offline"} with an optional ts, or a ChirpStack status event has a field of the wrong type or range (margin an integer from -32 to 31 dB, batteryLevel 0-100 %, externalPowerSource and batteryLevelUnavailable true or false).',
  reply_invalid: 'A command reply is not {"id", "status": "ok" | "rejected" | "failed", "detail"?, "ts"?}.',
  metric_unknown: 'The metric is well-formed but not in the catalogue for the domain (with catalogue.unknownMetrics: reject, the default): often a typo such as pm2_5 for pm25.',
  metric_limit: 'The device already has as many distinct metrics outside the catalogue as catalogue.maxUnknownMetricsPerDevice allows (with catalogue.unknownMetrics: store).',
  ts_conflict: 'A reading has the same device, metric and ts as one already stored but a different value (and not the same seq): the first one stored is kept, this one is refused.',
  protobuf_malformed: 'The payload is not a Sparkplug B protobuf Payload (truncated or garbage bytes; protobufjs\'s wording is in the detail).',
  sparkplug_topic_invalid: 'The topic is not spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH>/<edgeNode>[/<device>] (a device message without its device level, an unknown message type, an empty level).',
  sparkplug_no_birth: 'A Sparkplug data or death message arrived for an edge node or device whose birth certificate this host has not seen (data before birth, after its death, or after a restart of gridline); a rebirth was requested.',
  sparkplug_birth_invalid: 'A Sparkplug birth certificate cannot define its metrics: a metric without a name or a datatype, or two metrics sharing an alias (an alias collision, also with another device of the same edge node). The edge node or device stays unborn.',
  sparkplug_alias_unknown: 'A Sparkplug data metric names an alias (or a name) its last birth certificate did not define; a rebirth was requested.',
  sparkplug_datatype_mismatch: 'A Sparkplug data metric carries a datatype, or a value field, other than the one its birth certificate declared.',
  decode_failed: 'The message could not be decoded at all (for example JSON nested too deeply to process); nothing of it was stored.',
  storage_rejected: 'The database refused the rows (a constraint or data error); the message is kept here instead.',
} as const

export type RejectReason = keyof typeof REJECT_REASONS
export const REJECT_REASON_CODES = Object.keys(REJECT_REASONS) as RejectReason[]

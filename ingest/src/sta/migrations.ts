/**
 * Version 70: the Datastreams of the SensorThings API (docs/sensorthings.md#datastreams).
 * One row per device and metric with telemetry, and per indicator series; its
 * id is the Datastream's @iot.id and never changes. Filled from the hourly
 * rollups and the indicator history once, then kept by DatastreamTracker.
 */
export const STA_MIGRATIONS = [
  {
    version: 70,
    name: 'sta_datastreams',
    sql: `
CREATE TABLE sta_datastreams (
  id bigserial PRIMARY KEY,
  device_id text,
  metric text,
  indicator text,
  scope text,
  key text,
  first_time timestamptz NOT NULL,
  last_time timestamptz NOT NULL,
  CHECK ((device_id IS NOT NULL AND metric IS NOT NULL AND indicator IS NULL)
      OR (indicator IS NOT NULL AND scope IS NOT NULL AND key IS NOT NULL AND device_id IS NULL))
);
CREATE UNIQUE INDEX sta_datastreams_telemetry_idx ON sta_datastreams (device_id, metric) WHERE device_id IS NOT NULL;
CREATE UNIQUE INDEX sta_datastreams_indicator_idx ON sta_datastreams (indicator, scope, key) WHERE indicator IS NOT NULL;
INSERT INTO sta_datastreams (device_id, metric, first_time, last_time)
  SELECT device_id, metric, min(bucket), max(bucket) + interval '1 hour' FROM telemetry_1h GROUP BY device_id, metric ORDER BY device_id, metric;
INSERT INTO sta_datastreams (indicator, scope, key, first_time, last_time)
  SELECT name, scope, key, min(time), max(time) FROM indicator_values GROUP BY name, scope, key ORDER BY name, scope, key;
`,
  },
]

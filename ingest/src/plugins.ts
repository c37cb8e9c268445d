import { z } from 'zod'
import { HttpSourceSchema } from './sources/http/config.ts'
import { MqttBrokerSourceSchema } from './sources/mqtt_broker/config.ts'
import { MqttClientSourceSchema } from './sources/mqtt_client/config.ts'
import { InfluxDbSinkSchema } from './sinks/influxdb/config.ts'
import { TimescaleSinkSchema } from './sinks/timescale/config.ts'

/**
 * The registry of source and sink plugins: one folder each under
 * `sources/<type>/` and `sinks/<type>/`, with its config schema (`config.ts`),
 * a sample config (`sample.yaml`), a README and its tests. The convention
 * test (plugins.test.ts) checks every folder against this list.
 * The composition root (app.ts) builds each from its config.
 */
export const SOURCE_PLUGINS = {
  mqtt_broker: { schema: MqttBrokerSourceSchema, summary: 'The embedded MQTT 3.1.1 broker: devices and gateways publish gridline JSON; PUBACK after commit.' },
  http: { schema: HttpSourceSchema, summary: 'HTTP(S) on its own port: gridline JSON, Sensor.Community (airrohr) bodies and InfluxDB line protocol (/write, /api/v2/write); answered after commit.' },
  mqtt_client: { schema: MqttClientSourceSchema, summary: 'A client of an external broker (Mosquitto, EMQX, NATS, a LoRaWAN network server\'s): gridline JSON, line protocol or ChirpStack events per subscription; PUBACK to the broker after commit.' },
} as const

export const SINK_PLUGINS = {
  timescale: { schema: TimescaleSinkSchema, summary: 'PostgreSQL/TimescaleDB: telemetry by binary COPY, dead letters and device status in the same transaction; the primary sink.' },
  influxdb: { schema: InfluxDbSinkSchema, summary: 'InfluxDB 2.x or 1.x, a secondary sink: every committed reading, behind a disk-backed buffer that never holds an acknowledgement.' },
} as const

export type SourceType = keyof typeof SOURCE_PLUGINS
export type SinkType = keyof typeof SINK_PLUGINS

/** A component id: the key in `sources` or `sinks`, and the `component_id` label of its metrics. */
export const COMPONENT_ID_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/

/** A map of components by id, each checked by `entry`; a bad id is reported at its own path. */
export function componentMap<T extends z.ZodType>(entry: T) {
  return z.record(z.string(), entry).superRefine((map, ctx) => {
    for (const id of Object.keys(map)) {
      if (!COMPONENT_ID_PATTERN.test(id)) ctx.addIssue({ code: 'custom', path: [id], message: `"${id.slice(0, 40)}" is not a component id: 1-32 lower-case letters, digits, _ or -, starting with a letter` })
    }
  })
}

export const SourceConfigSchema = z.discriminatedUnion('type', [SOURCE_PLUGINS.mqtt_broker.schema, SOURCE_PLUGINS.http.schema, SOURCE_PLUGINS.mqtt_client.schema])
export const SinkConfigSchema = z.discriminatedUnion('type', [SINK_PLUGINS.timescale.schema, SINK_PLUGINS.influxdb.schema])

export type SourceConfig = z.output<typeof SourceConfigSchema>
export type SinkConfig = z.output<typeof SinkConfigSchema>

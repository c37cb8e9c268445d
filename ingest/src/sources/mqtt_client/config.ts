import { COMMAND_CATALOGUE, METRIC_NAME_PATTERN } from '@gridline/schemas'
import { z } from 'zod'
import { autoRegisterSchema } from '../../devices/auto-register.ts'
import { SparkplugSchema } from '../../sparkplug/config.ts'

/** `<domain>.<action>` of a command the catalogue defines. */
function isCatalogueCommand(key: string): boolean {
  const [domain, action, ...rest] = key.split('.')
  return rest.length === 0 && (COMMAND_CATALOGUE[domain ?? '']?.some((c) => c.action === action) ?? false)
}

/** How a subscription's messages are read (docs/mqtt-client.md#decoders). */
export const MQTT_CLIENT_DECODERS = ['gridline', 'line_protocol', 'chirpstack', 'sparkplug'] as const
export type MqttClientDecoder = (typeof MQTT_CLIENT_DECODERS)[number]

const Subscription = z.strictObject({
  filter: z.string().min(1).max(1_024).describe('An MQTT topic filter (`+` one level, `#` the rest); with connections > 1 it is subscribed as $share/<shareGroup>/<filter>.'),
  decoder: z.enum(MQTT_CLIENT_DECODERS).default('gridline').describe('gridline: gridline JSON (docs/protocol.md); line_protocol: InfluxDB line protocol payloads (Telegraf\'s MQTT output); chirpstack: ChirpStack v4 integration events (application/<id>/device/<devEui>/event/<type>); sparkplug: Sparkplug B (spBv1.0/#), gridline as the host application.'),
  device: z.strictObject({
    topicLevel: z.number().int().min(0).max(64).describe('Which level of the topic (0 is the first) names the device.'),
    match: z.string().min(1).max(64).default('id').describe('What that name is: `id`, the registry\'s device id, or a metadata key (`devEui`, `serial`) whose value it is, compared case-insensitively.'),
  }).optional().describe('gridline decoder: where the device is named. Absent: the topic must be gridline\'s own (telemetry/<domain>/<device>, gateways/<gateway>/telemetry). Present: any topic; the payload is the device\'s reading(s), in the domain it is registered in.'),
  lineProtocol: z.strictObject({
    deviceTags: z.array(z.string().min(1)).min(1).default(['device', 'host']).describe('Tags that name the device, tried in order.'),
    precision: z.enum(['ns', 'us', 'ms', 's']).default('ns').describe('The timestamps\' unit: ns, as Telegraf\'s influx serializer writes them.'),
    rename: z.record(z.string().min(1), z.string().regex(METRIC_NAME_PATTERN)).default({}).describe('Field (or measurement.field) to catalogue metric.'),
  }).prefault({}),
  chirpstack: z.strictObject({
    fields: z.record(z.string().min(1), z.string().regex(METRIC_NAME_PATTERN)).default({}).describe('A decoded `object` field (dotted path for nested ones: `water.flow`) to a catalogue metric, for fields not named like one.'),
    // The keys are checked against the command catalogue below, so the error names the key and says what is expected.
    downlinks: z.record(
      z.string(),
      z.strictObject({
        fPort: z.number().int().min(1).max(223).describe('The LoRaWAN FPort the device profile\'s encodeDownlink codec expects for this action (1-223).'),
        confirmed: z.boolean().default(false).describe('A confirmed downlink: the command is ok once the device acknowledges it (ChirpStack\'s ack event); unconfirmed: once a gateway takes it for transmission (txack).'),
      }),
    ).default({}).describe('Commands sent as ChirpStack downlinks, by <domain>.<action> (`lighting.dim: { fPort: 10, confirmed: true }`): published on application/<applicationId>/device/<devEui>/command/down with {"action", ...params} as the object for the codec. Empty: this subscription sends no commands.'),
  }).prefault({}),
  sparkplug: SparkplugSchema.prefault({}).describe('sparkplug decoder: the host application (hostId, metric mapping); docs/sparkplug.md.'),
})

/** `sources.<id>` with `type: mqtt_client`: gridline connects to an external broker as a client, PUBACK to the broker after the commit. */
export const MqttClientSourceSchema = z.strictObject({
  type: z.literal('mqtt_client').describe('The MQTT client source (ingest/src/sources/mqtt_client/README.md).'),
  url: z.string().regex(/^mqtts?:\/\/[^/\s]+(:\d+)?\/?$/, 'mqtt://host:port or mqtts://host:port').describe('The broker: mqtt://host:1883, or mqtts://host:8883 for TLS.'),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4).describe('4: MQTT 3.1.1 (every broker; NATS speaks only this); 5: MQTT 5 (Mosquitto 2, EMQX, HiveMQ).'),
  clientId: z.string().regex(/^[A-Za-z0-9_.-]{1,20}$/, '1-20 letters, digits, _ . -').optional().describe('Client id prefix; connection i is <clientId>-<i>. Stable across restarts, so the broker keeps each connection\'s session (and its unacknowledged messages) for it. Default: gridline-<source id>.'),
  username: z.string().max(256).optional(),
  password: z.string().max(4_096).optional().describe('Better from the environment: GRIDLINE_SOURCE_<ID>_PASSWORD (upper case, - as _) wins over this and is never logged.'),
  tls: z.strictObject({
    caFile: z.string().min(1).optional().describe('PEM CA(s) the broker\'s certificate must chain to; default: Node\'s trusted roots.'),
    certFile: z.string().min(1).optional().describe('PEM client certificate, for brokers that log clients in by certificate.'),
    keyFile: z.string().min(1).optional().describe('PEM key of certFile.'),
    servername: z.string().min(1).optional().describe('The name the broker\'s certificate must carry, when it is not the url\'s host.'),
  }).prefault({})
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile must be set together', path: ['certFile'] }),
  connections: z.number().int().min(1).max(64).default(1).describe('Connections to the broker. A broker sends one connection\'s QoS 1 messages through a small window of unacknowledged ones, and gridline acknowledges only after the commit, so throughput grows with connections; more than 1 needs shareGroup.'),
  shareGroup: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional().describe('With connections > 1: the filters are subscribed as $share/<shareGroup>/<filter> so the broker gives each message to one connection (MQTT 5 shared subscriptions; Mosquitto 2 and EMQX also for 3.1.1 clients; NATS has none).'),
  keepaliveSeconds: z.number().int().min(5).max(3_600).default(30),
  sessionExpirySeconds: z.number().int().min(60).max(4_294_967_295).default(604_800).describe('MQTT 5: how long the broker keeps a session (and its messages) after a disconnect; 3.1.1 sessions last until the broker drops them.'),
  connectTimeoutMs: z.number().int().min(500).default(10_000).describe('A connection attempt (TCP, TLS, CONNACK) gives up after this and retries.'),
  reconnect: z.strictObject({
    initialMs: z.number().int().min(10).default(500).describe('The first retry after a failure, before jitter.'),
    maxMs: z.number().int().min(100).default(30_000).describe('Delays double per failure up to this; each is a random time from half of it to all of it (jitter), so a city of gateways does not reconnect in step.'),
  }).prefault({}),
  subscriptions: z.array(Subscription).min(1).max(64),
  autoRegister: autoRegisterSchema(
    'the source\'s own broker login is what registers them (the broker\'s access control decides who may publish on the subscribed topics).',
    'Off by default: a message whose device mapping (device.topicLevel, a line protocol device tag, a ChirpStack uplink\'s DevEUI) names no registered device is dead-lettered as device_unknown. When set, the device is registered behind the gateway first (no password of its own) and the message stored.',
  ),
}).superRefine((c, ctx) => {
  if (c.connections > 1 && c.shareGroup === undefined) ctx.addIssue({ code: 'custom', path: ['shareGroup'], message: 'connections > 1 needs shareGroup: without a shared subscription every connection gets every message' })
  if (c.tls.caFile !== undefined && !c.url.startsWith('mqtts://')) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls is set but the url is mqtt://; use mqtts://' })
  for (const [i, s] of c.subscriptions.entries()) {
    if (s.decoder !== 'chirpstack' && Object.keys(s.chirpstack.downlinks).length > 0) ctx.addIssue({ code: 'custom', path: ['subscriptions', i, 'chirpstack', 'downlinks'], message: `downlinks need decoder: chirpstack (this subscription's is ${s.decoder})` })
    for (const key of Object.keys(s.chirpstack.downlinks)) {
      if (!isCatalogueCommand(key)) ctx.addIssue({ code: 'custom', path: ['subscriptions', i, 'chirpstack', 'downlinks', key], message: `expected <domain>.<action> of the command catalogue (${Object.entries(COMMAND_CATALOGUE).flatMap(([d, cs]) => cs.map((c) => `${d}.${c.action}`)).join(', ')})` })
    }
  }
})

export type MqttClientSourceConfig = z.output<typeof MqttClientSourceSchema>
export type MqttClientSubscription = MqttClientSourceConfig['subscriptions'][number]

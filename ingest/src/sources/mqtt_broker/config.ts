import { z } from 'zod'

const port = z.number().int().min(0).max(65535)

/** The embedded broker's keys, without `type`: also the legacy top-level `mqtt:` section. */
export const mqttBrokerFields = {
  host: z.string().default('0.0.0.0').describe('Address the MQTT listener binds to.'),
  port: z.union([port, z.literal(false)], { error: (issue) => `expected a port number from 0 to 65535, or false, got ${issue.input === undefined ? 'nothing' : JSON.stringify(issue.input)}` }).default(1883).describe('MQTT 3.1.1 plain TCP port; 0 picks a free one; false turns the plain listener off (TLS only). Env MQTT_PORT.'),
  maxConnections: z.number().int().positive().default(50_000).describe('Connections accepted at once; more are refused at TCP level.'),
  connectTimeoutMs: z.number().int().min(100).default(10_000).describe('A connection whose CONNECT has not fully arrived this long after it opened is closed (connect_timeout).'),
  maxConnectBytes: z.number().int().min(256).max(1_048_576).default(8_192).describe('Largest packet read before login (the CONNECT, with its will and credentials); a larger one closes the connection before it is buffered (connect_too_large).'),
  maxPendingConnectionsPerAddress: z.number().int().min(1).default(1_000).describe('Connections from one source address (IPv6: one /64) that have not logged in yet; more are closed at once (too_many_pending). Raise it for many devices behind one NAT.'),
  tls: z.strictObject({
    port: port.default(8883).describe('MQTT over TLS port; 0 picks a free one. The TLS listener is on when certFile and keyFile are set. Env MQTT_TLS_PORT.'),
    certFile: z.string().min(1).optional().describe('PEM server certificate (chain). Env MQTT_TLS_CERT.'),
    keyFile: z.string().min(1).optional().describe('PEM private key of the server certificate. Env MQTT_TLS_KEY.'),
    caFile: z.string().min(1).optional().describe('PEM CA(s) that sign device certificates; when set, client certificates are requested and verified (optional for password devices). Env MQTT_TLS_CA.'),
    reloadIntervalMs: z.number().int().min(100).default(10_000).describe('How often the three files are checked; a change is loaded for new connections without a restart.'),
  }).prefault({})
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile must be set together', path: ['certFile'] })
    .refine((t) => t.caFile === undefined || t.certFile !== undefined, { message: 'caFile needs certFile and keyFile (the TLS listener)', path: ['caFile'] }),
}

const listens = (m: { port: number | false; tls: { certFile?: string | undefined } }) => m.port !== false || m.tls.certFile !== undefined
const NOTHING_LISTENS = { message: 'port is false but no TLS listener is configured (mqtt.tls.certFile, keyFile): nothing would listen', path: ['port'] }

/** The legacy `mqtt:` section (today's configs), an alias of `sources.mqtt` with `type: mqtt_broker`. */
export const LegacyMqttSchema = z.strictObject(mqttBrokerFields).refine(listens, NOTHING_LISTENS)

/** `sources.<id>` with `type: mqtt_broker`: the embedded MQTT 3.1.1 broker (aedes), plain TCP and TLS listeners. */
export const MqttBrokerSourceSchema = z.strictObject({
  type: z.literal('mqtt_broker').describe('The embedded MQTT broker (ingest/src/sources/mqtt_broker/README.md).'),
  ...mqttBrokerFields,
}).refine(listens, NOTHING_LISTENS)

export type MqttBrokerSourceConfig = z.output<typeof MqttBrokerSourceSchema>

import { z } from 'zod'

const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const
const EVENTS = ['raised', 'acknowledged', 'cleared', 'shelved', 'unshelved', 'escalated'] as const

/** Which alarm events an endpoint gets; every list left out matches everything (docs/notifications.md#routing). */
export const NotificationMatchSchema = z.strictObject({
  events: z.array(z.enum(EVENTS)).min(1).optional().describe('Only these changes: raised, acknowledged, cleared, shelved, unshelved, escalated. Default: all.'),
  severities: z.array(z.enum(SEVERITIES)).min(1).optional().describe('Only alarms of these severities. Default: all.'),
  domains: z.array(z.string().min(1)).min(1).optional().describe('Only alarms whose device (or rule) is in one of these domains. Default: all.'),
  districts: z.array(z.string().min(1)).min(1).optional().describe('Only alarms in these districts: the device\'s metadata `district`, or the key of a district indicator (`district:Hải Châu`). Default: all.'),
  rules: z.array(z.string().min(1)).min(1).optional().describe('Only these rule ids; `*` and `?` are wildcards (`custom:*` for raised by operators). Default: all.'),
}).prefault({})

const common = {
  enabled: z.boolean().default(true).describe('Deliver to this endpoint. With false, nothing new is queued for it (what is queued stays).'),
  match: NotificationMatchSchema.describe('Routing: which alarm events go to this endpoint.'),
}

export const WebhookEndpointSchema = z.strictObject({
  type: z.literal('webhook'),
  ...common,
  url: z.url({ protocol: /^https?$/ }).describe('Where events are POSTed (http or https).'),
  secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name, e.g. GRIDLINE_WEBHOOK_IOC_SECRET').describe('The environment variable holding the HMAC-SHA256 signing secret (at least 16 characters). The secret itself is never in the config file nor logged.'),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000).describe('One attempt (connect, send, response headers and body) must finish within this, else it fails and is retried.'),
  allowPrivateNetwork: z.boolean().default(false).describe('Allow the URL to resolve to a loopback, private, link-local or other internal address (docs/notifications.md#internal-addresses). Off: such a delivery fails with reason address_refused.'),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}).describe('Extra request headers (e.g. a gateway\'s API key name). They cannot replace the signature headers.'),
})

export const EmailEndpointSchema = z.strictObject({
  type: z.literal('email'),
  ...common,
  to: z.array(z.email()).min(1).describe('Recipients.'),
  subjectPrefix: z.string().max(100).default('[gridline]').describe('Put before each subject line.'),
})

export const NotificationEndpointSchema = z.discriminatedUnion('type', [WebhookEndpointSchema, EmailEndpointSchema])

export const NotificationsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Deliver alarm events to the endpoints. With no endpoint, nothing runs.'),
  endpoints: z.record(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'an id of lowercase letters, digits, _ . -'), NotificationEndpointSchema).default({}).describe('Endpoints by id: type webhook or email.'),
  retryForMs: z.number().int().min(1_000).default(86_400_000).describe('How long a delivery is retried before it is dead-lettered (24 h by default), from when it was queued or replayed.'),
  retryMinMs: z.number().int().min(10).default(1_000).describe('First delay before retrying a failed attempt; it doubles with each failure (full jitter).'),
  retryMaxMs: z.number().int().min(10).default(600_000).describe('Largest delay between attempts.'),
  pollIntervalMs: z.number().int().min(10).default(1_000).describe('How often the queue is looked at for deliveries that are due (a new event wakes it at once).'),
  concurrency: z.number().int().min(1).max(64).default(8).describe('Attempts in flight at once, across endpoints (never two of the same alarm and endpoint).'),
  keepDeliveredDays: z.number().int().min(0).default(7).describe('Delivered rows are deleted after this many days; dead-lettered ones are kept until replayed or retentionDays. 0 keeps them.'),
  smtp: z.strictObject({
    host: z.string().min(1).default('localhost').describe('SMTP server.'),
    port: z.number().int().min(1).max(65535).default(587).describe('SMTP port: 587 (STARTTLS), 465 (TLS from the start) or 25.'),
    secure: z.boolean().default(false).describe('TLS from the start (port 465). With false, STARTTLS is used when the server offers it.'),
    requireTLS: z.boolean().default(false).describe('Refuse to send unless STARTTLS succeeds.'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the server\'s certificate.'),
    user: z.string().min(1).optional().describe('Login user, when the server needs one.'),
    passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional().describe('The environment variable holding the login password.'),
    from: z.string().min(3).default('gridline <gridline@localhost>').describe('The From address.'),
    timeoutMs: z.number().int().min(100).default(15_000).describe('Connection, greeting and socket timeout of one attempt.'),
  }).prefault({}).describe('The SMTP server for email endpoints.'),
}).prefault({})
  .refine((c) => !(typeof c.retryMinMs === 'number' && typeof c.retryMaxMs === 'number') || c.retryMinMs <= c.retryMaxMs, { message: 'retryMinMs must not exceed retryMaxMs', path: ['retryMinMs'] })

export type NotificationsConfig = z.output<typeof NotificationsConfigSchema>
export type NotificationEndpoint = z.output<typeof NotificationEndpointSchema>
export type WebhookEndpoint = z.output<typeof WebhookEndpointSchema>
export type EmailEndpoint = z.output<typeof EmailEndpointSchema>
export type NotificationMatch = z.output<typeof NotificationMatchSchema>

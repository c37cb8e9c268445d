import { createHmac } from 'node:crypto'
import type { AlarmEventDetail } from '@gridline/processors'
import { describe, expect, test } from 'vitest'
import { isInternalAddress } from './address-guard.ts'
import { emailText, notificationBody } from './body.ts'
import { NotificationsConfigSchema } from './config.ts'
import { backoff, matches, notifiable } from './notification-service.ts'
import { signatureHeader, verifySignature } from './signature.ts'

const secret = 'whsec_0123456789abcdef'

describe('signature', () => {
  test('is the HMAC-SHA256 of "<t>.<body>" in the Stripe-like header', () => {
    const body = '{"id":"x"}'
    const header = signatureHeader(secret, body, 1_764_302_400)
    expect(header).toBe(`t=1764302400,v1=${createHmac('sha256', secret).update(`1764302400.${body}`).digest('hex')}`)
    expect(verifySignature(secret, body, header, 1_764_302_400)).toBe(true)
  })
  test.each([
    ['another body', (h: string) => h, '{"id":"y"}', 1_764_302_400],
    ['another secret', (h: string) => h.replace(/v1=./, 'v1=0'), '{"id":"x"}', 1_764_302_400],
    ['a timestamp past the window', (h: string) => h, '{"id":"x"}', 1_764_302_400 + 301],
    ['no v1', (h: string) => h.split(',')[0]!, '{"id":"x"}', 1_764_302_400],
    ['a changed t', (h: string) => h.replace('t=1764302400', 't=1764302401'), '{"id":"x"}', 1_764_302_400],
  ])('refuses %s', (_, tamper, body, now) => {
    expect(verifySignature(secret, body, tamper(signatureHeader(secret, '{"id":"x"}', 1_764_302_400)), now)).toBe(false)
  })
})

test.each([
  ['127.0.0.1', true], ['10.1.2.3', true], ['172.20.0.1', true], ['192.168.1.1', true], ['169.254.169.254', true], ['100.64.0.1', true],
  ['0.0.0.0', true], ['::1', true], ['fd00::1', true], ['fe80::1', true], ['::ffff:127.0.0.1', true], ['::', true], ['not-an-ip', true],
  ['8.8.8.8', false], ['203.0.112.9', false], ['2606:4700:4700::1111', false], ['::ffff:1.1.1.1', false],
])('isInternalAddress(%s) is %s', (address, internal) => {
  expect(isInternalAddress(address)).toBe(internal)
})

test('backoff doubles from retryMinMs up to retryMaxMs, with jitter between half and all of it', () => {
  expect([1, 2, 3, 4, 10].map((n) => backoff(n, 1_000, 10_000, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000])
  expect(backoff(3, 1_000, 10_000, () => 0)).toBe(2_000)
  expect(backoff(200, 1_000, 600_000, () => 0.5)).toBe(450_000)
})

const event: AlarmEventDetail = {
  kind: 'alarm', alarmId: 'a1', ruleId: 'pm25-high', subject: 'aq-1', severity: 'major', state: 'raised', time: 1_764_302_400_000,
  value: 61.2, message: 'pm25 on aq-1 is 61.2, above 55.4', active: true, flapping: false, raisedAt: 1_764_302_400_000, deviceId: 'aq-1', domain: 'environment', metric: 'pm25',
}

test.each([
  [{}, true],
  [{ severities: ['major'] }, true],
  [{ severities: ['critical'] }, false],
  [{ events: ['cleared'] }, false],
  [{ domains: ['environment', 'water'] }, true],
  [{ domains: ['water'] }, false],
  [{ districts: ['Hải Châu'] }, true],
  [{ districts: ['Sơn Trà'] }, false],
  [{ rules: ['pm25-*'] }, true],
  [{ rules: ['pm2?-high'] }, true],
  [{ rules: ['pm25'] }, false],
  [{ rules: ['custom:*'], severities: ['major'] }, false],
])('match %j is %s', (match, expected) => {
  const parsed = NotificationsConfigSchema.parse({ endpoints: { e: { type: 'email', to: ['a@b.test'], match } } }).endpoints.e!.match
  expect(matches(parsed, event, 'Hải Châu')).toBe(expected)
})

test('the body carries the idempotency key, the change and the alarm; the email its details', () => {
  const body = notificationBody({ ...event, state: 'acknowledged', acknowledgedBy: 'lan', comment: 'on site' }, 'k-1', 1_764_302_401_000, 'Hải Châu')
  expect(body).toEqual({
    id: 'k-1', type: 'alarm.acknowledged', version: 1, createdAt: '2025-11-28T04:00:01.000Z',
    alarm: {
      id: 'a1', ruleId: 'pm25-high', subject: 'aq-1', severity: 'major', state: 'acknowledged', active: true, flapping: false,
      time: '2025-11-28T04:00:00.000Z', timeMs: 1_764_302_400_000, raisedAt: '2025-11-28T04:00:00.000Z', message: 'pm25 on aq-1 is 61.2, above 55.4',
      value: 61.2, deviceId: 'aq-1', domain: 'environment', district: 'Hải Châu', metric: 'pm25', acknowledgedBy: 'lan', comment: 'on site',
    },
  })
  const mail = emailText(body, '[gridline]')
  expect(mail.subject).toBe('[gridline] MAJOR acknowledged: pm25-high on aq-1')
  expect(mail.text).toContain('Acknowledged by: lan (on site)')
})

describe('config', () => {
  test('defaults: nothing configured, retried for 24 h', () => {
    expect(NotificationsConfigSchema.parse({})).toMatchObject({ enabled: true, endpoints: {}, retryForMs: 86_400_000, retryMinMs: 1_000, retryMaxMs: 600_000 })
  })
  test.each([
    [{ endpoints: { e: { type: 'webhook', url: 'ftp://x.test/', secretEnv: 'S' } } }, 'endpoints.e.url'],
    [{ endpoints: { e: { type: 'webhook', url: 'https://x.test/', secretEnv: 'lower' } } }, 'endpoints.e.secretEnv'],
    [{ endpoints: { e: { type: 'webhook', url: 'https://x.test/', secret: 'inline', secretEnv: 'S' } } }, 'endpoints.e'],
    [{ endpoints: { e: { type: 'email', to: ['not-an-address'] } } }, 'endpoints.e.to.0'],
    [{ endpoints: { e: { type: 'pager' } } }, 'endpoints.e.type'],
    [{ endpoints: { e: { type: 'email', to: ['a@b.test'], match: { severities: ['urgent'] } } } }, 'endpoints.e.match.severities.0'],
    [{ retryMinMs: 5_000, retryMaxMs: 1_000 }, 'retryMinMs'],
  ])('refuses %j at %s', (input, path) => {
    const result = NotificationsConfigSchema.safeParse(input)
    expect(result.success).toBe(false)
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path)
  })
})

test('a webhook whose secret variable is unset or short stops the service at start, naming the variable, never the value', async () => {
  const { NotificationService } = await import('./notification-service.ts')
  const { createLogger } = await import('@gridline/core')
  const config = NotificationsConfigSchema.parse({ endpoints: { ioc: { type: 'webhook', url: 'https://ioc.test/hook', secretEnv: 'IOC_SECRET' } } })
  const make = (env: NodeJS.ProcessEnv) => () => new NotificationService(config, { pool: {} as never, logger: createLogger({ level: 'silent' }), env })
  expect(make({})).toThrow(/notifications\.endpoints\.ioc\.secretEnv: IOC_SECRET must hold the signing secret/)
  expect(make({ IOC_SECRET: 'short' })).toThrow(expect.objectContaining({ code: 'GRIDLINE_CONFIG_INVALID', message: expect.not.stringContaining('short') }))
  expect(make({ IOC_SECRET: 'long-enough-secret-value' })().active).toBe(true)
})

test('sample.yaml is a valid notifications section', async () => {
  const { readFileSync } = await import('node:fs')
  const { parse } = await import('yaml')
  const sample = parse(readFileSync(new URL('./sample.yaml', import.meta.url), 'utf8')) as { notifications: unknown }
  const config = NotificationsConfigSchema.parse(sample.notifications)
  expect(Object.keys(config.endpoints)).toEqual(['ioc', 'duty-mail'])
  expect(config.smtp).toMatchObject({ host: 'smtp.danang.gov.vn', port: 587, requireTLS: true, passwordEnv: 'GRIDLINE_SMTP_PASSWORD' })
})

describe('shelving and escalation', () => {
  const shelve = { shelvedUntil: Date.UTC(2026, 10, 28, 6), shelvedBy: 'olly', shelveReason: 'crew on site' }
  test.each([
    ['raised', {}, true],
    ['shelved', shelve, true],
    ['acknowledged', shelve, false],
    ['unshelved', {}, true],
    ['cleared', {}, true],
    ['escalated', {}, true],
  ] as const)('a %s event %j is notified: %s', (state, fields, expected) => {
    expect(notifiable({ ...event, state, ...fields })).toBe(expected)
  })

  test('the new changes are routed by match.events, and their bodies say what they are', () => {
    expect(matches({ events: ['escalated'] }, { ...event, state: 'escalated' }, undefined)).toBe(true)
    expect(matches({ events: ['escalated'] }, { ...event, state: 'raised' }, undefined)).toBe(false)
    expect(matches({}, { ...event, state: 'shelved', ...shelve }, undefined)).toBe(true)
    const body = notificationBody({ ...event, state: 'shelved', ...shelve }, 'k', Date.UTC(2026, 10, 28, 5), undefined)
    expect(body).toMatchObject({ type: 'alarm.shelved', alarm: { state: 'shelved', shelvedUntil: '2026-11-28T06:00:00.000Z', shelvedBy: 'olly', shelveReason: 'crew on site' } })
    expect(emailText(body, '[gridline]').text).toContain('Shelved by olly until 2026-11-28T06:00:00.000Z: crew on site')
    expect(notificationBody({ ...event, state: 'escalated', escalatedAt: Date.UTC(2026, 10, 28, 5) }, 'k', 0, undefined)).toMatchObject({ type: 'alarm.escalated', alarm: { escalatedAt: '2026-11-28T05:00:00.000Z' } })
    expect(NotificationsConfigSchema.parse({ endpoints: { e: { type: 'email', to: ['a@b.test'], match: { events: ['shelved', 'unshelved', 'escalated'] } } } }).endpoints.e!.match.events).toEqual(['shelved', 'unshelved', 'escalated'])
  })
})

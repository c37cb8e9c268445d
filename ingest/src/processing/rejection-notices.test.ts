import { Writable } from 'node:stream'
import { createLogger } from '@gridline/core'
import { type Principal, Rows, rejection } from '@gridline/processors'
import type { RejectReason } from '@gridline/schemas'
import { expect, test } from 'vitest'
import type { Envelope } from '../pipeline/envelope.ts'
import { RejectionNotices } from './rejection-notices.ts'

const aq1: Principal = { kind: 'device', id: 'aq-1', domain: 'environment' }

function refused(principal: Principal | null, reason: RejectReason = 'metric_name_invalid', detail = 'metric "pm2_5" is not in the catalogue'): Envelope {
  const payload = Buffer.from('{"values":{"pm2_5":3}}')
  return {
    topic: 'telemetry/environment/aq-1',
    clientId: 'c1',
    principal,
    receivedAt: Date.parse('2026-01-01T00:00:00Z'),
    payload,
    decoded: { rows: new Rows(), readings: 0, rejections: [rejection(reason, detail, 'aq-1', payload, 1024)], unknownMetrics: 0, outOfRange: 0 },
    ack: null,
  }
}

function logCapture() {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({ level: 'debug', destination: new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } }) })
  return { logger, lines, flush: () => new Promise((resolve) => setImmediate(resolve)) }
}

test('logs the first refusal of a sender at once and then at most one summary per interval', async () => {
  const { logger, lines, flush } = logCapture()
  let now = 0
  const notices = new RejectionNotices({ logger, now: () => now, logIntervalMs: 60_000 })
  notices.onCommitted([refused(aq1)])
  for (let i = 0; i < 37; i++) {
    now += 1_000
    notices.onCommitted([refused(aq1)])
    notices.sweep()
  }
  await flush()
  // 37 s in: the first line only.
  expect(lines.map((l) => l.msg)).toEqual(['Refused a message from aq-1; reason metric_name_invalid: metric "pm2_5" is not in the catalogue'])
  now = 60_000
  notices.sweep()
  now = 61_000
  notices.sweep()
  await flush()
  expect(lines).toHaveLength(2)
  expect(lines[1]).toMatchObject({ level: 40, sender: 'aq-1', refused: 37, suppressedLines: 36, msg: 'Refused 37 messages from aq-1 in the last minute; latest reason metric_name_invalid: metric "pm2_5" is not in the catalogue' })
  // A quiet interval forgets the sender: its next refusal is logged at once.
  now = 121_000
  notices.sweep()
  now = 122_000
  notices.onCommitted([refused(aq1, 'value_invalid', 'pm25: expected a number, got a string')])
  await flush()
  expect(lines).toHaveLength(3)
  expect(lines[2]!.msg).toBe('Refused a message from aq-1; reason value_invalid: pm25: expected a number, got a string')
})

test('keeps senders apart and never logs the payload', async () => {
  const { logger, lines, flush } = logCapture()
  const notices = new RejectionNotices({ logger, now: () => 0 })
  notices.onCommitted([refused(aq1), refused({ kind: 'gateway', id: 'gw-1' }), refused(null), refused(aq1)])
  await flush()
  expect(lines.map((l) => l.sender)).toEqual(['aq-1', 'gw-1'])
  expect(JSON.stringify(lines)).not.toContain('pm2_5":3')
  notices.stop()
  await flush()
  // stop() writes the pending summary: aq-1's second refusal plus the unauthenticated one under aq-1 (its device id).
  expect(lines.at(-1)).toMatchObject({ sender: 'aq-1', refused: 2 })
})

test('publishes a bounded notice per refused message on the sender\'s own topic, rate-limited per sender', () => {
  const { logger } = logCapture()
  let now = 0
  const sent: { topic: string; notice: Record<string, unknown> }[] = []
  const notices = new RejectionNotices({ logger, now: () => now, noticeBurst: 3, noticeRefillMs: 1_000, publish: (topic, payload) => sent.push({ topic, notice: JSON.parse(payload) }) })
  const long = refused(aq1, 'value_invalid', 'x'.repeat(5_000))
  for (let i = 0; i < 10; i++) notices.onCommitted([long])
  notices.onCommitted([refused({ kind: 'gateway', id: 'gw-1' })])
  notices.onCommitted([refused(null)])
  expect(sent.map((s) => s.topic)).toEqual(['rejections/environment/aq-1', 'rejections/environment/aq-1', 'rejections/environment/aq-1', 'gateways/gw-1/rejections'])
  expect(sent[0]!.notice).toEqual({ reason: 'value_invalid', detail: `${'x'.repeat(299)}…`, topic: 'telemetry/environment/aq-1', receivedAt: '2026-01-01T00:00:00.000Z', rejections: 1 })
  // Two seconds later two tokens are back; the first notice says how many were left out.
  now = 2_000
  for (let i = 0; i < 5; i++) notices.onCommitted([long])
  expect(sent.slice(4).map((s) => s.notice.suppressed)).toEqual([7, undefined])
})

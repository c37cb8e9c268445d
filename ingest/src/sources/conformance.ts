import { type DecodedMessage, type DeliveryStatus, type Envelope, type InboundMessage, type Intake, type Source } from '@gridline/core'
import { type DecodeOptions, ServerClock, decodeMessage } from '@gridline/processors'
import { defaultCatalogue } from '@gridline/schemas'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

/** What the sender saw of one message it sent. */
export type SendOutcome = 'acknowledged' | 'not acknowledged'

/** A message on its way: how it ended for the sender, once it has. */
export interface Sent {
  /** Resolves when the sender got its answer (a PUBACK, an HTTP status) or gave up; never rejects. */
  outcome: Promise<SendOutcome>
}

export interface SourceUnderTest {
  /** The source, not started. It must accept the environment-domain device `aq-conf` without a login (`auth: none`). */
  source: Source
  /**
   * Sends one message of one environment reading `{pm25: value}` at `ts` for
   * device `aq-conf` through the source's own protocol, with a client of
   * that protocol; `ports` is what `start` resolved with.
   */
  send(ports: Record<string, number | null>, ts: number, value: number): Sent
  cleanup(): Promise<void>
  /** False for a source that connects out (a client of an external broker) and binds no port. Default true. */
  listens?: boolean
}

/**
 * A stand-in for the runtime, so the suite can hold, settle and refuse each
 * envelope itself: it decodes gridline JSON as the runtime does (or takes
 * what the source decoded), and records every submit.
 */
export class RecordingIntake implements Intake {
  readonly submitted: Envelope[] = []
  congested = false
  shedding = false
  private readonly listeners: ((held: boolean) => void)[] = []
  private readonly options: DecodeOptions = { catalogue: defaultCatalogue(), maxFutureSkewMs: 300_000, minTimestampMs: 0, rejectedPayloadMaxBytes: 1_024, serverClock: new ServerClock() }
  private waiters: (() => void)[] = []

  get pendingRows(): number {
    return this.submitted.reduce((n, e) => n + e.decoded.rows.length, 0)
  }

  decode(message: InboundMessage, decoded?: DecodedMessage): Envelope {
    return {
      source: message.source,
      topic: message.topic,
      clientId: message.clientId,
      principal: message.principal,
      receivedAt: message.receivedAt,
      payload: message.payload,
      decoded: decoded ?? decodeMessage(message.topic, message.payload, message.receivedAt, message.principal, this.options),
      ack: null,
    }
  }

  submit(envelope: Envelope): void {
    this.submitted.push(envelope)
    for (const w of this.waiters.splice(0)) w()
  }

  onCongestion(listener: (held: boolean) => void): void {
    this.listeners.push(listener)
  }

  hold(held: boolean): void {
    this.congested = held
    for (const l of this.listeners) l(held)
  }

  /** Resolves once `n` envelopes in all were submitted. */
  async until(n: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.submitted.length < n) {
      if (Date.now() > deadline) throw new Error(`${this.submitted.length} of ${n} messages reached the intake within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  /** Resolves once an envelope with a row of `value` was submitted. */
  async untilValue(value: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.submitted.some((e) => e.decoded.rows.value.includes(value))) {
      if (Date.now() > deadline) throw new Error(`no message with value ${value} reached the intake within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  settle(index: number, status: DeliveryStatus, reason?: Error): void {
    this.submitted[index]!.ack?.settle(status, reason)
  }
}

/** The sender has heard nothing yet after `ms`. */
async function unanswered(sent: Sent, ms = 300): Promise<boolean> {
  const marker = Symbol('pending')
  const first = await Promise.race([sent.outcome, new Promise<symbol>((resolve) => setTimeout(() => resolve(marker), ms))])
  return first === marker
}

/**
 * The behaviour every Source must show (as sinkConformance for sinks), run by
 * each source's own test file: `sourceConformance('http', make)`. `make` is
 * called once per test with a fresh source; the suite drives it with a
 * RecordingIntake and the source's real protocol.
 */
export function sourceConformance(name: string, make: () => Promise<SourceUnderTest>): void {
  describe(`source conformance: ${name}`, () => {
    let s: SourceUnderTest
    let intake: RecordingIntake
    let ports: Record<string, number | null>
    const TS = Date.parse('2026-12-06T00:00:00Z')

    beforeAll(async () => {
      s = await make()
    })
    afterAll(async () => {
      await s?.source.close().catch(() => undefined)
      await s?.cleanup()
    })

    test('has an id and a type; starts, binds its ports and is ready', async () => {
      expect(s.source.id).toMatch(/^[a-z][a-z0-9_-]{0,31}$/)
      expect(s.source.type.length).toBeGreaterThan(0)
      intake = new RecordingIntake()
      ports = await s.source.start(intake)
      for (const p of Object.values(ports)) expect(p === null || (Number.isInteger(p) && p > 0)).toBe(true)
      if (s.listens !== false) expect(Object.values(ports).some((p) => typeof p === 'number' && p > 0)).toBe(true)
      expect(s.source.health().ready).toBe(true)
    })

    test('a message reaches the intake with its source, time and payload, and is acknowledged only once settled delivered', async () => {
      const before = Date.now()
      const sent = s.send(ports, TS, 1)
      await intake.until(1)
      const e = intake.submitted[0]!
      expect(e.source).toBe(s.source.id)
      expect(e.receivedAt).toBeGreaterThanOrEqual(before)
      expect(e.decoded.rows.length).toBe(1)
      expect(e.decoded.rows.value).toEqual([1])
      expect(await unanswered(sent)).toBe(true)
      intake.settle(0, 'delivered')
      expect(await sent.outcome).toBe('acknowledged')
    })

    test('settled rejected (dead-lettered for good): acknowledged, so the sender does not resend it forever', async () => {
      const sent = s.send(ports, TS + 1, 2)
      await intake.until(2)
      intake.settle(1, 'rejected')
      expect(await sent.outcome).toBe('acknowledged')
    })

    test('settled errored (not stored): never acknowledged, so the sender sends it again', async () => {
      const sent = s.send(ports, TS + 2, 3)
      await intake.until(3)
      intake.settle(2, 'errored', new Error('the database is away'))
      expect(await sent.outcome).toBe('not acknowledged')
    })

    test('while the intake is congested, nothing new is acknowledged; once it is not, writes flow again', async () => {
      intake.hold(true)
      const held = s.send(ports, TS + 3, 4)
      // Either the source holds it (MQTT) or answers "later" (HTTP 503): never an acknowledgement.
      const outcome = await Promise.race([held.outcome, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 500))])
      expect(outcome).not.toBe('acknowledged')
      intake.hold(false)
      const next = s.send(ports, TS + 4, 5)
      // A source that stopped reading takes the held message in only now, before this one.
      await intake.untilValue(5)
      for (let i = 3; i < intake.submitted.length; i++) intake.settle(i, 'delivered')
      expect(await next.outcome).toBe('acknowledged')
    })

    test('after stopIntake no new message is taken in, and one taken before is still acknowledged when it settles', async () => {
      const before = s.send(ports, TS + 5, 6)
      await intake.untilValue(6)
      const index = intake.submitted.findIndex((e) => e.decoded.rows.value.includes(6))
      s.source.stopIntake()
      const after = s.send(ports, TS + 6, 7)
      intake.settle(index, 'delivered')
      expect(await before.outcome).toBe('acknowledged')
      expect(await after.outcome).toBe('not acknowledged')
      expect(intake.submitted.some((e) => e.decoded.rows.value.includes(7))).toBe(false)
      await s.source.close()
    })
  })
}

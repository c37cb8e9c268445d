/**
 * Event-time watermark of one key (a device): the largest event time seen
 * minus the allowed lateness. Everything at or before it is considered
 * complete. Kept per device because device clocks are skewed: one global
 * watermark would follow the fastest clock and mark every other device late.
 *
 * When the key goes quiet, `advanceIdle` moves the watermark on by the
 * processing time that has passed since its last reading, so the last
 * windows of a device that stopped still close.
 */
export class Watermark {
  maxEventTime = -Infinity
  value = -Infinity
  lastSeenAt = -Infinity

  constructor(private readonly allowedLatenessMs: number) {}

  /** Records one event; returns true when the watermark moved. */
  observe(eventTime: number, now: number): boolean {
    this.lastSeenAt = now
    if (eventTime <= this.maxEventTime) return false
    this.maxEventTime = eventTime
    const candidate = eventTime - this.allowedLatenessMs
    if (candidate <= this.value) return false
    this.value = candidate
    return true
  }

  /** After `idleMs` of processing time without events, advance by the time that passed. Returns true when it moved. */
  advanceIdle(now: number, idleMs: number): boolean {
    const quiet = now - this.lastSeenAt
    if (quiet < idleMs || this.maxEventTime === -Infinity) return false
    const candidate = this.maxEventTime + quiet - this.allowedLatenessMs
    if (candidate <= this.value) return false
    this.value = candidate
    return true
  }
}

/**
 * Drives many devices from one timer. The interval is cut into slots of about
 * `tickMs`; device i reads in slot i mod slots, so 10,000 devices at one reading
 * a second cost one timer firing fifty times a second, not 10,000 timers, and
 * the load is spread evenly over the interval.
 */
export class TickScheduler {
  readonly slots: number
  readonly tickMs: number
  /** Slots skipped because the event loop fell more than a whole interval behind. */
  skippedSlots = 0
  private timer: NodeJS.Timeout | undefined
  private startedAt = 0
  private done = -1

  constructor(readonly intervalMs: number, tickMs = 20) {
    this.slots = Math.max(1, Math.round(intervalMs / tickMs))
    this.tickMs = intervalMs / this.slots
  }

  /** Calls `onSlot(slot)` for every slot as it falls due. Called once; `stop` ends it. */
  start(onSlot: (slot: number) => void, now: () => number = Date.now): void {
    this.startedAt = now()
    const run = () => {
      const due = Math.floor((now() - this.startedAt) / this.tickMs)
      // Behind by more than an interval: every device has a reading due anyway, so catch up one interval only.
      if (due - this.done > this.slots) {
        this.skippedSlots += due - this.done - this.slots
        this.done = due - this.slots
      }
      while (this.done < due) {
        this.done++
        onSlot(this.done % this.slots)
      }
    }
    run()
    this.timer = setInterval(run, Math.max(1, Math.floor(this.tickMs)))
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}

/** Simulated time: `startMs` at the moment the clock was made, running `timeScale` times faster than real time. */
export class SimClock {
  private readonly realStart: number

  constructor(readonly startMs: number, readonly timeScale = 1, private readonly realNow: () => number = Date.now) {
    this.realStart = realNow()
  }

  now(): number {
    return Math.round(this.startMs + (this.realNow() - this.realStart) * this.timeScale)
  }
}

/**
 * What one observation says about a rule's condition: beyond the raise limit,
 * beyond the clear limit, or in the hysteresis band between them (which keeps
 * the current state).
 */
export const Level = { Raise: 1, Clear: 2, Band: 3 } as const
export type Level = (typeof Level)[keyof typeof Level]

export const Decision = {
  None: 0,
  Raise: 1,
  Clear: 2,
  /** A clear was due, but the alarm is flapping: it stays raised. */
  StartFlapping: 3,
} as const
export type Decision = (typeof Decision)[keyof typeof Decision]

export interface ConditionTiming {
  forMs: number
  clearForMs: number
}

export interface FlappingPolicy {
  maxTransitions: number
  windowMs: number
}

/**
 * The per (rule, subject) state machine behind every rule type: hysteresis
 * (levels), minimum durations, and flapping suppression. Times are whatever
 * clock the rule uses (reading time, indicator time, or the engine's clock for
 * stale rules), in milliseconds; they must not go backwards (the engine skips
 * out-of-order observations before calling `observe`).
 */
export class ConditionState {
  /** True while an alarm is raised (or held raised) for this subject. */
  active = false
  flapping = false
  /** When the current run of the opposite level began. */
  private pendingSince: number | undefined
  /** Times of recent raise and clear transitions, oldest first. */
  private transitions: number[] = []
  lastTime = Number.NEGATIVE_INFINITY
  /** Rate rules: the readings inside the window. */
  times: number[] | undefined
  values: number[] | undefined
  windowHead = 0

  observe(level: Level, time: number, timing: ConditionTiming, flapping: FlappingPolicy): Decision {
    this.lastTime = time
    if (!this.active) {
      if (level !== Level.Raise) {
        this.pendingSince = undefined
        return Decision.None
      }
      this.pendingSince ??= time
      if (time - this.pendingSince < timing.forMs) return Decision.None
      this.pendingSince = undefined
      this.active = true
      this.recordTransition(time, flapping.windowMs)
      return Decision.Raise
    }
    if (level !== Level.Clear) {
      this.pendingSince = undefined
      return Decision.None
    }
    this.pendingSince ??= time
    const required = this.flapping ? Math.max(timing.clearForMs, flapping.windowMs) : timing.clearForMs
    if (time - this.pendingSince < required) return Decision.None
    if (!this.flapping) {
      this.recordTransition(time, flapping.windowMs)
      if (this.transitions.length > flapping.maxTransitions) {
        this.flapping = true
        return Decision.StartFlapping
      }
    }
    this.pendingSince = undefined
    this.active = false
    if (this.flapping) {
      this.flapping = false
      this.transitions = []
    }
    return Decision.Clear
  }

  /** Restores an alarm loaded from the database at start. */
  restore(flapping: boolean): void {
    this.active = true
    this.flapping = flapping
  }

  private recordTransition(time: number, windowMs: number): void {
    const t = this.transitions
    t.push(time)
    let drop = 0
    while (drop < t.length && t[drop]! <= time - windowMs) drop++
    if (drop > 0) t.splice(0, drop)
  }
}

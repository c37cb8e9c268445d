import { seededRandom } from '../random.ts'

/**
 * Many independent Double signals for load tests: each a sine wave with its own period and
 * phase plus noise, so every value changes on every step. Deterministic from the seed.
 */
export class LoadSignals {
  readonly values: Float64Array
  private readonly periodsS: Float64Array
  private readonly phases: Float64Array
  private readonly random: () => number
  private elapsedS = 0

  constructor(count: number, seed = 1) {
    if (!Number.isInteger(count) || count < 0 || count > 100_000) {
      throw new RangeError(`extraVariables must be an integer from 0 to 100000, got ${count}.`)
    }
    this.random = seededRandom((seed ^ 0x5eed) >>> 0)
    this.values = new Float64Array(count)
    this.periodsS = new Float64Array(count)
    this.phases = new Float64Array(count)
    for (let i = 0; i < count; i++) {
      this.periodsS[i] = 30 + this.random() * 270
      this.phases[i] = this.random() * 2 * Math.PI
    }
    this.step(0)
  }

  step(dtS: number): void {
    this.elapsedS += dtS
    for (let i = 0; i < this.values.length; i++) {
      const wave = Math.sin((2 * Math.PI * this.elapsedS) / this.periodsS[i]! + this.phases[i]!)
      this.values[i] = Math.round((50 + 40 * wave + (this.random() - 0.5)) * 1000) / 1000
    }
  }
}

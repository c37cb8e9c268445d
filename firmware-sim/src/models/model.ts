import type { Rng } from '../random.ts'

/** One reading's values: metric name to number or boolean, as on the wire. */
export type Values = Record<string, number | boolean>

/** What the device answers to a command (docs/simulator.md, "Device commands"). */
export interface CommandOutcome {
  status: 'ok' | 'rejected' | 'failed'
  detail: string
}

/**
 * The physics of one simulated device: its values at an instant of simulated
 * time, and its answer to commands. Called from one scheduler, never
 * concurrently. Noise comes from the rng the device passes in, so a device's
 * sequence of readings is reproducible from the fleet seed.
 */
export interface SignalModel {
  read(epochMs: number, rng: Rng): Values
  command(action: string, params: Record<string, unknown>): CommandOutcome
  /** Water devices: a pipe burst until `untilMs` (pressure falls, flow rises). */
  startBurst?(untilMs: number): void
  /** Street lights: the lamp fails and stays failed. */
  failLamp?(): void
}

export const unknownAction = (action: string, known: string[]): CommandOutcome => ({
  status: 'rejected',
  detail: known.length
    ? `Unknown action "${action}"; this device accepts ${known.map((a) => `"${a}"`).join(', ')}.`
    : `Unknown action "${action}"; this device accepts no commands.`,
})

/** A base for devices that take no commands. */
export abstract class PassiveModel implements SignalModel {
  abstract read(epochMs: number, rng: Rng): Values
  command(action: string): CommandOutcome {
    return unknownAction(action, [])
  }
}

import { type DeviceKind, createModel, defaultKind } from './models/index.ts'
import { Rng, hashString } from './random.ts'

export { danangHour } from './models/index.ts'

/** Produces one reading's values for a device at an instant; deterministic from the device id and seed. */
export type DeviceModel = (epochMs: number) => Record<string, number | boolean>

/** A device's model as a plain function (the API the demo fleet used before device kinds existed). */
export function modelFor(domain: string, deviceId: string, seed = 1, kind: DeviceKind = defaultKind(domain)): DeviceModel {
  const model = createModel(kind, deviceId, seed)
  const rng = new Rng(hashString(deviceId) ^ seed)
  return (epochMs) => model.read(epochMs, rng)
}

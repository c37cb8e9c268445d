import type { DeviceInfo, DeviceLookup, Reading } from '../../stream/events.ts'

/** A committed reading as the pipeline would hand it to the indicators. */
export function reading(deviceId: string, metric: string, time: number, value: number, quality = 0, domain = 'environment'): Reading {
  return { time, receivedAt: time, deviceId, domain, metric, value, quality, seq: -1, flags: 0 }
}

export function lookupOf(devices: DeviceInfo[]): DeviceLookup {
  const byId = new Map(devices.map((d) => [d.id, d]))
  return (id) => byId.get(id)
}

/**
 * Receive-time stamps for readings that arrive without `ts`, unique and
 * increasing per device. Telemetry is keyed by (device, metric, time), so two
 * such readings of one device in the same millisecond (a burst in one TCP
 * write, a backlog resent after a reconnect) would collide and the second
 * would be skipped as a duplicate after its acknowledgement. Each stamp is the
 * receive time, or 1 ms after the device's previous stamp when that is later:
 * 1,000 readings in one write get 1,000 consecutive milliseconds.
 *
 * Memory is bounded: a device whose last stamp is behind the receive time
 * needs no entry (the receive time is already later), so those are pruned
 * whenever the map grows past `maxDevices`.
 */
export class ServerClock {
  private readonly last = new Map<string, number>()

  constructor(private readonly maxDevices = 10_000) {}

  /** The time for a `ts`-less reading of `deviceId` received at `receivedAt` (epoch ms). */
  stamp(deviceId: string, receivedAt: number): number {
    const previous = this.last.get(deviceId)
    const time = previous !== undefined && previous >= receivedAt ? previous + 1 : receivedAt
    if (previous === undefined && this.last.size >= this.maxDevices) this.prune(receivedAt)
    this.last.set(deviceId, time)
    return time
  }

  private prune(now: number): void {
    for (const [id, time] of this.last) if (time < now) this.last.delete(id)
  }
}

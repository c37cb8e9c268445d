/**
 * Decoded telemetry rows, one per (reading, metric), kept in parallel columns
 * so the hot path allocates no object per row. Sinks read the columns directly.
 */
export class Rows {
  time: number[] = []
  deviceId: string[] = []
  metric: string[] = []
  value: number[] = []
  quality: number[] = []
  /** -1 when the reading had no seq. */
  seq: number[] = []
  flags: number[] = []

  get length(): number {
    return this.time.length
  }

  push(time: number, deviceId: string, metric: string, value: number, quality: number, seq: number, flags: number): void {
    this.time.push(time)
    this.deviceId.push(deviceId)
    this.metric.push(metric)
    this.value.push(value)
    this.quality.push(quality)
    this.seq.push(seq)
    this.flags.push(flags)
  }
}

/** Values per row in Rows.data, in this order. */
export const ROW_STRIDE = 7

/**
 * Decoded telemetry rows, one per (reading, metric), packed into one flat
 * array of ROW_STRIDE values per row: time (epoch ms), deviceId, metric,
 * value, quality, seq (-1 when absent), flags. One allocation per message
 * instead of one per column or per row: the hot path is dominated by garbage
 * collection otherwise. Sinks read `data` directly; the column getters are
 * for tests and tools.
 */
export class Rows {
  data: (number | string)[] = []

  get length(): number {
    return this.data.length / ROW_STRIDE
  }

  /**
   * Drops the spare capacity that pushing left (V8 grows an array by half
   * and 16 slots): a message's rows are held until their commit, and for a
   * one-reading message the spare slots were most of its rows' memory.
   * Call once the rows are complete.
   */
  compact(): void {
    this.data = this.data.slice()
  }

  push(time: number, deviceId: string, metric: string, value: number, quality: number, seq: number, flags: number): void {
    this.data.push(time, deviceId, metric, value, quality, seq, flags)
  }

  get time(): number[] { return this.column(0) as number[] }
  get deviceId(): string[] { return this.column(1) as string[] }
  get metric(): string[] { return this.column(2) as string[] }
  get value(): number[] { return this.column(3) as number[] }
  get quality(): number[] { return this.column(4) as number[] }
  get seq(): number[] { return this.column(5) as number[] }
  get flags(): number[] { return this.column(6) as number[] }

  private column(offset: number): (number | string)[] {
    const out: (number | string)[] = []
    for (let i = offset; i < this.data.length; i += ROW_STRIDE) out.push(this.data[i]!)
    return out
  }
}

/** Readings in `rows`: rows of one reading are adjacent and share device, time and seq. */
export function countReadings(rows: Rows): number {
  const data = rows.data
  let readings = 0
  for (let i = 0; i < data.length; i += ROW_STRIDE) {
    if (i === 0 || data[i] !== data[i - ROW_STRIDE] || data[i + 1] !== data[i + 1 - ROW_STRIDE] || data[i + 5] !== data[i + 5 - ROW_STRIDE]) readings++
  }
  return readings
}

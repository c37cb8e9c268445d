import type { Reading, ReadingEvent } from './events.ts'

/**
 * A committed batch of readings as columns: one typed array or string array
 * per field, filled once per commit. The after-commit processors read it
 * column by column; no object is made per reading unless a consumer keeps
 * one (the live stream's subscribers, the indicators), and then only for the
 * readings it keeps (`reading(i)`).
 *
 * Consumers that look at one reading at a time without keeping it (the
 * rollup windows, the alarm rules) `load` it into one reused Reading, the
 * cursor: read its fields inside the call, never store the object.
 */
export class ReadingBatch {
  length = 0
  readonly time: Float64Array
  readonly receivedAt: Float64Array
  readonly value: Float64Array
  readonly seq: Float64Array
  readonly quality: Int32Array
  readonly flags: Int32Array
  readonly deviceId: string[]
  readonly domain: string[]
  readonly metric: string[]

  constructor(readonly capacity: number) {
    this.time = new Float64Array(capacity)
    this.receivedAt = new Float64Array(capacity)
    this.value = new Float64Array(capacity)
    this.seq = new Float64Array(capacity)
    this.quality = new Int32Array(capacity)
    this.flags = new Int32Array(capacity)
    this.deviceId = new Array<string>(capacity)
    this.domain = new Array<string>(capacity)
    this.metric = new Array<string>(capacity)
  }

  /** A batch holding these readings (tests, tools, replays). */
  static of(readings: readonly Reading[]): ReadingBatch {
    const batch = new ReadingBatch(readings.length)
    for (const r of readings) batch.push(r.time, r.receivedAt, r.deviceId, r.domain, r.metric, r.value, r.quality, r.seq, r.flags)
    return batch
  }

  /** Appends one reading; throws past `capacity`. */
  push(time: number, receivedAt: number, deviceId: string, domain: string, metric: string, value: number, quality: number, seq: number, flags: number): void {
    const i = this.length
    if (i >= this.capacity) throw new RangeError(`ReadingBatch is full (${this.capacity} readings).`)
    this.time[i] = time
    this.receivedAt[i] = receivedAt
    this.deviceId[i] = deviceId
    this.domain[i] = domain
    this.metric[i] = metric
    this.value[i] = value
    this.quality[i] = quality
    this.seq[i] = seq
    this.flags[i] = flags
    this.length = i + 1
  }

  /** The reading at `i` as a new event object, for a consumer that keeps it. */
  reading(i: number): ReadingEvent {
    return {
      kind: 'reading',
      time: this.time[i]!,
      receivedAt: this.receivedAt[i]!,
      deviceId: this.deviceId[i]!,
      domain: this.domain[i]!,
      metric: this.metric[i]!,
      value: this.value[i]!,
      quality: this.quality[i]!,
      seq: this.seq[i]!,
      flags: this.flags[i]!,
    }
  }

  /** Every reading as event objects (consumers that keep them all). */
  readings(): ReadingEvent[] {
    const out = new Array<ReadingEvent>(this.length)
    for (let i = 0; i < this.length; i++) out[i] = this.reading(i)
    return out
  }

  /** Loads the reading at `i` into `cursor` (see the class note: read it, do not keep it). */
  load(cursor: Reading, i: number): Reading {
    cursor.time = this.time[i]!
    cursor.receivedAt = this.receivedAt[i]!
    cursor.deviceId = this.deviceId[i]!
    cursor.domain = this.domain[i]!
    cursor.metric = this.metric[i]!
    cursor.value = this.value[i]!
    cursor.quality = this.quality[i]!
    cursor.seq = this.seq[i]!
    cursor.flags = this.flags[i]!
    return cursor
  }
}

/** A Reading to `load` batch rows into. */
export function readingCursor(): Reading {
  return { time: 0, receivedAt: 0, deviceId: '', domain: '', metric: '', value: 0, quality: 0, seq: -1, flags: 0 }
}

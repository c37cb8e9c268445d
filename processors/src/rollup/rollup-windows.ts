import { Quality } from '@gridline/schemas'
import type { Reading, RollupEvent } from '../stream/events.ts'
import { type ReadingBatch, readingCursor } from '../stream/batch.ts'
import { Watermark } from '../watermark/watermark.ts'
import type { RollupConfig } from './config.ts'

export type RollupResolution = RollupEvent['resolution']

export const ROLLUP_RESOLUTIONS: readonly { name: RollupResolution; ms: number }[] = [
  { name: '1m', ms: 60_000 },
  { name: '1h', ms: 3_600_000 },
]

/** A bucket to be (re)computed from `telemetry` in SQL instead of from memory. */
export interface RecomputeRequest {
  resolution: RollupResolution
  deviceId: string
  metric: string
  bucket: number
  /** True for a late reading's bucket (already emitted), false for a bucket memory saw only part of. */
  correction: boolean
}

export interface RollupWindowCounts {
  /** Readings that arrived after their 1-minute window had closed. */
  lateReadings: number
  /** Readings that arrived after their 1-hour window had closed. */
  lateReadingsHourly: number
  emitted: number
  recomputeRequests: number
  devices: number
  /** Closed 1-minute buckets of one reading for which no event was made (`RollupWindowsOutput.makeSingleReadingMinutes`). */
  singleReadingMinutesNotMade: number
}

/** One open bucket. Reused once closed (a device reporting every few minutes opens a minute per reading). */
class Accumulator {
  count = 0
  nonGood = 0
  good = 0
  min = Infinity
  max = -Infinity
  sum = 0
  last = Number.NaN
  lastTime = -Infinity
  /** The next open bucket of the same series and resolution (oldest first), if any. */
  next: Accumulator | null = null
  constructor(public bucket: number, public end: number, public complete: boolean) {}

  reset(bucket: number, end: number, complete: boolean): this {
    this.bucket = bucket
    this.end = end
    this.complete = complete
    this.count = 0
    this.nonGood = 0
    this.good = 0
    this.min = Infinity
    this.max = -Infinity
    this.sum = 0
    this.last = Number.NaN
    this.lastTime = -Infinity
    this.next = null
    return this
  }
}

/** Closed accumulators kept for reuse at most. */
const SPARE_ACCUMULATORS = 4_096

interface Series {
  deviceId: string
  metric: string
  /**
   * Open buckets of the 1-minute and the 1-hour resolution, each a list
   * linked by `next`, oldest first; rarely more than one each. Fields, not
   * arrays: a fleet reporting every few minutes touches each series once per
   * message, from cold memory, so every pointer less is a cache miss less.
   */
  minutes: Accumulator | null
  hours: Accumulator | null
  /** Bit r set: the series has had a bucket of resolution r since these windows began. */
  started: number
  /**
   * The latest event time of this series stored before this process started
   * (-Infinity: none), once `setPrevious` has said; until then undefined. A
   * first bucket that starts after it holds nothing memory did not see.
   */
  previous: number | undefined
}

interface DeviceWindows {
  watermark: Watermark
  series: Map<string, Series>
  openBuckets: number
  /** Earliest end among open buckets: nothing to close before the watermark reaches it. */
  nextEnd: number
}

export interface RollupWindowsOutput {
  emit(event: RollupEvent): void
  recompute(request: RecomputeRequest): void
  /**
   * A series seen for the first time (with `recomputeFirstBucket`): find the
   * latest event time it had stored before this process started and tell
   * `setPrevious`, so its first buckets need no recompute when they start after it.
   */
  probe?(deviceId: string, metric: string): void
  /**
   * Asked when a 1-minute bucket of one reading closes: false means nobody
   * takes it (not stored, no live subscriber), so no event is made for it.
   * Absent: every bucket is emitted.
   */
  makeSingleReadingMinutes?(): boolean
}

/**
 * The event-time windowing behind the rollup processor, without rxjs or I/O.
 * Buckets are aligned on the Unix epoch (UTC minutes and hours). Each device
 * has its own watermark (docs/rollups.md#time); a bucket closes when its
 * device's watermark reaches its end, and a reading for a closed bucket is
 * late: it is counted and its bucket is handed to `recompute` (the stored
 * rollup is corrected from `telemetry`). min/max/avg/last use GOOD readings
 * only; `count` counts every reading and `nonGood` the others.
 * Not reentrant; one instance per stream.
 */
export class RollupWindows {
  readonly counts: RollupWindowCounts = { lateReadings: 0, lateReadingsHourly: 0, emitted: 0, recomputeRequests: 0, devices: 0, singleReadingMinutesNotMade: 0 }
  private readonly devices = new Map<string, DeviceWindows>()
  private readonly cursor = readingCursor()
  private readonly spare: Accumulator[] = []
  /** Devices forgotten (forgetDeviceAfterMs): rows of theirs were stored that these windows no longer hold, so their first buckets are recomputed. */
  private readonly forgotten = new Set<string>()
  private lastDeviceId: string | undefined
  private lastDevice: DeviceWindows | undefined

  constructor(
    private readonly config: Pick<RollupConfig, 'allowedLatenessMs' | 'idleTimeoutMs' | 'forgetDeviceAfterMs' | 'recomputeFirstBucket'>,
    private readonly output: RollupWindowsOutput,
  ) {}

  /** Adds a committed batch, column by column (no object per reading). */
  addBatch(batch: ReadingBatch, now: number): void {
    const cursor = this.cursor
    for (let i = 0; i < batch.length; i++) this.add(batch.load(cursor, i), now)
  }

  /** Adds one reading; reads its fields, never keeps the object. */
  add(reading: Reading, now: number): void {
    // A message's rows are one device's: look it up once per run of rows.
    let device = reading.deviceId === this.lastDeviceId ? this.lastDevice : this.devices.get(reading.deviceId)
    if (device === undefined) {
      device = { watermark: new Watermark(this.config.allowedLatenessMs), series: new Map(), openBuckets: 0, nextEnd: Infinity }
      this.devices.set(reading.deviceId, device)
      this.counts.devices++
    }
    this.lastDeviceId = reading.deviceId
    this.lastDevice = device
    let series = device.series.get(reading.metric)
    if (series === undefined) {
      series = { deviceId: reading.deviceId, metric: reading.metric, minutes: null, hours: null, started: 0, previous: undefined }
      device.series.set(reading.metric, series)
      if (this.config.recomputeFirstBucket && !this.forgotten.has(reading.deviceId)) this.output.probe?.(reading.deviceId, reading.metric)
    }
    const time = reading.time
    const watermark = device.watermark.value
    for (let r = 0; r < ROLLUP_RESOLUTIONS.length; r++) {
      const size = ROLLUP_RESOLUTIONS[r]!.ms
      // Event times are after 2000 (the decoder refuses older), so % is a floor here.
      const bucket = time - (time % size)
      const end = bucket + size
      if (end <= watermark) {
        if (r === 0) this.counts.lateReadings++
        else this.counts.lateReadingsHourly++
        this.request({ resolution: ROLLUP_RESOLUTIONS[r]!.name, deviceId: reading.deviceId, metric: reading.metric, bucket, correction: true })
        continue
      }
      const head = r === 0 ? series.minutes : series.hours
      let acc = head
      let tail: Accumulator | null = null
      while (acc !== null && acc.bucket !== bucket) {
        tail = acc
        acc = acc.next
      }
      if (acc === null) {
        const complete = (series.started & (1 << r)) !== 0 || !this.config.recomputeFirstBucket
        acc = this.spare.pop()?.reset(bucket, end, complete) ?? new Accumulator(bucket, end, complete)
        series.started |= 1 << r
        if (tail !== null) tail.next = acc
        else if (r === 0) series.minutes = acc
        else series.hours = acc
        device.openBuckets++
        if (end < device.nextEnd) device.nextEnd = end
      }
      acc.count++
      if (reading.quality !== Quality.GOOD) {
        acc.nonGood++
      } else {
        acc.good++
        acc.sum += reading.value
        if (reading.value < acc.min) acc.min = reading.value
        if (reading.value > acc.max) acc.max = reading.value
        if (time >= acc.lastTime) {
          acc.last = reading.value
          acc.lastTime = time
        }
      }
    }
    if (device.watermark.observe(time, now) && device.watermark.value >= device.nextEnd) this.close(device, device.watermark.value)
  }

  /** What `probe` found for a series: its latest event time stored before this process started (-Infinity: none). */
  setPrevious(deviceId: string, metric: string, time: number): void {
    const series = this.devices.get(deviceId)?.series.get(metric)
    if (series) series.previous = time
  }

  /** Advances the watermarks of devices quiet for `idleTimeoutMs` and closes what that passes; forgets long-idle devices. */
  closeIdle(now: number): void {
    for (const [id, device] of this.devices) {
      if (device.openBuckets === 0) {
        if (now - device.watermark.lastSeenAt >= this.config.forgetDeviceAfterMs) {
          this.devices.delete(id)
          this.forgotten.add(id)
          if (this.lastDevice === device) this.lastDeviceId = this.lastDevice = undefined
          this.counts.devices--
        }
        continue
      }
      if (device.watermark.advanceIdle(now, this.config.idleTimeoutMs) && device.watermark.value >= device.nextEnd) {
        this.close(device, device.watermark.value)
      }
    }
  }

  /** Closes every open bucket (end of stream, shutdown). */
  closeAll(): void {
    for (const device of this.devices.values()) this.close(device, Infinity)
  }

  private close(device: DeviceWindows, upTo: number): void {
    let nextEnd = Infinity
    for (const series of device.series.values()) {
      for (let r = 0; r < ROLLUP_RESOLUTIONS.length; r++) {
        let acc = r === 0 ? series.minutes : series.hours
        if (acc === null) continue
        // The list rebuilt from the buckets still open, in their order.
        let head: Accumulator | null = null
        let tail: Accumulator | null = null
        while (acc !== null) {
          const next: Accumulator | null = acc.next
          if (acc.end <= upTo) {
            this.closeBucket(series, r, acc)
            device.openBuckets--
            if (this.spare.length < SPARE_ACCUMULATORS) this.spare.push(acc)
          } else {
            acc.next = null
            if (tail === null) head = acc
            else tail.next = acc
            tail = acc
            if (acc.end < nextEnd) nextEnd = acc.end
          }
          acc = next
        }
        if (r === 0) series.minutes = head
        else series.hours = head
      }
    }
    device.nextEnd = nextEnd
  }

  private closeBucket(series: Series, r: number, acc: Accumulator): void {
    const resolution = ROLLUP_RESOLUTIONS[r]!.name
    // A first bucket is whole in memory when nothing stored before the start reaches into it.
    if (!acc.complete && !(series.previous !== undefined && series.previous < acc.bucket)) {
      this.request({ resolution, deviceId: series.deviceId, metric: series.metric, bucket: acc.bucket, correction: false })
      return
    }
    if (r === 0 && acc.count === 1 && this.output.makeSingleReadingMinutes?.() === false) {
      this.counts.singleReadingMinutesNotMade++
      return
    }
    const hasGood = acc.good > 0
    this.counts.emitted++
    this.output.emit({
      kind: 'rollup',
      resolution,
      deviceId: series.deviceId,
      metric: series.metric,
      bucket: acc.bucket,
      count: acc.count,
      min: hasGood ? acc.min : Number.NaN,
      max: hasGood ? acc.max : Number.NaN,
      avg: hasGood ? acc.sum / acc.good : Number.NaN,
      last: acc.last,
      nonGood: acc.nonGood,
      correction: false,
    })
  }

  private request(request: RecomputeRequest): void {
    this.counts.recomputeRequests++
    this.output.recompute(request)
  }
}

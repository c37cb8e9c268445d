import { ROW_STRIDE, type Rows } from '@gridline/core'
import { type SequenceConfig, SequenceConfigSchema } from './config.ts'

/** A run of seqs a device numbered but the service has not received. Bounds inclusive. */
export interface SeqGap {
  deviceId: string
  from: number
  to: number
  /** Event time of the last reading before the gap (NaN when unknown). */
  after: number
  /** Event time of the reading that revealed the gap (NaN when unknown). */
  before: number
}

/**
 * What one reading's seq means:
 * - `first`: the first seq seen from the device by this process;
 * - `next`: one above the last;
 * - `gap`: above the last by more than one (the seqs between are now an open gap);
 * - `late`: inside an open gap, which it closes (partly);
 * - `duplicate`: already seen: not above the last, not in a gap, and not newer in time;
 * - `duplicate_in_flight`: a duplicate whose original may not be committed yet: kept, the
 *   storage key drops it (see `apply`);
 * - `restart`: not above the last, but newer in time (or far below it): the device renumbered.
 */
export type SeqVerdict = 'first' | 'next' | 'gap' | 'late' | 'duplicate' | 'duplicate_in_flight' | 'restart'

/**
 * Where a message stands in the write pipeline: its own position (messages
 * are numbered as they are submitted) and the highest position up to which
 * every message is committed. Without it every duplicate is dropped.
 */
export interface WritePosition {
  position: number
  committedThrough: number
}

interface DeviceSeq {
  last: number
  lastTime: number
  /** Write position (see `apply`) of the message that last moved `last` forward. */
  lastAt: number
  gaps: SeqGap[]
  /** Highest seq of a gap forgotten for lack of room: below it, "not in a gap" proves nothing. */
  forgottenBelow: number
}

/**
 * Per-device `seq` bookkeeping that costs one map lookup per reading and no
 * database round trip: the gap ledger (missing seq ranges, bounded per
 * device), duplicate suppression, and counters.
 *
 * A duplicate is told from a restart by time: a resend carries the time it
 * was first sent with, not later than the newest reading seen, while a device
 * that restarts its counter sends newer readings. So a device that never
 * increments seq loses nothing. The ledger starts empty in each process (gaps
 * across a service restart are not seen); `restore` reloads persisted gaps.
 */
export class SequenceTracker {
  /** Readings missing when gaps opened, summed over devices (monotonic). */
  missing = 0
  /** Readings whose seq was not above the device's last one: late, duplicate or restart. */
  regressions = 0
  duplicates = 0
  /** Duplicates kept because the message they repeat may not be committed yet (storage dedups them). */
  duplicatesInFlight = 0
  /** Readings that arrived late and closed part of a gap. */
  lateFilled = 0
  restarts = 0
  /** Gaps forgotten because a device had more than `maxGapsPerDevice` open. */
  gapsForgotten = 0
  private readonly devices = new Map<string, DeviceSeq>()
  /** Write position of the message being applied; see `apply`. */
  private position = -1
  /** Every message at or below this write position is committed. */
  private committedThrough = Number.MAX_SAFE_INTEGER
  private readonly dirty = new Set<string>()
  private readonly config: SequenceConfig

  constructor(config: Partial<SequenceConfig> = {}) {
    this.config = SequenceConfigSchema.parse(config)
  }

  /** Classifies one reading's seq and updates the ledger. `time` is the reading's event time. */
  observe(deviceId: string, seq: number, time = Number.NaN): SeqVerdict {
    const state = this.devices.get(deviceId)
    if (state === undefined) {
      this.devices.set(deviceId, { last: seq, lastTime: time, lastAt: this.position, gaps: [], forgottenBelow: -1 })
      return 'first'
    }
    if (seq > state.last) {
      const skipped = seq - state.last - 1
      const verdict: SeqVerdict = skipped === 0 ? 'next' : skipped > this.config.maxGapReadings ? 'restart' : 'gap'
      if (verdict === 'gap') this.openGap(deviceId, state, seq, time)
      else if (verdict === 'restart') this.restarts++
      state.last = seq
      state.lastAt = this.position
      if (!(time <= state.lastTime)) state.lastTime = time
      return verdict
    }
    this.regressions++
    if (this.fillGap(deviceId, state, seq)) {
      this.lateFilled++
      return 'late'
    }
    // Its gap may have been forgotten: accept rather than drop a reading that may be new.
    if (seq <= state.forgottenBelow) return 'late'
    if (time > state.lastTime || state.last - seq > this.config.restartDrop) {
      this.restarts++
      state.last = seq
      state.lastAt = this.position
      state.lastTime = time
      return 'restart'
    }
    this.duplicates++
    // Dropping is safe only once what it repeats is committed: the message
    // carrying the original may still be in flight (a device resending after
    // a reconnect), and its loss with a crash would otherwise lose the reading.
    if (state.lastAt > this.committedThrough) {
      this.duplicatesInFlight++
      return 'duplicate_in_flight'
    }
    return 'duplicate'
  }

  /**
   * Observes every reading of one decoded message and, with `dropDuplicates`,
   * removes the duplicates' rows in place. Rows of one reading are adjacent
   * and share device, time and seq; rows without seq (-1) are kept untouched.
   * Returns the number of rows removed.
   *
   * With `at`, a duplicate is dropped only when the message that last moved
   * the device's seq forward is committed; otherwise it is kept and the
   * storage key (device, metric, time) absorbs it. So an acknowledgement
   * for a dropped duplicate never runs ahead of its original's commit.
   */
  apply(rows: Rows, at?: WritePosition): number {
    if (at) {
      this.position = at.position
      this.committedThrough = at.committedThrough
    }
    const data = rows.data
    let write = 0
    let verdict: SeqVerdict = 'next'
    let device = ''
    let time = Number.NaN
    let seq = -1
    for (let read = 0; read < data.length; read += ROW_STRIDE) {
      const rowSeq = data[read + 5] as number
      if (rowSeq >= 0) {
        const rowDevice = data[read + 1] as string
        const rowTime = data[read] as number
        if (rowSeq !== seq || rowTime !== time || rowDevice !== device) {
          seq = rowSeq
          time = rowTime
          device = rowDevice
          verdict = this.observe(device, seq, time)
        }
        if (verdict === 'duplicate' && this.config.dropDuplicates) continue
      }
      if (write !== read) for (let k = 0; k < ROW_STRIDE; k++) data[write + k] = data[read + k]!
      write += ROW_STRIDE
    }
    const removed = (data.length - write) / ROW_STRIDE
    data.length = write
    return removed
  }

  lastSeq(deviceId: string): number | undefined {
    return this.devices.get(deviceId)?.last
  }

  /** The device's open gaps, oldest first. */
  gaps(deviceId: string): readonly SeqGap[] {
    return this.devices.get(deviceId)?.gaps ?? []
  }

  /** Readings currently missing over all devices' open gaps. */
  get openMissing(): number {
    let total = 0
    for (const state of this.devices.values()) for (const gap of state.gaps) total += gap.to - gap.from + 1
    return total
  }

  /** Devices whose gaps changed since the last call, with their current gaps. Used by the persister. */
  takeChanged(): Map<string, SeqGap[]> {
    const changed = new Map<string, SeqGap[]>()
    for (const deviceId of this.dirty) changed.set(deviceId, [...(this.devices.get(deviceId)?.gaps ?? [])])
    this.dirty.clear()
    return changed
  }

  /** Marks devices as changed again after a failed persist, so the next one retries them. */
  markChanged(deviceIds: Iterable<string>): void {
    for (const id of deviceIds) this.dirty.add(id)
  }

  /** Reloads persisted gaps at start. A device's last seq becomes its highest gap end + 1 until it speaks. */
  restore(gaps: readonly SeqGap[]): void {
    for (const gap of gaps) {
      let state = this.devices.get(gap.deviceId)
      if (state === undefined) {
        state = { last: gap.to + 1, lastTime: gap.before, lastAt: -1, gaps: [], forgottenBelow: -1 }
        this.devices.set(gap.deviceId, state)
      }
      state.gaps.push({ ...gap })
      state.gaps.sort((a, b) => a.from - b.from)
      if (gap.to + 1 > state.last) state.last = gap.to + 1
    }
  }

  forget(deviceId: string): void {
    if (this.devices.delete(deviceId)) this.dirty.add(deviceId)
  }

  private openGap(deviceId: string, state: DeviceSeq, seq: number, time: number): void {
    state.gaps.push({ deviceId, from: state.last + 1, to: seq - 1, after: state.lastTime, before: time })
    this.missing += seq - state.last - 1
    if (state.gaps.length > this.config.maxGapsPerDevice) {
      const oldest = state.gaps.shift()!
      state.forgottenBelow = Math.max(state.forgottenBelow, oldest.to)
      this.gapsForgotten++
    }
    this.dirty.add(deviceId)
  }

  private fillGap(deviceId: string, state: DeviceSeq, seq: number): boolean {
    const gaps = state.gaps
    for (let i = gaps.length - 1; i >= 0; i--) {
      const gap = gaps[i]!
      if (seq < gap.from || seq > gap.to) continue
      if (gap.from === gap.to) gaps.splice(i, 1)
      else if (seq === gap.from) gap.from++
      else if (seq === gap.to) gap.to--
      else {
        gaps.splice(i + 1, 0, { ...gap, from: seq + 1 })
        gap.to = seq - 1
      }
      this.dirty.add(deviceId)
      return true
    }
    return false
  }
}

/** Factory in the shape every processor has: (config, deps) -> instance. */
export function createSequenceTracker(config: Partial<SequenceConfig> = {}): SequenceTracker {
  return new SequenceTracker(config)
}

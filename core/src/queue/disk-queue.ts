import { EventEmitter } from 'node:events'
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '@gridline/core'
import { AckRanges } from './ack-ranges.ts'
import { decodeFrame, encodeFrame } from './frame.ts'
import { type CursorQueue, QueueCursor, type Segment } from './queue-cursor.ts'

export type FullPolicy = 'drop_oldest' | 'reject_new'
/** Why a reading left the queue without being delivered. */
export type DropReason = 'queue_full' | 'expired' | 'corrupt' | 'disk_error'
export const DROP_REASONS: readonly DropReason[] = ['queue_full', 'expired', 'corrupt', 'disk_error']

export interface DiskQueueOptions {
  /** Folder of the queue files (created if missing). */
  dir: string
  /** Bound on the bytes of all segment files together. */
  maxBytes: number
  /** A segment is sealed and a new one started once it reaches this size. */
  segmentBytes: number
  fullPolicy: FullPolicy
  /** Readings accepted longer ago than this are dropped as `expired` instead of sent; 0 keeps them forever. */
  ttlMs: number
  /** Extra wait before a group commit, to gather more appends into one fdatasync. */
  commitDelayMs: number
  /** Turned off only by measurements comparing against a queue without fsync. */
  fsync?: boolean
  /** Reads the device and seq of a payload: the queue keeps the last seq per device across restarts. */
  sequenceOf: (payload: Buffer) => { device: string; seq: number } | undefined
  /**
   * The weight of a record in drop counts (the readings it holds, when one
   * record carries many); 1 each when absent. With it, the `dropped` event's
   * third argument is the weight of the records dropped.
   */
  weightOf?: (payload: Buffer) => number
  logger: Logger
}

/** Thrown (as a rejected append) when the queue is full and the policy is `reject_new`. */
export class QueueFullError extends Error {
  constructor() {
    super('The disk queue is full and its policy is reject_new; the reading was not accepted.')
    this.name = 'QueueFullError'
  }
}

export type { Segment } from './queue-cursor.ts'

export interface QueueStats {
  /** Readings accepted and neither delivered nor dropped. */
  depthReadings: number
  /** Bytes of the segment files on disk. */
  diskBytes: number
  /** Accepted time of the oldest segment that still holds an undelivered reading, or undefined. */
  oldestUnsentAcceptedAt: number | undefined
  dropped: Record<DropReason, number>
  /** Corrupt records found (and cut off) at start-up. */
  corruptAtStart: number
}

interface PendingAppend {
  frame: Buffer
  acceptedAt: number
  weight: number
  resolve: () => void
  reject: (err: Error) => void
}

const SEGMENT_PATTERN = /^seg-(\d{16})\.log$/
const ACKS_FILE = 'acks.json'
const SEQUENCES_FILE = 'sequences.json'
const ACKS_WRITE_INTERVAL_MS = 200

/**
 * A disk-backed FIFO queue of readings: append-only segment files of
 * length + CRC32 framed records, group commit (one write and one fdatasync
 * for every append gathered meanwhile), and a small acknowledgement file.
 *
 * Every record has an index (0, 1, 2, ... across segments, stable across
 * restarts because a segment file is named after its first index).
 * Readers are cursors (`openCursor`); delivered ranges are acknowledged with
 * `ack`, in any order; a segment is deleted once all of it is acknowledged.
 *
 * Durability: `append` resolves only after the record is fsynced. The
 * acknowledgement file is written lazily: after a crash, ranges acknowledged
 * just before it are sent again, which the ingest service stores once.
 */
export class DiskQueue extends EventEmitter<{ durable: []; dropped: [reason: DropReason, records: number, weight: number] }> implements CursorQueue {
  private readonly segments: Segment[] = []
  private activeHandle: FileHandle | undefined
  private pending: PendingAppend[] = []
  private pendingBytes = 0
  private flushing: Promise<void> | undefined
  /** Index the next durable record gets. */
  private nextIndex = 0
  private readonly acks = new AckRanges()
  private acksDirty = false
  private acksTimer: NodeJS.Timeout | undefined
  private maintenance: Promise<void> = Promise.resolve()
  private stateWrites: Promise<void> = Promise.resolve()
  private readonly lastSeq = new Map<string, number>()
  private readonly dropped: Record<DropReason, number> = { queue_full: 0, expired: 0, corrupt: 0, disk_error: 0 }
  private corruptAtStart = 0
  private closed = false

  private constructor(private readonly options: DiskQueueOptions) {
    super()
  }

  /** Opens (or creates) the queue, recovering from whatever state a crash left. */
  static async open(options: DiskQueueOptions): Promise<DiskQueue> {
    const queue = new DiskQueue(options)
    await queue.recover()
    queue.acksTimer = setInterval(() => queue.persistAcksIfDirty(), ACKS_WRITE_INTERVAL_MS)
    queue.acksTimer.unref()
    return queue
  }

  /** The next per-device sequence number; call once per accepted reading. */
  nextSeq(device: string): number {
    const seq = (this.lastSeq.get(device) ?? -1) + 1
    this.lastSeq.set(device, seq)
    return seq
  }

  /**
   * Appends one record; resolves once it is on disk (fsynced). Rejects with
   * QueueFullError under `reject_new` when the queue is full.
   */
  append(payload: Buffer, acceptedAt: number = Date.now()): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The disk queue is closed.'))
    const frame = encodeFrame(acceptedAt, payload)
    const weight = this.options.weightOf?.(payload) ?? 1
    if (!this.makeRoom(frame.length)) {
      this.countDrop('queue_full', 1, weight)
      return Promise.reject(new QueueFullError())
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ frame, acceptedAt, weight, resolve, reject })
      this.pendingBytes += frame.length
      this.flushing ??= this.flushLoop()
    })
  }

  /** A reader positioned at the oldest undelivered record at or after `fromIndex`. */
  openCursor(fromIndex: number = this.acks.ackedBelow): QueueCursor {
    return new QueueCursor(this, fromIndex)
  }

  /** Marks records [start, end) delivered. Idempotent; ranges may come in any order. */
  ack(start: number, end: number): void {
    if (end <= start) return
    const before = this.acks.ackedBelow
    this.acks.add(start, end)
    this.acksDirty = true
    if (this.acks.ackedBelow > before) this.deleteAckedSegments()
  }

  isAcked(index: number): boolean {
    return this.acks.has(index)
  }

  /** Index of the oldest record not yet delivered (or dropped). */
  get ackedBelow(): number {
    return this.acks.ackedBelow
  }

  /** Index one past the last durable record. */
  get durableEnd(): number {
    return this.nextIndex
  }

  get ttlMs(): number {
    return this.options.ttlMs
  }

  /** Called by a cursor that read a record past its TTL: drops it (counted once). */
  expire(index: number): void {
    if (this.acks.has(index)) return
    this.countDrop('expired', 1, this.weightsOf(index, index + 1))
    this.ack(index, index + 1)
  }

  /** Called by a cursor that met a bad CRC in a sealed segment: the rest of that segment is lost. */
  markCorrupt(segment: Segment, fromIndex: number): void {
    const end = segment.firstIndex + segment.count
    const lost = end - fromIndex - this.acks.countWithin(fromIndex, end)
    this.options.logger.error({ segment: segment.path, fromIndex, lost }, 'A queue segment is corrupt; the rest of it is skipped and counted as dropped (corrupt).')
    if (lost > 0) this.countDrop('corrupt', lost, this.weightsOf(fromIndex, end))
    this.ack(fromIndex, end)
  }

  /** The segment holding `index`, or the first one after it. */
  segmentFor(index: number): Segment | undefined {
    for (const segment of this.segments) {
      if (index < segment.firstIndex + segment.count || segment === this.segments.at(-1)) return segment
    }
    return undefined
  }

  stats(): QueueStats {
    const oldest = this.segments.find((s) => s.count > 0 && s.firstIndex + s.count > this.acks.ackedBelow)
    return {
      depthReadings: this.nextIndex - this.acks.ackedBelow - this.acks.countWithin(this.acks.ackedBelow, this.nextIndex) + this.pending.length,
      diskBytes: this.segments.reduce((sum, s) => sum + s.bytes, 0),
      oldestUnsentAcceptedAt: oldest ? oldest.firstAcceptedAt : undefined,
      dropped: { ...this.dropped },
      corruptAtStart: this.corruptAtStart,
    }
  }

  /** Waits for pending appends, writes the acknowledgement state, closes the files. */
  async close(): Promise<void> {
    if (this.closed) return
    while (this.flushing) await this.flushing
    this.closed = true
    clearInterval(this.acksTimer)
    await this.maintenance
    await this.writeState()
    await this.activeHandle?.close()
    this.activeHandle = undefined
  }

  private countDrop(reason: DropReason, count: number, weight: number = count): void {
    this.dropped[reason] += count
    this.emit('dropped', reason, count, weight)
  }

  /** The weight of the unacknowledged records in [start, end) (their count without `weightOf`). */
  private weightsOf(start: number, end: number): number {
    let sum = 0
    for (const segment of this.segments) {
      const from = Math.max(start, segment.firstIndex)
      const to = Math.min(end, segment.firstIndex + segment.count)
      for (let i = from; i < to; i++) if (!this.acks.has(i)) sum += segment.weights?.[i - segment.firstIndex] ?? 1
    }
    return sum
  }

  /** Applies the full policy; false when the record must be refused. */
  private makeRoom(frameBytes: number): boolean {
    const total = () => this.segments.reduce((sum, s) => sum + s.bytes, 0) + this.pendingBytes
    if (total() + frameBytes <= this.options.maxBytes) return true
    if (this.options.fullPolicy === 'reject_new') return false
    // Only sealed segments can go; the active one is at most segmentBytes (config keeps maxBytes >= 2 segments).
    while (total() + frameBytes > this.options.maxBytes && this.segments.length > 1) {
      const oldest = this.segments[0]!
      const end = oldest.firstIndex + oldest.count
      const lost = oldest.count - this.acks.countWithin(oldest.firstIndex, end)
      if (lost > 0) this.countDrop('queue_full', lost, this.weightsOf(oldest.firstIndex, end))
      this.segments.shift()
      this.acks.add(oldest.firstIndex, end)
      this.acksDirty = true
      this.unlinkLater([oldest])
    }
    return true
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        if (this.options.commitDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.options.commitDelayMs))
        const batch = this.pending
        this.pending = []
        this.pendingBytes = 0
        await this.commit(batch)
      }
    } finally {
      this.flushing = undefined
    }
  }

  private async commit(batch: PendingAppend[]): Promise<void> {
    let segment = this.segments.at(-1)
    try {
      if (!segment || !this.activeHandle || segment.bytes >= this.options.segmentBytes) segment = await this.roll()
      const data = batch.length === 1 ? batch[0]!.frame : Buffer.concat(batch.map((p) => p.frame))
      let written = 0
      while (written < data.length) {
        const { bytesWritten } = await this.activeHandle!.write(data, written, data.length - written, segment.bytes + written)
        written += bytesWritten
      }
      if (this.options.fsync !== false) await this.activeHandle!.datasync()
    } catch (err) {
      // Whatever part was written is cut off again, so indices stay in step with the file.
      if (segment) await truncate(segment.path, segment.bytes).catch(() => undefined)
      this.options.logger.error({ err, readings: batch.length }, 'Writing to the disk queue failed; the readings were not accepted and are counted as dropped (disk_error).')
      this.countDrop('disk_error', batch.length, batch.reduce((sum, p) => sum + p.weight, 0))
      for (const p of batch) p.reject(err as Error)
      return
    }
    if (segment.count === 0) segment.firstAcceptedAt = batch[0]!.acceptedAt
    segment.count += batch.length
    if (segment.weights) for (const p of batch) segment.weights.push(p.weight)
    segment.bytes += batch.reduce((sum, p) => sum + p.frame.length, 0)
    this.nextIndex += batch.length
    for (const p of batch) p.resolve()
    this.emit('durable')
  }

  /** Seals the active segment and starts a new one named after the next index. */
  private async roll(): Promise<Segment> {
    await this.activeHandle?.close()
    this.activeHandle = undefined
    const segment: Segment = { firstIndex: this.nextIndex, path: join(this.options.dir, segmentName(this.nextIndex)), count: 0, bytes: 0, firstAcceptedAt: 0, ...this.newWeights() }
    this.activeHandle = await open(segment.path, 'w')
    await this.syncDir()
    this.segments.push(segment)
    // The sequence state covers every record before this segment, so start-up only scans from here.
    await this.writeSequences()
    return segment
  }

  private deleteAckedSegments(): void {
    const done: Segment[] = []
    while (this.segments.length > 1 && this.segments[0]!.firstIndex + this.segments[0]!.count <= this.acks.ackedBelow) {
      done.push(this.segments.shift()!)
    }
    if (done.length) this.unlinkLater(done)
  }

  /** State first, then the files: after a crash in between, the segments are only re-read, never renumbered. */
  private unlinkLater(segments: Segment[]): void {
    this.maintenance = this.maintenance.then(async () => {
      await this.writeState()
      for (const s of segments) await rm(s.path, { force: true })
      await this.syncDir()
    }).catch((err) => this.options.logger.error({ err }, 'Deleting delivered queue segments failed; they are retried at the next deletion or start-up.'))
  }

  private persistAcksIfDirty(): void {
    if (!this.acksDirty || this.closed) return
    this.maintenance = this.maintenance.then(() => this.writeAcks())
      .catch((err) => this.options.logger.warn({ err }, 'Writing the queue acknowledgement file failed; it is retried.'))
  }

  private async writeState(): Promise<void> {
    await this.writeSequences()
    await this.writeAcks()
  }

  private writeAcks(): Promise<void> {
    return this.serializeStateWrite(() => {
      this.acksDirty = false
      return writeFileDurably(join(this.options.dir, ACKS_FILE), JSON.stringify(this.acks.toJSON()))
    })
  }

  private writeSequences(): Promise<void> {
    return this.serializeStateWrite(() =>
      writeFileDurably(join(this.options.dir, SEQUENCES_FILE), JSON.stringify({ coversBelow: this.nextIndex, lastSeq: Object.fromEntries(this.lastSeq) })))
  }

  /** State files are written one at a time: a stale version must never be renamed over a newer one. */
  private serializeStateWrite(write: () => Promise<void>): Promise<void> {
    const next = this.stateWrites.then(write)
    this.stateWrites = next.catch(() => undefined)
    return next
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.options.dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options
    await mkdir(dir, { recursive: true })
    const acks = await readJson(join(dir, ACKS_FILE))
    if (acks) this.acks.load(acks)
    const sequences = await readJson(join(dir, SEQUENCES_FILE)) as { coversBelow?: number; lastSeq?: Record<string, number> } | undefined
    for (const [device, seq] of Object.entries(sequences?.lastSeq ?? {})) this.lastSeq.set(device, seq)
    const coversBelow = sequences?.coversBelow ?? 0

    const names = (await readdir(dir)).filter((n) => SEGMENT_PATTERN.test(n)).sort()
    for (const name of names) {
      const firstIndex = Number(SEGMENT_PATTERN.exec(name)![1])
      const path = join(dir, name)
      const segment = await this.scanSegment(path, firstIndex, coversBelow)
      // Records missing between two segments were lost to damage: nothing is there to send.
      if (firstIndex > this.nextIndex) this.acks.add(this.nextIndex, firstIndex)
      this.nextIndex = firstIndex + segment.count
      if (segment.count === 0) await rm(path, { force: true })
      else this.segments.push(segment)
    }
    // Indices never go back, even when every segment had been deleted.
    this.nextIndex = Math.max(this.nextIndex, this.acks.ackedBelow)
    if (this.segments.length) this.acks.add(0, this.segments[0]!.firstIndex)
    this.deleteAckedSegments()
    await this.maintenance
    // Appends always go to a fresh segment after start-up: a recovered file is never appended to.
    await this.roll()
    if (this.corruptAtStart) this.countDrop('corrupt', this.corruptAtStart)
    logger.info({ readings: this.stats().depthReadings, segments: this.segments.length, corruptRecords: this.corruptAtStart }, 'The disk queue is open.')
  }

  /** Counts a segment's valid records; a torn or corrupt tail is cut off, logged and counted. */
  private async scanSegment(path: string, firstIndex: number, sequencesCoverBelow: number): Promise<Segment> {
    const data = await readFile(path)
    const segment: Segment = { firstIndex, path, count: 0, bytes: 0, firstAcceptedAt: 0, ...this.newWeights() }
    let offset = 0
    while (offset < data.length) {
      const frame = decodeFrame(data, offset)
      if (typeof frame === 'string') {
        this.corruptAtStart += 1
        this.options.logger.warn({ segment: path, offset, fileBytes: data.length, problem: frame === 'incomplete' ? 'torn (incomplete) record' : 'CRC or length mismatch' },
          'The disk queue found a damaged record at start-up; it and anything after it in this segment are cut off, the records before it are kept.')
        await truncate(path, offset)
        break
      }
      if (segment.count === 0) segment.firstAcceptedAt = frame.acceptedAt
      if (firstIndex + segment.count >= sequencesCoverBelow) this.noteSequence(frame.payload)
      segment.weights?.push(this.options.weightOf!(frame.payload))
      segment.count += 1
      offset += frame.size
    }
    segment.bytes = offset
    return segment
  }

  private newWeights(): { weights?: number[] } {
    return this.options.weightOf ? { weights: [] } : {}
  }

  private noteSequence(payload: Buffer): void {
    const found = this.options.sequenceOf(payload)
    if (!found) return
    if (found.seq > (this.lastSeq.get(found.device) ?? -1)) this.lastSeq.set(found.device, found.seq)
  }
}

function segmentName(firstIndex: number): string {
  return `seg-${String(firstIndex).padStart(16, '0')}.log`
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch {
    // Missing on first start; a damaged state file costs only resends (acks) or is rebuilt from the segments.
    return undefined
  }
}

/** Write to a temporary file, fsync, rename over: the file is either the old or the new version. */
async function writeFileDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`
  const handle = await open(temporary, 'w')
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temporary, path)
}

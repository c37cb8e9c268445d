import { type FileHandle, open } from 'node:fs/promises'
import { FRAME_HEADER_BYTES, decodeFrame } from './frame.ts'

export interface QueuedRecord {
  index: number
  acceptedAt: number
  payload: Buffer
}

export interface CursorRead {
  records: QueuedRecord[]
  /** The span read: every index in [start, end) is in `records`, already delivered, or dropped. */
  start: number
  end: number
}

const READ_CHUNK_BYTES = 256 * 1024

/** One segment file of a DiskQueue. */
export interface Segment {
  readonly firstIndex: number
  readonly path: string
  /** Records and bytes that are written and fsynced: what readers may see. */
  count: number
  bytes: number
  firstAcceptedAt: number
  /** Each record's weight (DiskQueueOptions.weightOf), when the queue has one. */
  weights?: number[]
}

/**
 * What a cursor needs of its queue (DiskQueue implements it). Declared here,
 * not imported from disk-queue.ts, so the two modules do not import each other.
 */
export interface CursorQueue {
  /** Every index below this is acknowledged. */
  readonly ackedBelow: number
  /** Index past the last durable (fsynced) record. */
  readonly durableEnd: number
  readonly ttlMs: number
  isAcked(index: number): boolean
  expire(index: number): void
  markCorrupt(segment: Segment, fromIndex: number): void
  segmentFor(index: number): Segment | undefined
}

/**
 * Reads durable records in index order from a DiskQueue, skipping records
 * already acknowledged and dropping (as `expired`) those past the TTL.
 * Not safe for concurrent `read` calls on the same cursor.
 */
export class QueueCursor {
  private segment: Segment | undefined
  private handle: FileHandle | undefined
  /** File offset in `segment` of the record `offsetIndex`. */
  private offset = 0
  private offsetIndex = 0
  private position: number

  constructor(private readonly queue: CursorQueue, fromIndex: number) {
    this.position = fromIndex
  }

  /** Index of the next record this cursor would read. */
  get nextIndex(): number {
    return this.position
  }

  /**
   * Reads up to `maxRecords` records or about `maxBytes` payload bytes,
   * stopping before `endIndex`. Returns an empty span when nothing is durable yet.
   */
  async read(maxRecords: number, maxBytes: number, endIndex = Number.POSITIVE_INFINITY): Promise<CursorRead> {
    const records: QueuedRecord[] = []
    if (this.position < this.queue.ackedBelow) this.position = this.queue.ackedBelow
    const start = this.position
    let bytes = 0
    const now = Date.now()
    const ttl = this.queue.ttlMs
    const limit = Math.min(endIndex, this.queue.durableEnd)
    while (this.position < limit && records.length < maxRecords && bytes < maxBytes) {
      if (!(await this.locate())) break
      const segment = this.segment!
      const segmentEnd = segment.firstIndex + segment.count
      const left = segment.bytes - this.offset
      if (left <= 0) break
      let readable = Math.min(left, READ_CHUNK_BYTES)
      let chunk = Buffer.allocUnsafe(readable)
      let { bytesRead } = await this.handle!.read(chunk, 0, readable, this.offset)
      if (bytesRead >= FRAME_HEADER_BYTES) {
        // One record larger than a chunk: read exactly that record.
        const whole = FRAME_HEADER_BYTES + chunk.readUInt32LE(0)
        if (whole > readable && whole <= left) {
          readable = whole
          chunk = Buffer.allocUnsafe(readable)
          bytesRead = (await this.handle!.read(chunk, 0, readable, this.offset)).bytesRead
        }
      }
      let at = 0
      while (at < bytesRead && this.position < Math.min(limit, segmentEnd) && records.length < maxRecords && bytes < maxBytes) {
        const frame = decodeFrame(chunk.subarray(0, bytesRead), at)
        if (frame === 'incomplete') {
          if (at === 0) {
            this.queue.markCorrupt(segment, this.position)
            this.position = segmentEnd
          }
          break
        }
        if (frame === 'corrupt') {
          this.queue.markCorrupt(segment, this.position)
          this.position = segmentEnd
          break
        }
        const index = this.position
        at += frame.size
        this.offset += frame.size
        this.position += 1
        this.offsetIndex = this.position
        if (this.queue.isAcked(index)) continue
        if (ttl > 0 && now - frame.acceptedAt > ttl) {
          this.queue.expire(index)
          continue
        }
        records.push({ index, acceptedAt: frame.acceptedAt, payload: frame.payload })
        bytes += frame.payload.length
      }
    }
    return { records, start, end: this.position }
  }

  async close(): Promise<void> {
    await this.handle?.close()
    this.handle = undefined
    this.segment = undefined
  }

  /** Makes `segment`/`offset` point at `position`; false when no segment holds it yet. */
  private async locate(): Promise<boolean> {
    const current = this.segment
    if (current && this.position >= current.firstIndex && this.position < current.firstIndex + current.count) {
      if (this.offsetIndex !== this.position) await this.skipTo(this.position)
      return true
    }
    const target = this.queue.segmentFor(this.position)
    if (!target || this.position >= target.firstIndex + target.count) {
      if (target && target !== current) await this.switchTo(target, target.firstIndex)
      return false
    }
    if (target !== current) await this.switchTo(target, target.firstIndex)
    if (this.position < target.firstIndex) this.position = target.firstIndex
    await this.skipTo(this.position)
    return true
  }

  private async switchTo(segment: Segment, index: number): Promise<void> {
    await this.handle?.close()
    this.segment = segment
    this.handle = await open(segment.path, 'r')
    this.offset = 0
    this.offsetIndex = index
  }

  /** Walks frame headers from the current scan point to the record `index`. */
  private async skipTo(index: number): Promise<void> {
    if (this.offsetIndex > index) {
      this.offset = 0
      this.offsetIndex = this.segment!.firstIndex
    }
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
    while (this.offsetIndex < index) {
      await this.handle!.read(header, 0, FRAME_HEADER_BYTES, this.offset)
      this.offset += FRAME_HEADER_BYTES + header.readUInt32LE(0)
      this.offsetIndex += 1
    }
  }
}

import { crc32 } from 'node:zlib'

/**
 * One queue record on disk:
 *   u32 length of the body | u32 CRC32 of the body | body
 *   body = f64 acceptedAt (epoch ms) | payload bytes
 * A record is valid only if its whole body is present and its CRC matches, so a
 * write torn by a crash or power loss is recognised and never read as data.
 */
export const FRAME_HEADER_BYTES = 8
const ACCEPTED_AT_BYTES = 8
/** A body larger than this is treated as corruption (no reading is near this size). */
export const MAX_BODY_BYTES = 1 << 20

export interface DecodedFrame {
  acceptedAt: number
  payload: Buffer
  /** Bytes the whole frame takes on disk. */
  size: number
}

export function encodeFrame(acceptedAt: number, payload: Buffer): Buffer {
  const bodyLength = ACCEPTED_AT_BYTES + payload.length
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyLength)
  frame.writeUInt32LE(bodyLength, 0)
  frame.writeDoubleLE(acceptedAt, FRAME_HEADER_BYTES)
  payload.copy(frame, FRAME_HEADER_BYTES + ACCEPTED_AT_BYTES)
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4)
  return frame
}

/**
 * Decodes the frame at `offset`. Returns 'incomplete' when the buffer ends
 * inside the frame (more bytes may follow, or the tail is torn) and 'corrupt'
 * when its length or CRC is wrong.
 */
export function decodeFrame(buffer: Buffer, offset: number): DecodedFrame | 'incomplete' | 'corrupt' {
  if (buffer.length - offset < FRAME_HEADER_BYTES) return 'incomplete'
  const bodyLength = buffer.readUInt32LE(offset)
  if (bodyLength < ACCEPTED_AT_BYTES || bodyLength > MAX_BODY_BYTES) return 'corrupt'
  const end = offset + FRAME_HEADER_BYTES + bodyLength
  if (end > buffer.length) return 'incomplete'
  const body = buffer.subarray(offset + FRAME_HEADER_BYTES, end)
  if (crc32(body) !== buffer.readUInt32LE(offset + 4)) return 'corrupt'
  return {
    acceptedAt: body.readDoubleLE(0),
    payload: body.subarray(ACCEPTED_AT_BYTES),
    size: FRAME_HEADER_BYTES + bodyLength,
  }
}

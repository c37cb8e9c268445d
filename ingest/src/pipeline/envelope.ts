import type { DecodedMessage } from '@gridline/processors'

/**
 * One MQTT PUBLISH after decoding: the unit that is batched, written and
 * acknowledged. Acks are tracked per envelope, never per reading.
 */
export interface Envelope {
  topic: string
  clientId: string | null
  /** Epoch ms when the broker handed us the message. */
  receivedAt: number
  /** The raw payload, kept until the ack so a database refusal can dead-letter it whole. */
  payload: Buffer
  decoded: DecodedMessage
  /**
   * Called exactly once: with no argument after the rows and rejections are
   * committed, or with an error when the service gave up on the message
   * (shutdown timeout), in which case the client must not be acknowledged.
   */
  settle: (err?: Error) => void
}

/** Rows plus rejections an envelope brings to the database. */
export const envelopeRows = (e: Envelope): number => e.decoded.rows.length + e.decoded.rejections.length

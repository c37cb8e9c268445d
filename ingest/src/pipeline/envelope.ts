import type { DecodedMessage, Principal, StatusChange } from '@gridline/processors'

/**
 * One MQTT PUBLISH after decoding: the unit that is batched, written and
 * acknowledged. Acks are tracked per envelope, never per reading.
 */
export interface Envelope {
  topic: string
  clientId: string | null
  /** The login that sent it (null with `auth: none`); refusals are told to it (rejection-notices.ts). */
  principal?: Principal | null
  /** Epoch ms when the broker handed us the message. */
  receivedAt: number
  /** The raw payload, kept until the ack so a database refusal can dead-letter it whole. */
  payload: Buffer
  decoded: DecodedMessage
  /** A device's online/offline report (status topics carry no telemetry rows). */
  status?: StatusChange
  /**
   * Rejected messages of the same sender that were counted but not kept
   * since its previous rejected row (over its rate); noted in this one's row.
   */
  unkeptBefore?: number
  /** What the client is owed once the message is committed; null when nothing is (QoS 0, a refusal record). */
  ack: Acknowledgement | null
}

/** The promise to a client that its message is stored. */
export interface Acknowledgement {
  /**
   * Called once by the pipeline: with no argument after the rows and
   * rejections are committed, or with an error when the service gave up on
   * the message (shutdown timeout), and then the client is not acknowledged.
   */
  settle(err?: Error): void
}

/** Rows an envelope brings to the database: its telemetry, one rejected row when anything of it was refused, its status. */
export const envelopeRows = (e: Envelope): number => e.decoded.rows.length + (e.decoded.rejections.length > 0 ? 1 : 0) + (e.status ? 1 : 0)

import type { Acknowledgement } from './delivery.ts'
import type { DecodedMessage, Principal, StatusChange } from './message.ts'

/**
 * One message after decoding: the unit that is batched, written and
 * acknowledged. Acks are tracked per envelope, never per reading.
 * Created by the intake (decode + pre-write processors), owned by the runtime
 * from `submit` until it is settled, then handed (read-only) to the
 * processors after the commit.
 */
export interface Envelope {
  /** The source component that took it in (its id in the config's `sources`); absent in tests. */
  source?: string
  /** Where the sender addressed it: an MQTT topic, an HTTP path; kept in dead letters. */
  topic: string
  clientId: string | null
  /** The login that sent it (null with `auth: none`); refusals are told to it. */
  principal?: Principal | null
  /** Epoch ms when the source received the message. */
  receivedAt: number
  /** The raw payload, kept until the ack so a database refusal can dead-letter it whole. */
  payload: Buffer
  decoded: DecodedMessage
  /** Online/offline changes the message reports (a status message, a Sparkplug birth or death); they carry no telemetry rows. */
  statuses?: StatusChange[]
  /**
   * Rejected messages of the same sender that were counted but not kept
   * since its previous rejected row (over its rate); noted in this one's row.
   */
  unkeptBefore?: number
  /** What the sender is owed once the message is committed; null when nothing is (QoS 0, a refusal record). */
  ack: Acknowledgement | null
}

/** Rows an envelope brings to the database: its telemetry, one rejected row when anything of it was refused, its status changes. */
export const envelopeRows = (e: Envelope): number => e.decoded.rows.length + (e.decoded.rejections.length > 0 ? 1 : 0) + (e.statuses?.length ?? 0)

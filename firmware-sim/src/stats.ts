import { FaultCounters } from './faults.ts'

/** Counters of a running fleet or replay; read them at any time. */
export class SimStats {
  /** Telemetry messages handed to the MQTT client (QoS 1: sent or queued for sending). */
  published = 0
  /** QoS 1: PUBACKs received. QoS 0: messages written to the socket. */
  acknowledged = 0
  /** QoS 1 messages whose connection died before the PUBACK, kept to be sent again. */
  requeued = 0
  /** Publish failures and client errors. */
  errors = 0
  /** Readings kept in a device's buffer while it was disconnected. */
  buffered = 0
  /** Buffered readings sent after a reconnect. */
  bufferFlushed = 0
  /** Oldest buffered readings dropped because a device's buffer was full. */
  bufferDropped = 0
  /** Successful CONNACKs, the first of each device included. */
  connects = 0
  /** Connections lost or closed by the broker while running. */
  disconnects = 0
  /** CONNACKs refusing the credentials (return codes 4 and 5). */
  authFailures = 0
  commandsReceived = 0
  replies = { ok: 0, rejected: 0, failed: 0 }
  /**
   * Messages the service refused after acknowledging them, by reason, as its
   * notices on `rejections/{domain}/{deviceId}` told ({"reason","detail","topic","receivedAt"}).
   */
  refused: Record<string, number> = {}
  statusPublished = 0
  readonly faults = new FaultCounters()
}

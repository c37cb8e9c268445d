import type { Acknowledgement } from '../../pipeline/envelope.ts'

/**
 * Releases one client's acknowledgements in the order its PUBLISH packets
 * arrived, whatever order their batches commit in: "It MUST send PUBACK
 * packets in the order in which the corresponding PUBLISH packets were
 * received (QoS 1 messages)" [MQTT-4.6.0-2].
 */
export class AckSequencer {
  private readonly queue: PendingAck[] = []

  /** `onAcknowledged` runs just before each successful release (metrics, socket corking). */
  constructor(private readonly onAcknowledged: () => void = () => undefined) {}

  /** Registers the next packet's broker callback; settling the returned acknowledgement releases it in order. */
  enqueue(done: (err?: Error | null) => void): Acknowledgement {
    const ack = new PendingAck(this, done)
    this.queue.push(ack)
    return ack
  }

  get waiting(): number {
    return this.queue.length
  }

  /** Called by a PendingAck when it settles. */
  release(): void {
    while (this.queue.length > 0 && this.queue[0]!.settled) {
      const head = this.queue.shift()!
      if (!head.error) this.onAcknowledged()
      head.done(head.error ?? null)
    }
  }
}

/** One packet waiting for its commit: an object rather than closures, as there is one per message. */
class PendingAck implements Acknowledgement {
  settled = false
  error: Error | undefined

  constructor(
    private readonly sequencer: AckSequencer,
    readonly done: (err?: Error | null) => void,
  ) {}

  settle(err?: Error): void {
    if (this.settled) return
    this.settled = true
    this.error = err
    this.sequencer.release()
  }
}

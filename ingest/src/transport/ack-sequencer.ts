import type { Acknowledgement, DeliveryStatus } from '@gridline/core'

/**
 * Holds every client's acknowledgements while the pipeline is congested.
 * aedes reads a connection's next packets only once all packets of its last
 * read are acknowledged, so holding acknowledgements, even of messages
 * already committed, stops reading from every socket: the global backpressure.
 */
export class AckGate {
  holding = false
  private readonly waiting = new Set<AckSequencer>()

  /** A sequencer with acknowledgements ready to go asks to be released when the gate opens. */
  wait(sequencer: AckSequencer): void {
    this.waiting.add(sequencer)
  }

  close(): void {
    this.holding = true
  }

  open(): void {
    this.holding = false
    const ready = [...this.waiting]
    this.waiting.clear()
    for (const sequencer of ready) sequencer.release()
  }
}

/**
 * Releases one client's acknowledgements in the order its PUBLISH packets
 * arrived, whatever order their batches commit in: "It MUST send PUBACK
 * packets in the order in which the corresponding PUBLISH packets were
 * received (QoS 1 messages)" [MQTT-4.6.0-2].
 */
export class AckSequencer {
  private readonly queue: PendingAck[] = []

  /** `onAcknowledged` runs just before each successful release (metrics, socket corking). */
  constructor(
    private readonly onAcknowledged: () => void = () => undefined,
    private readonly gate: AckGate | null = null,
  ) {}

  /** Registers the next packet's broker callback; settling the returned acknowledgement releases it in order. */
  enqueue(done: (err?: Error | null) => void): Acknowledgement {
    const ack = new PendingAck(this, done)
    this.queue.push(ack)
    return ack
  }

  get waiting(): number {
    return this.queue.length
  }

  /** Called by a PendingAck when it settles, and by the gate when it opens. */
  release(): void {
    if (this.gate?.holding) {
      if (this.queue[0]?.settled) this.gate.wait(this)
      return
    }
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

  settle(status: DeliveryStatus = 'delivered', reason?: Error): void {
    if (this.settled) return
    this.settled = true
    // Only a message that may succeed later goes unacknowledged (the client resends it).
    if (status === 'errored') this.error = reason ?? new Error('the message was not stored')
    this.sequencer.release()
  }
}

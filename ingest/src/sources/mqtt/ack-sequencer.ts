/**
 * Releases one client's acknowledgements in the order its PUBLISH packets
 * arrived, whatever order their batches commit in: "It MUST send PUBACK
 * packets in the order in which the corresponding PUBLISH packets were
 * received (QoS 1 messages)" [MQTT-4.6.0-2].
 */
export class AckSequencer {
  private readonly queue: { done: (err?: Error | null) => void; settled: boolean; error: Error | undefined }[] = []

  /** Registers the next packet's callback; returns the function that settles it. */
  enqueue(done: (err?: Error | null) => void): (err?: Error) => void {
    const entry = { done, settled: false, error: undefined as Error | undefined }
    this.queue.push(entry)
    return (err?: Error) => {
      if (entry.settled) return
      entry.settled = true
      entry.error = err
      this.release()
    }
  }

  get waiting(): number {
    return this.queue.length
  }

  private release(): void {
    while (this.queue.length > 0 && this.queue[0]!.settled) {
      const head = this.queue.shift()!
      head.done(head.error ?? null)
    }
  }
}

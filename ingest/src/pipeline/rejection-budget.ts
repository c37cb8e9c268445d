/**
 * How many rejected messages each sender (device, or client when the device
 * is unknown) may add to the `rejected` table: a token bucket per sender,
 * `perSecond` refilled up to `burst`. Over it, a message's refusals are
 * counted (by reason) but not kept one by one, and the sender's next kept
 * row says how many were not: one misbehaving device cannot fill the table,
 * the disk or the write path for everyone else.
 */
export class RejectionBudget {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxSenders = 100_000,
  ) {}

  /**
   * Takes one token for `sender` at `now` (epoch ms). Returns -1 when over
   * budget (do not keep the row), else how many rows were not kept since its
   * last kept one (usually 0).
   */
  take(sender: string, now: number): number {
    if (this.perSecond === 0) return 0
    let bucket = this.buckets.get(sender)
    if (!bucket) {
      if (this.buckets.size >= this.maxSenders) this.prune(now)
      bucket = { tokens: this.burst, at: now, unkept: 0 }
      this.buckets.set(sender, bucket)
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond)
      bucket.at = now
    }
    if (bucket.tokens < 1) {
      bucket.unkept++
      return -1
    }
    bucket.tokens--
    const unkept = bucket.unkept
    bucket.unkept = 0
    return unkept
  }

  /** Forgets senders whose bucket is full again and owes no note (the only state they had). */
  private prune(now: number): void {
    for (const [sender, b] of this.buckets) {
      if (b.unkept === 0 && b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(sender)
    }
  }
}

interface Bucket {
  tokens: number
  at: number
  unkept: number
}

/**
 * Capped exponential backoff with full jitter: a random wait between
 * `minMs` and min(maxMs, minMs * 2^attempt), so gateways that lost the
 * same ingest service do not all come back in the same instant.
 */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return minMs + random() * Math.max(0, ceiling - minMs)
}

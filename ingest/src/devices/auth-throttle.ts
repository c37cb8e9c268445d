import { isIPv6 } from 'node:net'

/** Which count refused an attempt (the `scope` label of gridline_ingest_auth_throttled_total). */
export type ThrottleScope = 'device_address' | 'address' | 'device'

export interface ThrottleLimits {
  /** Failures allowed before the delay starts. */
  freeFailures: number
  /** Longest delay between two checked attempts once the delay started. */
  maxDelayMs: number
}

export interface AuthThrottleOptions {
  /** One device id from one address: a device with a wrong password, or a guesser. */
  deviceAddress: ThrottleLimits
  /** Every id from one address: spraying ids and passwords. */
  address: ThrottleLimits
  /**
   * One device id from every address that has not logged in as it before
   * (a distributed guess). Addresses the device logged in from are exempt, so
   * a stranger flooding the id cannot lock the device out.
   */
  device: ThrottleLimits
  /** First delay once the free failures are used up; it doubles with each further failure up to maxDelayMs. */
  baseDelayMs: number
  /** A count is forgotten after this long without a failure. */
  forgetAfterMs: number
  /** How long a successful login exempts its (id, address) from the address and device counts. */
  trustedForMs: number
  /** Most entries kept per map; the oldest go first (an attacker cannot grow memory without bound). */
  maxEntries: number
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = {
  deviceAddress: { freeFailures: 5, maxDelayMs: 60_000 },
  address: { freeFailures: 20, maxDelayMs: 60_000 },
  device: { freeFailures: 20, maxDelayMs: 30_000 },
  baseDelayMs: 1_000,
  forgetAfterMs: 15 * 60_000,
  trustedForMs: 7 * 24 * 3_600_000,
  maxEntries: 100_000,
}

interface Count {
  failures: number
  lastFailureAt: number
  /** No attempt under this count is checked before this time. */
  blockedUntil: number
}

/** `wide`: the attempt was also counted per address and per device (its pair was not trusted). */
export type ThrottleVerdict = { allowed: true; wide: boolean } | { allowed: false; scope: ThrottleScope; retryInMs: number }

/**
 * Throttles MQTT password guessing (docs/protocol.md#connecting). Failures
 * are counted per (device id, address), per address and per device id; once
 * a count has used its free failures, each further failure blocks that count
 * for a delay that doubles up to a cap. An attempt that arrives while one of
 * its counts is blocked is refused without checking the password, so it
 * costs neither a scrypt run nor a guess; it does not extend the block.
 * An admitted attempt is counted as a failure of its (id, address) before
 * its check runs, and cleared if it succeeds: concurrent guesses at one id
 * cannot all slip through while the first ones are still being checked. The
 * address and device counts take a failure once its check failed, so a
 * burst of logins of different devices from one address is never refused
 * for being in flight (at most mqtt.maxPendingConnectionsPerAddress such
 * checks run at once).
 *
 * A successful login trusts its (id, address): from there only the
 * (id, address) count applies, so neither a stranger spraying from the same
 * NAT address nor one flooding the id from elsewhere locks the device out.
 * Unknown ids are counted exactly like known ones (nothing to enumerate).
 */
export class AuthThrottle {
  private readonly pairs = new Map<string, Count>()
  private readonly addresses = new Map<string, Count>()
  private readonly devices = new Map<string, Count>()
  /** `${id}\n${address}` -> time of the last successful login. */
  private readonly trusted = new Map<string, number>()

  constructor(
    private readonly options: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * May a password for `deviceId` from `address` be checked now? When it
   * may, the attempt is counted as a failure at once; call `success` with
   * the verdict if the check passes.
   */
  admit(deviceId: string, address: string): ThrottleVerdict {
    const now = this.now()
    const key = addressKey(address)
    const pair = pairKey(deviceId, key)
    const blocked = (map: Map<string, Count>, k: string, scope: ThrottleScope): ThrottleVerdict | null => {
      const count = this.live(map, k, now)
      return count && count.blockedUntil > now ? { allowed: false, scope, retryInMs: count.blockedUntil - now } : null
    }
    const trusted = this.isTrusted(pair, now)
    const verdict = blocked(this.pairs, pair, 'device_address')
      ?? (trusted ? null : blocked(this.addresses, key, 'address') ?? blocked(this.devices, deviceId, 'device'))
    if (verdict) return verdict
    this.fail(this.pairs, pair, this.options.deviceAddress, now)
    return { allowed: true, wide: !trusted }
  }

  /**
   * The admitted attempt failed. Its (id, address) failure was counted at
   * admission already; the address and device counts take it now. (Counted
   * at admission, they would refuse a legitimate reconnect storm: hundreds of
   * devices behind one NAT address logging in at once after a restart.)
   */
  failure(deviceId: string, address: string, verdict: ThrottleVerdict): void {
    if (!verdict.allowed || !verdict.wide) return
    const now = this.now()
    this.fail(this.addresses, addressKey(address), this.options.address, now)
    this.fail(this.devices, deviceId, this.options.device, now)
  }

  /** The admitted attempt succeeded: its (id, address) count is cleared and the pair trusted. */
  success(deviceId: string, address: string): void {
    const key = addressKey(address)
    const pair = pairKey(deviceId, key)
    this.pairs.delete(pair)
    this.trusted.delete(pair)
    this.trusted.set(pair, this.now())
    this.bound(this.trusted)
  }

  /** Entries kept, for tests and the memory bound. */
  get size(): number {
    return this.pairs.size + this.addresses.size + this.devices.size + this.trusted.size
  }

  private isTrusted(pair: string, now: number): boolean {
    const at = this.trusted.get(pair)
    if (at === undefined) return false
    if (now - at <= this.options.trustedForMs) return true
    this.trusted.delete(pair)
    return false
  }

  private live(map: Map<string, Count>, key: string, now: number): Count | undefined {
    const count = map.get(key)
    if (count && now - count.lastFailureAt > this.options.forgetAfterMs && count.blockedUntil <= now) {
      map.delete(key)
      return undefined
    }
    return count
  }

  private fail(map: Map<string, Count>, key: string, limits: ThrottleLimits, now: number): void {
    const count = this.live(map, key, now) ?? { failures: 0, lastFailureAt: now, blockedUntil: 0 }
    count.failures++
    count.lastFailureAt = now
    const over = count.failures - limits.freeFailures
    if (over > 0) {
      // 2^over overflows to Infinity long after it passed the cap; min() keeps it finite.
      count.blockedUntil = now + Math.min(this.options.baseDelayMs * 2 ** (over - 1), limits.maxDelayMs)
    }
    // Re-inserted so that Map order is least recently failed first.
    map.delete(key)
    map.set(key, count)
    this.bound(map)
  }

  private bound(map: Map<string, unknown>): void {
    while (map.size > this.options.maxEntries) map.delete(map.keys().next().value!)
  }
}

function pairKey(deviceId: string, address: string): string {
  return `${deviceId}\n${address}`
}

/**
 * The address a throttle counts by: IPv4 as is (IPv4-mapped IPv6 unwrapped),
 * IPv6 by its /64, which one subscriber line usually gets whole.
 */
export function addressKey(address: string): string {
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7)
  if (!isIPv6(address)) return address
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

function expandIPv6(address: string): string[] {
  const withoutZone = address.split('%')[0]!
  const [head, tail] = withoutZone.split('::') as [string, string | undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const fill = tail === undefined ? [] : Array(Math.max(0, 8 - left.length - right.length)).fill('0')
  return [...left, ...fill, ...right].map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
}

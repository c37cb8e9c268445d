import { describe, expect, test } from 'vitest'
import { AuthThrottle, DEFAULT_AUTH_THROTTLE, addressKey } from './auth-throttle.ts'

function throttle(options = {}) {
  let now = 1_000_000
  const t = new AuthThrottle({ ...DEFAULT_AUTH_THROTTLE, ...options }, () => now)
  /** A wrong password: admitted (or not), and when admitted, failed. */
  const guess = (id: string, address: string) => {
    const verdict = t.admit(id, address)
    if (verdict.allowed) t.failure(id, address, verdict)
    return verdict
  }
  return { t, guess, advance: (ms: number) => { now += ms } }
}

describe('AuthThrottle', () => {
  test('5 free failures per (id, address), then a delay that doubles up to the cap', () => {
    const { t, guess, advance } = throttle()
    // Each admitted attempt counts as a failure until it succeeds: the sixth still gets through.
    for (let i = 0; i < 6; i++) expect(guess('aq-1', '10.0.0.1')).toEqual({ allowed: true, wide: true })
    const delays: number[] = []
    for (let i = 0; i < 9; i++) {
      const verdict = guess('aq-1', '10.0.0.1')
      expect(verdict).toMatchObject({ allowed: false, scope: 'device_address' })
      delays.push(verdict.allowed ? 0 : verdict.retryInMs)
      advance(delays.at(-1)!)
      expect(guess('aq-1', '10.0.0.1').allowed).toBe(true)
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
  })

  test('concurrent attempts are counted before their check: the seventh is refused while six are still being checked', () => {
    const { t, guess } = throttle()
    const verdicts = Array.from({ length: 20 }, () => t.admit('aq-1', '10.0.0.1'))
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(6)
  })

  test('a success takes its failure back, clears the pair and trusts it against the address and device counts', () => {
    const { t, guess } = throttle()
    t.admit('aq-1', '10.0.0.1')
    t.success('aq-1', '10.0.0.1')
    for (let i = 0; i < 30; i++) guess('aq-1', `10.0.1.${i}`)
    expect(t.admit('aq-1', '10.0.9.9')).toMatchObject({ allowed: false, scope: 'device' })
    expect(t.admit('aq-1', '10.0.0.1')).toEqual({ allowed: true, wide: false })
    for (let i = 0; i < 30; i++) guess(`spray-${i}`, '10.0.0.1')
    expect(t.admit('other', '10.0.0.1')).toMatchObject({ allowed: false, scope: 'address' })
    expect(t.admit('aq-1', '10.0.0.1').allowed).toBe(true)
    // Twenty devices logging in from one NAT address never throttle it.
    for (let i = 0; i < 40; i++) {
      t.admit(`nat-${i}`, '10.0.2.1')
      t.success(`nat-${i}`, '10.0.2.1')
    }
    expect(t.admit('nat-new', '10.0.2.1').allowed).toBe(true)
  })

  test('a reconnect storm of 500 devices from one address is admitted while their checks are in flight', () => {
    const { t } = throttle()
    const verdicts = Array.from({ length: 500 }, (_, i) => t.admit(`dev-${i}`, '10.0.3.1'))
    expect(verdicts.every((v) => v.allowed)).toBe(true)
    verdicts.forEach((_, i) => t.success(`dev-${i}`, '10.0.3.1'))
  })

  test('counts are forgotten after forgetAfterMs without failures, and memory is bounded', () => {
    const { t, guess, advance } = throttle({ maxEntries: 10 })
    for (let i = 0; i < 7; i++) guess('aq-1', '10.0.0.1')
    advance(DEFAULT_AUTH_THROTTLE.forgetAfterMs + 1)
    expect(t.admit('aq-1', '10.0.0.1').allowed).toBe(true)
    for (let i = 0; i < 1_000; i++) guess(`id-${i}`, `10.1.${i >> 8}.${i & 255}`)
    expect(t.size).toBeLessThanOrEqual(40)
  })

  test.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('addressKey(%s) = %s', (address, key) => {
    expect(addressKey(address)).toBe(key)
  })
})

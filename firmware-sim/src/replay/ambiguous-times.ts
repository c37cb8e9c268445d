/**
 * Local times that occur twice (clocks going back) are told apart by the order
 * of the file: of the repeats of one series' local time, the one recorded
 * earlier in time gets the earlier instant (still summer time), the other the
 * later one. In a file written newest first, that is the second in file order.
 */

/** +1 when most steps between consecutive times go forward, -1 when most go back (a file written newest first). */
export function fileDirection(times: readonly number[]): 1 | -1 {
  let balance = 0
  for (let i = 1; i < times.length; i++) balance += Math.sign(times[i]! - times[i - 1]!)
  return balance < 0 ? -1 : 1
}

export interface RepeatedTime {
  /** The series and its local time: rows with the same key are repeats of one another. */
  key: string
  /** The instants the local time can be, earliest first. */
  instants: readonly number[]
}

/**
 * Picks each repeat's instant, in file order. The chronologically first
 * occurrence of a key gets the earliest instant and every later one the latest
 * (a third occurrence is a duplicate of the second, sent as recorded).
 */
export function resolveRepeatedTimes(repeats: readonly RepeatedTime[], direction: 1 | -1): number[] {
  const total = new Map<string, number>()
  for (const r of repeats) total.set(r.key, (total.get(r.key) ?? 0) + 1)
  const seen = new Map<string, number>()
  return repeats.map((r) => {
    const inFileOrder = seen.get(r.key) ?? 0
    seen.set(r.key, inFileOrder + 1)
    const inTimeOrder = direction === 1 ? inFileOrder : total.get(r.key)! - 1 - inFileOrder
    return r.instants[Math.min(inTimeOrder, r.instants.length - 1)]!
  })
}

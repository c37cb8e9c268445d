import { expect, test } from 'vitest'
import { backoffDelayMs } from './backoff.ts'

test.each([
  [0, 0, 100], [0, 1, 100], [3, 1, 800], [10, 1, 5_000], [50, 1, 5_000], [3, 0.5, 450],
])('attempt %i with random %f waits %i ms (min 100, max 5000)', (attempt, random, expected) => {
  expect(backoffDelayMs(attempt, 100, 5_000, () => random)).toBe(expected)
})

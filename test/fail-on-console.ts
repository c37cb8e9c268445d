import { afterEach, beforeEach, vi } from 'vitest'

// A test that writes to the console unexpectedly fails (as zod's suite does):
// stray output hides real failures and usually means an unhandled path.
const methods = ['log', 'info', 'warn', 'error', 'debug'] as const

beforeEach(() => {
  for (const method of methods) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      throw new Error(`Unexpected console.${method} in a test: ${args.map(String).join(' ').slice(0, 500)}`)
    })
  }
})

afterEach(() => {
  vi.restoreAllMocks()
})

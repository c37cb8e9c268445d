import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { GridlineError } from '@gridline/core'
import { runSimCli } from './cli.ts'
import type { DeviceRegistration } from './credentials.ts'

// `--register` is composed by the caller (cli/src/register-devices.ts): the
// simulator depends only on the wire contract, never on the ingest service.

let out: string[]
let savedUrl: string | undefined

beforeEach(() => {
  out = []
  savedUrl = process.env.DATABASE_URL
  process.env.DATABASE_URL = 'postgres://nobody@127.0.0.1:1/none'
  const capture = (chunk: unknown) => (out.push(String(chunk)), true)
  vi.spyOn(process.stdout, 'write').mockImplementation(capture)
  vi.spyOn(process.stderr, 'write').mockImplementation(capture)
})

afterEach(() => {
  if (savedUrl === undefined) delete process.env.DATABASE_URL
  else process.env.DATABASE_URL = savedUrl
})

test('--register hands every device, with its new password, to the register function it is given', async () => {
  const calls: DeviceRegistration[][] = []
  const registerDevices = async (url: string, devices: DeviceRegistration[]) => {
    expect(url).toBe(process.env.DATABASE_URL)
    calls.push(devices)
    // Stop the run here: the test is about what registration receives.
    throw new GridlineError('GRIDLINE_DATABASE_UNREACHABLE', 'stop after registering')
  }
  const code = await runSimCli(['run', '--register', '--devices', '4'], { registerDevices })
  expect(code).toBe(1)
  expect(calls).toHaveLength(1)
  expect(calls[0]).toHaveLength(4)
  for (const d of calls[0]!) {
    expect(d.id).toMatch(/^sim-/)
    expect(d.domain).toBeTruthy()
    expect(d.password.length).toBeGreaterThanOrEqual(20)
  }
  expect(out.join('')).toContain('stop after registering [GRIDLINE_DATABASE_UNREACHABLE]')
})

test('--register without a register function is a usage error, not an import of the ingest service', async () => {
  const code = await runSimCli(['run', '--register', '--devices', '4'])
  expect(code).toBe(2)
  expect(out.join('')).toContain('--register needs the device registry: run it as gridline sim. [GRIDLINE_USAGE]')
})

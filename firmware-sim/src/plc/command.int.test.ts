import { afterAll, afterEach, beforeAll, beforeEach, expect, test, vi } from 'vitest'
import { waitFor } from '../../../test/support.ts'
import { runPlcCommand } from './command.ts'
import { captureOpcuaLogs, connectClient, readValue, temporaryPki } from './opcua-test-support.ts'

captureOpcuaLogs()

let pki: Awaited<ReturnType<typeof temporaryPki>>
let stdout = ''
let stderr = ''

beforeAll(async () => {
  pki = await temporaryPki()
})
afterAll(async () => {
  await pki?.remove()
})

beforeEach(() => {
  stdout = ''
  stderr = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true))
})
afterEach(() => {
  // The setup file restores every mock too; this makes the order explicit for these two.
  vi.mocked(process.stdout.write).mockRestore()
  vi.mocked(process.stderr.write).mockRestore()
})

test.each([
  [['--pumps', 'x'], /--pumps expects a number, got 'x'/],
  [['--interval', '1.5'], /--interval expects a whole number/],
  [['--user', 'secret-without-colon'], /--user expects NAME:PASSWORD/],
  [['--frobnicate'], /Unknown option '--frobnicate'/],
  [['--pumps', '12', '--port', '0', '--pki-dir', '/nonexistent-never-created'], /pumps must be an integer from 1 to 9/],
])('%j is refused with exit code 2 or 1 and a clear message', async (argv, message) => {
  const code = await runPlcCommand(argv)
  expect(code).toBeGreaterThan(0)
  expect(stderr).toMatch(message)
  expect(stderr).not.toContain('secret-without-colon')
})

test('--help prints the usage and exits 0', async () => {
  expect(await runPlcCommand(['--help'])).toBe(0)
  expect(stdout).toContain('gridline sim plc')
})

test('runs the simulator, prints its endpoint and stops on SIGINT', async () => {
  const running = runPlcCommand(['--port', '0', '--interval', '100', '--station', 'ps-07', '--pumps', '2', '--pki-dir', `${pki.dir}/server`])
  await waitFor(() => stdout.includes('listening at'), 20_000, 'the endpoint line')
  const endpointUrl = /listening at (\S+)/.exec(stdout)![1]!
  expect(endpointUrl).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+\/gridline$/)
  const client = await connectClient(endpointUrl, pki.dir)
  try {
    const value = await readValue(client.session, 'ns=1;s=ps-07.Pump2.Running')
    expect(value.statusCode.name).toBe('Good')
  } finally {
    await client.close()
  }
  process.emit('SIGINT', 'SIGINT')
  expect(await running).toBe(0)
  expect(stdout).toContain('Received SIGINT')
})

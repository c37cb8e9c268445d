import '@gridline/edge-agent/testing/quiet-opcua'
import { execFile as execFileCb } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type PumpStation, startPumpStation } from '@gridline/firmware-sim/plc'
import { temporaryDir } from '@gridline/edge-agent/testing'

const execFile = promisify(execFileCb)
const BIN = fileURLToPath(new URL('../bin/gridline.mjs', import.meta.url))
const EXAMPLES = fileURLToPath(new URL('../../edge-agent/examples/', import.meta.url))

let station: PumpStation
let data: Awaited<ReturnType<typeof temporaryDir>>

beforeAll(async () => {
  data = await temporaryDir()
  station = await startPumpStation({ port: 0, pkiDir: join(data.dir, 'plc-pki'), updateIntervalMs: 200, stationId: 'ps-09' })
})

afterAll(async () => {
  await station?.stop()
  await data?.remove()
})

describe('gridline edge', () => {
  test('browse lists the PLC variables with node ids and data types', async () => {
    const { stdout } = await execFile(process.execPath, [BIN, 'edge', 'browse', station.endpointUrl], { env: { ...process.env, TMPDIR: data.dir } })
    expect(stdout).toMatch(/ns=1;s=ps-09\.TankLevel\s+Double\s+ps-09\/TankLevel/)
    expect(stdout).toMatch(/ns=1;s=ps-09\.Pump1\.Running\s+Boolean/)
  })

  test('validate-config accepts a sample and reports every problem of a bad file by path', async () => {
    const ok = await execFile(process.execPath, [BIN, 'edge', 'validate-config', join(EXAMPLES, 'pump-station.yaml')])
    expect(ok.stdout).toContain('is valid: gateway gw-ps-01, 1 OPC-UA server(s) with 11 node(s), 1 MQTT source(s)')
    const bad = join(data.dir, 'bad.yaml')
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, 'gateway: { id: "no spaces allowed" }\ndataDir: /tmp/x\nuplink: { url: "http://x" }\n'))
    const failure = await execFile(process.execPath, [BIN, 'edge', 'validate-config', bad]).then(() => undefined, (err: { code: number; stderr: string }) => err)
    expect(failure?.code).toBe(1)
    expect(failure?.stderr).toContain('gateway.id:')
    expect(failure?.stderr).toContain('uplink.url:')
    expect(failure?.stderr).toContain('GRIDLINE_CONFIG_INVALID')
  })
})

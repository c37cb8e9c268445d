import { readFile } from 'node:fs/promises'
import {
  AttributeIds,
  BrowseDirection,
  ClientMonitoredItem,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  NodeClass,
  type Variant,
  constructEventFilter,
  StatusCodes,
  TimestampsToReturn,
  type ClientSession,
} from 'node-opcua'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { waitFor } from '../../../test/support.ts'
import { type TestClient, captureOpcuaLogs, connectClient, readValue, readValues, temporaryPki } from './opcua-test-support.ts'
import { type PumpStation, startPumpStation } from './pump-station.ts'

captureOpcuaLogs()

const operator = { username: 'operator', password: 'correct horse battery staple' }
let pki: Awaited<ReturnType<typeof temporaryPki>>
let station: PumpStation
let anonymous: TestClient
const clients: TestClient[] = []

beforeAll(async () => {
  pki = await temporaryPki()
  station = await startPumpStation({ pkiDir: `${pki.dir}/server`, updateIntervalMs: 50, seed: 42, users: [operator], extraVariables: 20 })
  anonymous = await connectClient(station.endpointUrl, pki.dir)
  clients.push(anonymous)
})

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined)
  await station?.stop()
  await pki?.remove()
})

const HAS_PROPERTY = 46 // i=46 [OPC UA Part 3 7.8]

async function browseVariables(session: ClientSession, nodeId: string, found: Set<string>): Promise<void> {
  const result = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, resultMask: 63 })
  for (const reference of result.references ?? []) {
    const child = reference.nodeId.toString()
    // The station's own nodes only; EURange and EngineeringUnits are properties of analog items.
    if (!child.startsWith('ns=1;s=') || reference.referenceTypeId.value === HAS_PROPERTY) continue
    // Alarms & Conditions objects carry many standard members; they have a test of their own.
    if (/\.Alarms\.(\w+Alarm|NormalState)/.test(child)) continue
    if (reference.nodeClass === NodeClass.Variable) found.add(child)
    await browseVariables(session, child, found)
  }
}

describe('pump station address space', () => {
  test('browsing from the station object finds every documented node', async () => {
    const found = new Set<string>()
    await browseVariables(anonymous.session, 'ns=1;s=ps-01', found)
    expect([...found].sort()).toEqual(Object.values(station.nodeIds).sort())
    expect(station.nodeIds['pump1.running']).toBe('ns=1;s=ps-01.Pump1.Running')
    expect(station.nodeIds['load.v0019']).toBe('ns=1;s=ps-01.Load.V0019')
  })

  test('docs/plc-simulator.md lists every station node id', async () => {
    const doc = await readFile(new URL('../../../docs/plc-simulator.md', import.meta.url), 'utf8')
    const missing = Object.entries(station.nodeIds)
      .filter(([name]) => !name.startsWith('load.'))
      .map(([, nodeId]) => nodeId.replace(/Pump\d/, 'Pump<N>'))
      .filter((nodeId) => !doc.includes(`\`${nodeId}\``))
    expect(missing).toEqual([])
  })

  test('every value reads Good with a source timestamp, with the documented data types', async () => {
    const entries = Object.entries(station.nodeIds)
    const values = await readValues(anonymous.session, entries.map(([, id]) => id))
    for (const [i, [name]] of entries.entries()) {
      const value = values[i]!
      expect(value.statusCode.name, name).toBe('Good')
      expect(value.sourceTimestamp, name).toBeInstanceOf(Date)
      const expected = /running|command|auto|alarms\./.test(name) ? DataType.Boolean : DataType.Double
      expect(value.value.dataType, name).toBe(expected)
    }
  })

  test('values change on their own', async () => {
    const ids = [station.nodeIds.inflow!, station.nodeIds.dischargePressure!, station.nodeIds['load.v0000']!]
    const first = (await readValues(anonymous.session, ids)).map((v) => v.value.value as number)
    await waitFor(async () => {
      const now = (await readValues(anonymous.session, ids)).map((v) => v.value.value as number)
      return now.every((value, i) => value !== first[i])
    }, 5_000, 'inflow, pressure and a load variable to change')
    const later = await readValue(anonymous.session, station.nodeIds.inflow!)
    expect(later.sourceTimestamp!.getTime()).toBeGreaterThan(Date.now() - 5_000)
  })
})

describe('commands and faults', () => {
  test('writing Pump1.Command=false stops pump 1', async () => {
    await waitFor(async () => (await readValue(anonymous.session, station.nodeIds['pump1.running']!)).value.value === true, 5_000, 'pump 1 to run')
    const status = await anonymous.session.write({
      nodeId: station.nodeIds['pump1.command']!,
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Boolean, value: false } },
    })
    expect(status).toBe(StatusCodes.Good)
    await waitFor(async () => {
      const [running, current] = await readValues(anonymous.session, [station.nodeIds['pump1.running']!, station.nodeIds['pump1.current']!])
      return running!.value.value === false && current!.value.value === 0
    }, 5_000, 'pump 1 to stop')
    expect((await readValue(anonymous.session, station.nodeIds['pump1.auto']!)).value.value).toBe(false)
  })

  test('a setpoint outside the tank is refused with BadOutOfRange', async () => {
    const status = await anonymous.session.write({
      nodeId: station.nodeIds.tankLevelSetpoint!,
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Double, value: 42 } },
    })
    expect(status).toBe(StatusCodes.BadOutOfRange)
    expect((await readValue(anonymous.session, station.nodeIds.tankLevelSetpoint!)).value.value).toBe(3)
  })

  test('pipe_burst makes discharge pressure fall and outflow rise', async () => {
    await anonymous.session.write({
      nodeId: station.nodeIds['pump1.command']!,
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Boolean, value: true } },
    })
    const ids = [station.nodeIds.dischargePressure!, station.nodeIds.outflow!]
    // The drive ramps up to speed in a few seconds before the pump delivers.
    await waitFor(async () => ((await readValue(anonymous.session, ids[1]!)).value.value as number) > 50, 10_000, 'outflow')
    const [pressureBefore, outflowBefore] = (await readValues(anonymous.session, ids)).map((v) => v.value.value as number)
    station.setFault('pipe_burst')
    try {
      await waitFor(async () => {
        const [pressure, outflow] = (await readValues(anonymous.session, ids)).map((v) => v.value.value as number)
        return pressure! < pressureBefore! - 0.5 && outflow! > outflowBefore! + 20
      }, 5_000, 'pressure to fall and outflow to rise')
      await waitFor(async () => (await readValue(anonymous.session, station.nodeIds['alarms.lowPressure']!)).value.value === true, 5_000, 'the low pressure alarm')
    } finally {
      station.setFault(null)
    }
  })

  test('pump_trip stops the pump, reads its current as Bad and raises the alarm', async () => {
    station.setFault('pump_trip', 1)
    try {
      await waitFor(async () => {
        const [running, current, alarm] = await readValues(anonymous.session, [
          station.nodeIds['pump1.running']!,
          station.nodeIds['pump1.current']!,
          station.nodeIds['alarms.pumpTrip']!,
        ])
        return running!.value.value === false && current!.statusCode.isNotGood() && current!.statusCode.name === 'BadDeviceFailure' && alarm!.value.value === true
      }, 5_000, 'the trip to show')
    } finally {
      station.setFault(null)
    }
    await waitFor(async () => (await readValue(anonymous.session, station.nodeIds['pump1.current']!)).statusCode.name === 'Good', 5_000, 'current to read Good after the reset')
  })
})

describe('alarms and conditions', () => {
  test('a pump trip raises an active PumpTripAlarm event on the Server object', async () => {
    const subscription = ClientSubscription.create(anonymous.session, {
      requestedPublishingInterval: 100,
      requestedLifetimeCount: 100,
      requestedMaxKeepAliveCount: 10,
      publishingEnabled: true,
    })
    const events: { sourceName: unknown; conditionName: unknown; active: unknown }[] = []
    const item = ClientMonitoredItem.create(
      subscription,
      { nodeId: 'i=2253', attributeId: AttributeIds.EventNotifier },
      { samplingInterval: 0, queueSize: 100, discardOldest: true, filter: constructEventFilter(['SourceName', 'ConditionName', 'ActiveState.Id']) },
      TimestampsToReturn.Both,
    )
    item.on('changed', (fields: unknown) => {
      const [sourceName, conditionName, active] = (fields as Variant[]).map((field) => field.value)
      events.push({ sourceName, conditionName, active })
    })
    try {
      await new Promise<void>((resolve) => item.once('initialized', () => resolve()))
      station.setFault('pump_trip', 2)
      await waitFor(() => events.some((e) => e.conditionName === 'PumpTripAlarm' && e.active === true), 5_000, 'an active PumpTripAlarm event')
      expect(events.find((e) => e.conditionName === 'PumpTripAlarm')!.sourceName).toBe('ps-01')
    } finally {
      station.setFault(null)
      await subscription.terminate().catch(() => undefined)
    }
  })
})

describe('security', () => {
  test('SignAndEncrypt with username and password reads values', async () => {
    const secure = await connectClient(station.endpointUrl, pki.dir, { secure: true, user: { userName: operator.username, password: operator.password } })
    clients.push(secure)
    expect(secure.client.securityMode).toBe(MessageSecurityMode.SignAndEncrypt)
    const level = await readValue(secure.session, station.nodeIds.tankLevel!)
    expect(level.statusCode.name).toBe('Good')
    expect(typeof level.value.value).toBe('number')
  })

  test('a wrong password is refused', async () => {
    await expect(
      connectClient(station.endpointUrl, pki.dir, { secure: true, user: { userName: operator.username, password: 'wrong' } }),
    ).rejects.toThrow(/BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/)
  })
})

describe('restart', () => {
  test('a subscription made before restart() receives values again after it; endpoint and node ids stay the same', async () => {
    const watcher = await connectClient(station.endpointUrl, pki.dir)
    clients.push(watcher)
    const subscription = ClientSubscription.create(watcher.session, {
      requestedPublishingInterval: 100,
      requestedLifetimeCount: 100,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 100,
      publishingEnabled: true,
      priority: 1,
    })
    const item = ClientMonitoredItem.create(
      subscription,
      { nodeId: station.nodeIds.inflow!, attributeId: AttributeIds.Value },
      { samplingInterval: 50, discardOldest: true, queueSize: 10 },
      TimestampsToReturn.Both,
    )
    let received = 0
    item.on('changed', () => void received++)
    await waitFor(() => received >= 3, 10_000, 'notifications before the restart')

    const endpointBefore = station.endpointUrl
    const nodeIdsBefore = { ...station.nodeIds }
    for (let round = 0; round < 2; round++) {
      await station.restart(300)
      const afterRestart = received
      await waitFor(() => received >= afterRestart + 3, 20_000, `notifications after restart ${round + 1}`)
    }
    expect(station.endpointUrl).toBe(endpointBefore)
    expect(station.nodeIds).toEqual(nodeIdsBefore)
    await subscription.terminate().catch(() => undefined)
  })
})

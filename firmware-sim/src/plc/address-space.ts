import {
  DataType,
  StatusCodes,
  Variant,
  standardUnits,
  makeEUInformation,
  type EUInformation,
  type Namespace,
  type OPCUAServer,
  type StatusCode,
  type UAObject,
  type UAVariable,
} from 'node-opcua'
import { addOffNormalAlarms } from './alarm-conditions.ts'
import { type PlcVariable, loadVariablePath, plcNodeId, stationObjects, stationVariables } from './catalogue.ts'
import type { StationModel, StationSnapshot } from './station-model.ts'

const UNITS: Record<NonNullable<PlcVariable['unit']>, EUInformation> = {
  m: standardUnits.metre,
  'm3/h': standardUnits.cubic_metre_per_hour,
  bar: standardUnits.bar,
  '%': standardUnits.percent,
  A: standardUnits.ampere,
  // UNECE code HUR [OPC UA Part 8 5.6.3]: unitId packs the code's three ASCII letters.
  h: Object.assign(makeEUInformation('h', 'h', 'hour'), { unitId: 0x485552 }),
}

/** The station's nodes in one server's address space; rebuilt on every server start. */
export interface StationAddressSpace {
  /** Pushes one update to every read-only variable; called once per simulation step. */
  publish(snapshot: StationSnapshot, loadValues: Float64Array, sourceTimestamp: Date): void
}

export interface StationAddressSpaceOptions {
  stationId: string
  pumps: number
  extraVariables: number
  model: StationModel
}

/**
 * Adds the station below the Objects folder. Read-only variables get their values pushed
 * with setValueFromSource, so monitored items are notified on change; writable ones are
 * bound to the model with get/set, so a write reaches the controller at once.
 */
export function buildStationAddressSpace(server: OPCUAServer, options: StationAddressSpaceOptions): StationAddressSpace {
  const addressSpace = server.engine.addressSpace
  if (!addressSpace) throw new Error('The OPC UA server has no address space yet; build the station after server.initialize().')
  const namespace = addressSpace.getOwnNamespace()
  const { stationId, model } = options

  const objects = new Map<string, UAObject>()
  for (const path of stationObjects(options.pumps, options.extraVariables)) {
    const browseName = path === '' ? stationId : path.split('.').at(-1)!
    const parent = path === '' ? undefined : objects.get(parentPath(path))
    objects.set(
      path,
      namespace.addObject({
        browseName,
        displayName: browseName,
        nodeId: ownNodeId(stationId, path),
        ...(parent ? { componentOf: parent } : { organizedBy: addressSpace.rootFolder.objects, eventNotifier: 1 /* SubscribeToEvents */ }),
        description: describeObject(path, stationId),
      }),
    )
  }

  const pushed: { variable: UAVariable; source: PlcVariable }[] = []
  for (const source of stationVariables(options.pumps)) {
    const parent = objects.get(parentPath(source.path))!
    if (source.access === 'readwrite') {
      addVariable(namespace, parent, stationId, source, {
        get: () => toVariant(source, source.read(model.snapshot()).value),
        set: (variant: Variant) => writeSetpoint(model, source, variant),
      })
    } else {
      pushed.push({ variable: addVariable(namespace, parent, stationId, source), source })
    }
  }

  const alarmVariables = new Map(
    pushed.filter(({ source }) => source.path.startsWith('Alarms.')).map(({ variable, source }) => [source.path.slice('Alarms.'.length), variable]),
  )
  addOffNormalAlarms(namespace, objects.get('')!, objects.get('Alarms')!, alarmVariables, `s=${stationId}`)

  const loadParent = objects.get('Load')
  const loadVariables: UAVariable[] = []
  for (let i = 0; i < options.extraVariables; i++) {
    const path = loadVariablePath(i, options.extraVariables)
    loadVariables.push(
      namespace.addVariable({
        componentOf: loadParent!,
        browseName: path.slice('Load.'.length),
        nodeId: ownNodeId(stationId, path),
        dataType: 'Double',
        minimumSamplingInterval: 0,
        value: { dataType: DataType.Double, value: 0 },
      }),
    )
  }

  return {
    publish(snapshot, loadValues, sourceTimestamp) {
      for (const { variable, source } of pushed) {
        const reading = source.read(snapshot)
        variable.setValueFromSource(toVariant(source, reading.value), StatusCodes[reading.status], sourceTimestamp)
      }
      for (let i = 0; i < loadVariables.length; i++) {
        loadVariables[i]!.setValueFromSource({ dataType: DataType.Double, value: loadValues[i]! }, StatusCodes.Good, sourceTimestamp)
      }
    },
  }
}

function addVariable(
  namespace: Namespace,
  parent: UAObject,
  stationId: string,
  source: PlcVariable,
  binding?: { get: () => Variant; set: (variant: Variant) => StatusCode },
): UAVariable {
  const common = {
    componentOf: parent,
    browseName: source.path.split('.').at(-1)!,
    nodeId: ownNodeId(stationId, source.path),
    description: source.description,
    // 0: exception-based; a monitored item asking for 0 hears of every change [OPC UA Part 4 5.12.1.2].
    minimumSamplingInterval: binding ? 100 : 0,
    accessLevel: binding ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    userAccessLevel: binding ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    ...(binding ? { value: binding } : {}),
  } as const
  if (source.dataType === 'Double' && source.unit) {
    return namespace.addAnalogDataItem({
      ...common,
      dataType: 'Double',
      engineeringUnits: UNITS[source.unit],
      engineeringUnitsRange: source.range ?? { low: 0, high: 1_000_000 },
    })
  }
  return namespace.addVariable({ ...common, dataType: source.dataType })
}

function toVariant(source: PlcVariable, value: number | boolean): Variant {
  return new Variant({ dataType: source.dataType === 'Boolean' ? DataType.Boolean : DataType.Double, value })
}

/** Applies a client's write to the model; a bad value is refused with a status, never thrown. */
function writeSetpoint(model: StationModel, source: PlcVariable, variant: Variant): StatusCode {
  const expected = source.dataType === 'Boolean' ? DataType.Boolean : DataType.Double
  if (variant.dataType !== expected) return StatusCodes.BadTypeMismatch
  const pumpMatch = /^pump(\d+)\.(command|auto)$/.exec(source.name)
  try {
    if (pumpMatch) {
      const index = Number(pumpMatch[1])
      if (pumpMatch[2] === 'command') model.commandPump(index, variant.value as boolean)
      else model.setPumpAuto(index, variant.value as boolean)
    } else if (source.name === 'tankLevelSetpoint') {
      model.setLevelSetpoint(variant.value as number)
    } else {
      return StatusCodes.BadNotWritable
    }
  } catch (error) {
    if (error instanceof RangeError) return StatusCodes.BadOutOfRange
    throw error
  }
  return StatusCodes.Good
}

/** The node id without its namespace index, as node-opcua wants it for the own namespace. */
function ownNodeId(stationId: string, path: string): string {
  return plcNodeId(stationId, path).replace(/^ns=\d+;/, '')
}

function parentPath(path: string): string {
  const dot = path.lastIndexOf('.')
  return dot < 0 ? '' : path.slice(0, dot)
}

function describeObject(path: string, stationId: string): string {
  if (path === '') return `Water pumping station ${stationId} (gridline PLC simulator).`
  if (path === 'Alarms') return 'Station alarms, true while active.'
  if (path === 'Load') return 'Synthetic Double signals for load tests, all changing on every update.'
  return `${path.replace('Pump', 'Pump ')} with its drive.`
}

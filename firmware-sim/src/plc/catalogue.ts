import type { Reading, StationSnapshot } from './station-model.ts'

/** What a client may do with a variable. */
export type PlcVariableAccess = 'read' | 'readwrite'

/** One variable of the simulated PLC: its place in the address space and where its value comes from. */
export interface PlcVariable {
  /** Logical name used as the key of `PumpStation.nodeIds`, e.g. `pump1.running`. */
  name: string
  /** Browse path below the station object, dot-separated, e.g. `Pump1.Running`. */
  path: string
  dataType: 'Boolean' | 'Double'
  /** Engineering unit, or undefined for Booleans. */
  unit?: 'm' | 'm3/h' | 'bar' | '%' | 'A' | 'h'
  /** Lower and upper end of the instrument range (published as EURange). */
  range?: { low: number; high: number }
  description: string
  access: PlcVariableAccess
  read(snapshot: StationSnapshot): Reading
}

/** Namespace index of the simulator's own namespace [OPC UA Part 3 8.2.2]; node-opcua gives it 1. */
export const PLC_NAMESPACE_INDEX = 1

/** Station ids become part of string node ids, where a dot separates path segments. */
export const STATION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

/** The string node id of a path below a station: `ns=1;s=<station>.<path>`. */
export function plcNodeId(stationId: string, path: string): string {
  return `ns=${PLC_NAMESPACE_INDEX};s=${path ? `${stationId}.${path}` : stationId}`
}

/** The objects that group variables, as paths below the station (the station itself is ''). */
export function stationObjects(pumps: number, extraVariables: number): string[] {
  const objects = ['', 'Alarms', ...Array.from({ length: pumps }, (_, i) => `Pump${i + 1}`)]
  if (extraVariables > 0) objects.push('Load')
  return objects
}

const alarm = (path: string, name: string, description: string, pick: (a: StationSnapshot['alarms']) => boolean): PlcVariable => ({
  name,
  path,
  dataType: 'Boolean',
  description,
  access: 'read',
  read: (s) => ({ value: pick(s.alarms), status: 'Good' }),
})

/** Every station variable for a station with `pumps` pumps, in address-space order. */
export function stationVariables(pumps: number): PlcVariable[] {
  const variables: PlcVariable[] = []
  for (let n = 1; n <= pumps; n++) {
    const pump = (s: StationSnapshot) => s.pumps[n - 1]!
    variables.push(
      { name: `pump${n}.running`, path: `Pump${n}.Running`, dataType: 'Boolean', description: `Pump ${n} is running (motor energised).`, access: 'read', read: (s) => pump(s).running },
      { name: `pump${n}.speed`, path: `Pump${n}.Speed`, dataType: 'Double', unit: '%', range: { low: 0, high: 100 }, description: `Pump ${n} drive speed, percent of rated speed (100 % = 1480 rpm). Uncertain (last usable value) while tripped.`, access: 'read', read: (s) => pump(s).speedPct },
      { name: `pump${n}.current`, path: `Pump${n}.Current`, dataType: 'Double', unit: 'A', range: { low: 0, high: 80 }, description: `Pump ${n} motor current. Bad (device failure) while tripped.`, access: 'read', read: (s) => pump(s).currentA },
      { name: `pump${n}.runHours`, path: `Pump${n}.RunHours`, dataType: 'Double', unit: 'h', description: `Pump ${n} total running hours.`, access: 'read', read: (s) => pump(s).runHours },
      { name: `pump${n}.command`, path: `Pump${n}.Command`, dataType: 'Boolean', description: `Pump ${n} run command. Writing true starts, false stops the pump and takes it out of automatic control.`, access: 'readwrite', read: (s) => pump(s).command },
      { name: `pump${n}.auto`, path: `Pump${n}.Auto`, dataType: 'Boolean', description: `Pump ${n} is under the station's level controller. Write true to hand it back after a manual command.`, access: 'readwrite', read: (s) => pump(s).auto },
    )
  }
  variables.push(
    { name: 'tankLevel', path: 'TankLevel', dataType: 'Double', unit: 'm', range: { low: 0, high: 6 }, description: 'Water level in the suction tank. Uncertain (engineering units exceeded) while the tank spills over.', access: 'read', read: (s) => s.tankLevelM },
    { name: 'tankLevelSetpoint', path: 'TankLevelSetpoint', dataType: 'Double', unit: 'm', range: { low: 0.5, high: 5.5 }, description: 'Level the controller holds; writable from 0.5 to 5.5 m.', access: 'readwrite', read: (s) => s.tankLevelSetpointM },
    { name: 'inflow', path: 'Inflow', dataType: 'Double', unit: 'm3/h', range: { low: 0, high: 1500 }, description: 'Supply into the tank from the treatment plant.', access: 'read', read: (s) => s.inflowM3h },
    { name: 'outflow', path: 'Outflow', dataType: 'Double', unit: 'm3/h', range: { low: 0, high: 600 }, description: 'Flow pumped into the network (all pumps together).', access: 'read', read: (s) => s.outflowM3h },
    { name: 'dischargePressure', path: 'DischargePressure', dataType: 'Double', unit: 'bar', range: { low: 0, high: 10 }, description: 'Pressure on the common discharge header.', access: 'read', read: (s) => s.dischargePressureBar },
    { name: 'suctionPressure', path: 'SuctionPressure', dataType: 'Double', unit: 'bar', range: { low: 0, high: 2 }, description: 'Pressure on the suction header (follows the tank level).', access: 'read', read: (s) => s.suctionPressureBar },
    alarm('Alarms.PumpTrip', 'alarms.pumpTrip', 'A pump has tripped (cleared by a fault reset).', (a) => a.pumpTrip),
    alarm('Alarms.TankHigh', 'alarms.tankHigh', 'Tank level above 5.2 m.', (a) => a.tankHigh),
    alarm('Alarms.TankLow', 'alarms.tankLow', 'Tank level below 0.8 m.', (a) => a.tankLow),
    alarm('Alarms.LowPressure', 'alarms.lowPressure', 'Discharge pressure below 2.0 bar while a pump runs.', (a) => a.lowPressure),
  )
  return variables
}

/** Path below the station of load variable `index` (0-based): `Load.V0000`. */
export function loadVariablePath(index: number, count: number): string {
  return `Load.V${String(index).padStart(Math.max(4, String(count - 1).length), '0')}`
}

/** Logical name -> node id for every variable of a station, load variables included. */
export function pumpStationNodeIds(stationId: string, pumps: number, extraVariables = 0): Record<string, string> {
  const ids: Record<string, string> = {}
  for (const variable of stationVariables(pumps)) ids[variable.name] = plcNodeId(stationId, variable.path)
  for (let i = 0; i < extraVariables; i++) {
    const path = loadVariablePath(i, extraVariables)
    ids[path.charAt(0).toLowerCase() + path.slice(1).replace('.V', '.v')] = plcNodeId(stationId, path)
  }
  return ids
}

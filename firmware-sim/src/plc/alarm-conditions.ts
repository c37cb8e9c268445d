import { DataType, type Namespace, type UAObject, type UAVariable } from 'node-opcua'

/**
 * Real OPC UA Alarms & Conditions [OPC UA Part 9 5.8.23]: one OffNormalAlarm per Boolean alarm
 * variable, active while the variable is true, raised as events on the station object.
 * The Boolean variables stay the simple way to read the same state.
 */
export function addOffNormalAlarms(namespace: Namespace, station: UAObject, alarmsObject: UAObject, alarms: Map<string, UAVariable>, nodeIdPrefix: string): void {
  const addressSpace = namespace.addressSpace
  addressSpace.installAlarmsAndConditionsService()
  // The Server object is the root of the event hierarchy [OPC UA Part 9 4.10]: with the station
  // as its event source, a client subscribed to Server events hears the station's alarms.
  addressSpace.rootFolder.objects.server.addReference({ referenceType: 'HasEventSource', isForward: true, nodeId: station.nodeId })
  const normalState = namespace.addVariable({
    componentOf: alarmsObject,
    browseName: 'NormalState',
    nodeId: `${nodeIdPrefix}.Alarms.NormalState`,
    description: 'The normal value of every alarm variable (false), referenced by the OffNormalAlarms.',
    dataType: 'Boolean',
    value: { dataType: DataType.Boolean, value: false },
  })
  for (const [name, input] of alarms) {
    const alarm = namespace.instantiateOffNormalAlarm({
      browseName: `${name}Alarm`,
      conditionName: `${name}Alarm`,
      nodeId: `${nodeIdPrefix}.Alarms.${name}Alarm`,
      componentOf: alarmsObject,
      conditionSource: station,
      inputNode: input,
      normalState,
    })
    // node-opcua fills SourceName with the namespace-qualified browse name ('1:ps-01'); clients expect the plain id.
    alarm.sourceName.setValueFromSource({ dataType: DataType.String, value: station.browseName.name ?? '' })
    alarm.setEnabledState(true)
  }
}

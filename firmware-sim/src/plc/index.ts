export { type PumpStation, type PumpStationFault, type PumpStationOptions, startPumpStation } from './pump-station.ts'
export { type PlcVariable, PLC_NAMESPACE_INDEX, plcNodeId, pumpStationNodeIds, stationVariables } from './catalogue.ts'
export { STATION_DESIGN, StationModel, type StationSnapshot } from './station-model.ts'
export { runPlcCommand } from './command.ts'

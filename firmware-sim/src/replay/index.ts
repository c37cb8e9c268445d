export { type LoadedDataset, ReplayCounts, loadDataset } from './dataset.ts'
export { type ReplayMapping, loadMapping } from './mapping.ts'
export { Replayer } from './replayer.ts'
export { type AirrohrArchive, type AirrohrReplayResult, airrohrRequest, loadAirrohrArchive, replayAirrohr } from './airrohr.ts'

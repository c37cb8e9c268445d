/**
 * The shapes of a run: its settings, and every scenario's result as it goes
 * into the JSON. Types only.
 */
import type { ProbeCrossing } from './alarm-probe.ts'
import type { ChildLog } from './ipc.ts'
import type { GeneratorSample, WindowResult } from './load-generator.ts'
import type { Histogram, RatePoint, Drift } from './series.ts'
import type { LatencySummary, Spread } from './stats.ts'
import type { TargetKind, TargetSample } from './target-process.ts'

/** The sizes of one run; `--quick` shrinks them. */
export interface BenchSettings {
  /** Rows loaded by copy-limit, and readings sent by ingest-batched: the same rows. */
  rows: number
  readingsPerBatchMessage: number
  batchedConnections: number
  batchedMaxInflight: number
  singleConnections: number
  singleMaxInflight: number
  loadProcesses: number
  warmupMs: number
  windowMs: number
  /** After a window, how long outstanding PUBACKs may take before they count as missing. */
  drainTimeoutMs: number
  /** Longest a fixed-count phase (ingest-batched) may run before it is reported incomplete. */
  countTimeoutMs: number
  /** Longest 200 connections may take to log in (each first login is a scrypt check in the service). */
  connectTimeoutMs: number
  sampleIntervalMs: number
  /** Overload levels, as multiples of the round's ingest-single rate. */
  overloadLevels: number[]
  /** Readings per message of the overload load; its 1x rate is measured closed loop with the same shape. */
  overloadReadingsPerMessage: number
  /** How long each overload level offers its load. */
  overloadOfferMs: number
  /** After the offered load, the longest wait for every PUBACK (or the connection's close). */
  overloadDrainTimeoutMs: number
  /** Lowest per-connection in-flight cap in overload (raised further when the rate needs it, so the cap never paces). */
  overloadMinInflight: number
  /** A load generator whose RSS passes this skips due messages instead of queueing more (counted). */
  overloadGeneratorMemoryBytes: number
  /** Rows per batch handed to the writer in `writer` and `pipeline` (the service's batches are about this size). */
  inProcessBatchRows: number
  /** QoS 0 messages per QoS 1 fence in `broker` (see WindowPhase.qos0PerFence), and fences in flight per connection. */
  qos0PerFence: number
  qos0FencesInflight: number
  /** Mosquitto for `broker` and `peers`: host 127.0.0.1, this port. */
  mosquittoPort: number
  /** The paced load the peers get (msg/s, all connections), their warm-up and their measured window. */
  peerRate: number
  peerConnections: number
  peerWarmupMs: number
  peerWindowMs: number
  /** `soak`: how long, at what share of the round's ingest-single rate, sampled how often. */
  soakMs: number
  soakLoadShare: number
  soakSampleMs: number
  /**
   * `alarm-latency`: background msg/s (all load processes); null: half the
   * round's ingest-single rate when it ran, else alarmFallbackRate.
   */
  alarmBackgroundRate: number | null
  alarmFallbackRate: number
  /** Crossing readings measured (raise and clear alternately), those sent first and not measured, and one every alarmIntervalMs. */
  alarmCrossings: number
  alarmWarmupCrossings: number
  /** Probe devices taking turns (one device's crossings are alarmProbeDevices x alarmIntervalMs apart). */
  alarmProbeDevices: number
  alarmIntervalMs: number
  /** After the last crossing, how long its alarm event and PUBACK may take before they count as missing. */
  alarmSettleTimeoutMs: number
  /** Open operator dashboards in the dashboards scenario (each an overview and a device page). */
  dashboards: number
  /** `map`: placed devices registered (behind one gateway, spread over Da Nang's districts) and timed navigations of the overview and of #/map each. */
  mapDevices: number
  mapLoads: number
  /** `map`: how long the camera pans and zooms while the page's frames are counted. */
  mapFpsMs: number
  /** `map`: readings a second (one a message, each the first of its device, so each turns a marker online) for mapLiveMs, capped at mapDevices readings; then up to mapSettleMs for the last map event. */
  mapLiveRate: number
  mapLiveMs: number
  mapSettleMs: number
  /** `map`: open map pages' streams beside ingest-batched (the hot path's ratio). */
  mapPages: number
  /** line-protocol: requests of httpLinesPerRequest lines each, over httpConnections, for httpDevices devices behind one gateway token. */
  httpRequests: number
  httpLinesPerRequest: number
  httpConnections: number
  httpDevices: number
  /** sensor-community: simulated sensors, each its own device and login, and the closed loop's requests in flight. */
  sensors: number
  sensorConcurrency: number
  /** `sparkplug`: edge nodes (one connection and one device each), DDATA messages per node, unacknowledged per connection. */
  sparkplugNodes: number
  sparkplugMessagesPerNode: number
  sparkplugMaxInflight: number
  /** `mqtt-client`: the gridline source's connections; the paced load offered into the private Mosquitto (msg/s); the kill -9 stream's rate and length. */
  mqttClientConnections: number
  mqttClientRate: number
  mqttClientKillRate: number
  mqttClientKillStreamMs: number
  /** `mqtt-client` context: messages published into gridline's sessions while it is stopped, then drained. */
  mqttClientBacklog: number
  /** `sta`: readings stored (loaded with COPY) over this many Datastreams, and timed requests of each query. */
  staReadings: number
  staDatastreams: number
  staRequests: number
}

export interface RunContext {
  adminUrl: string
  runId: string
  settings: BenchSettings
  log: ChildLog
  /** Reading i of every device is stamped baseTimeMs + i. */
  baseTimeMs: number
  /** The copy-limit rows, in COPY text format. */
  copyFile: string
  /** When set, every gridline service process writes a V8 CPU profile here (`--cpu-prof`). */
  cpuProfileDir: string | null
}

/**
 * A scenario run in one process (`writer`, `pipeline`, `pipeline-processors`):
 * rows through the stage per second of wall time, and the CPU it used.
 */
export interface InProcessResult {
  readings: number
  rows: number
  /** Rows in telemetry afterwards (counted in the database). */
  storedRows: number
  elapsedMs: number
  readingsPerSecond: number
  rowsPerSecond: number
  /** process.cpuUsage (user + system) of the bench process over the run, per reading. */
  cpuMicrosPerReading: number
  /** Same, for the part before the writer (decode, validate, process); NaN for `writer`. */
  cpuMicrosPerReadingBeforeWrite: number
  batches: number
  timeline: RatePoint[]
}

/** One broker under one load. */
export interface BrokerRun {
  broker: 'aedes' | 'mosquitto' | 'null-sink'
  qos: 0 | 1
  window: WindowSummary
}

export interface BrokerResult {
  qos1: { aedes: WindowSummary; mosquitto: WindowSummary; sink: WindowSummary }
  qos0: { aedes: WindowSummary; mosquitto: WindowSummary; sink: WindowSummary }
}

/** One "what a user would build" peer (or, in `mqtt-client`, gridline's mqtt_client source measured the same way). */
export interface PeerResult {
  peer: 'naive-subscriber' | 'node-red' | 'gridline'
  /** Messages per second the load generators published into Mosquitto (paced). */
  offeredPerSecond: number
  /** Rows the peer stored per second inside the window (counted in the database). */
  storedPerSecond: number
  storedInWindow: number
  windowMs: number
  /** Rows stored over the whole run (warm-up included) and the messages published. */
  storedTotal: number
  published: number
  /** CPU of the peer process (% of one core) over the window; NaN when unknown. */
  peerCpuPercent: number
  peerRssPeakBytes: number
  /** Problems the peer reported (insert errors, lost connection). */
  errors: number
  startupMs: number
  timeline: RatePoint[]
}

export interface PeersResult {
  naive: PeerResult
  nodeRed: PeerResult
}

/** `indicator-history`: the city indicators over a day of air-quality readings, without and with their values stored, side by side. */
export interface IndicatorHistoryResult {
  sensors: number
  readings: number
  /** Indicator values the day gives (hourly and daily VN_AQI and US AQI per sensor and per district). */
  values: number
  /** Values in indicator_values after the run with history (equal to `values` when nothing was lost). */
  stored: number
  without: { elapsedMs: number; cpuMicros: number; readingsPerSecond: number }
  with: { elapsedMs: number; cpuMicros: number; readingsPerSecond: number }
}

/** `pipeline-city`: pipeline without and with every processor on a city's day, the indicator history written. */
export interface PipelineCityResult {
  devices: number
  /** Event time the readings span. */
  hours: number
  /** Rows (one per metric value) the workload stores; a message holds one reading of 1-4 metrics. */
  rows: number
  without: InProcessResult
  with: InProcessResult
  /** with / without rows per second. */
  ratio: number
  /** Rows in indicator_values after the run with processors. */
  indicatorValues: number
  /** The indicators among them. */
  indicatorNames: string[]
}

/** `sta`: three SensorThings queries through the service over HTTP on N stored readings (bench/src/sta.ts). */
export interface StaResult {
  /** Readings loaded (psql \copy reported), and the Datastreams they are spread over. */
  readings: number
  datastreams: number
  /** Devices, COPY, sta_datastreams and ANALYZE. */
  loadMs: number
  /** Each query's path, requests timed (after one warm-up), entities in its top level, and latency. */
  queries: { name: string; path: string; requests: number; entities: number; p50Ms: number; p95Ms: number }[]
}

/** `sparkplug`: the same readings as Sparkplug B DDATA and as gridline JSON, on the same load. */
export interface SparkplugResult {
  nodes: number
  messagesPerNode: number
  readingsPerMessage: number
  sparkplug: BatchedResult
  json: BatchedResult
  /** sparkplug / json rows per second. */
  ratio: number
}

/** A kill -9 of a subscriber mid-stream and its restart: what was stored of what the broker took. */
export interface KillCheck {
  subscriber: 'gridline' | 'naive-subscriber'
  /** Messages the broker acknowledged to the publishers (1 reading, 1 row each). */
  published: number
  /** Rows stored at the kill, and at the end: count(*) and count(DISTINCT (device_id, metric, time)). */
  storedAtKill: number
  storedRows: number
  distinctRows: number
  duplicates: number
  lost: number
  /** From the kill until the restarted subscriber was back (its start-up). */
  downMs: number
  /** From the end of the stream until the count settled (every message stored, or no change for settleMs). */
  settleMs: number
}

/** gridline draining a backlog its sessions took while it was stopped: its rate without the load generators in the way. */
export interface BacklogDrain {
  published: number
  stored: number
  /** Rows per second from a tenth of the backlog stored to nine tenths; NaN if it did not get there. */
  storedPerSecond: number
}

/** `mqtt-client`: gridline's mqtt_client source against the naive subscriber on one private Mosquitto, and the kill -9 check of both. */
export interface MqttClientResult {
  connections: number
  gridline: PeerResult
  naive: PeerResult
  /** gridline / naive rows per second. */
  ratio: number
  backlog: BacklogDrain
  kill: { gridline: KillCheck; naive: KillCheck }
}

export interface SoakResult {
  durationMs: number
  /** Paced rate asked (msg/s) and the ingest-single rate it is a share of. */
  askedRate: number
  baseRate: number
  ackedPerSecond: number
  /** Acked msg/s per sample interval, and the service's RSS (MiB) at each sample. */
  throughput: RatePoint[]
  rssMiB: { atSeconds: number; value: number }[]
  throughputDrift: Drift
  rssDrift: Drift
  window: WindowSummary
}

/** A named figure over the rounds, as the report's summary lists it. */
export type { Spread }


/** What the target process did during a phase, from its periodic samples and its /metrics. */
export interface TargetObservation {
  samples: number
  /** Sample requests not answered within 10 s. */
  missedSamples: number
  rssStartBytes: number
  rssPeakBytes: number
  rssEndBytes: number
  /** JS heap in use at its highest: tells heap growth from native memory (scrypt, sockets) in the RSS. */
  heapUsedPeakBytes: number
  meanCpuPercent: number
  /** Slowest answer to a sample request, IPC included. */
  slowestSampleAnswerMs: number
  /** Event-loop delay of the target: the median of the per-sample p99s, and the longest delay seen. */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  peakPendingRows: number | null
  /** Selected counters from the service's /metrics at the end of the phase (gridline only). */
  metrics: Record<string, number> | null
  logWarnings: number
  logErrors: number
  firstComplaints: string[]
}

export interface CopyLimitResult {
  rows: number
  elapsedMs: number
  rowsPerSecond: number
}

export interface BatchedResult {
  target: TargetKind
  /** What the open dashboards received, when the run had them. */
  dashboards?: import('./dashboards.ts').DashboardStats
  readingsSent: number
  ackedMessages: number
  failedMessages: number
  /** Rows in telemetry after the last PUBACK (null for bare aedes, which stores nothing). */
  storedRows: number | null
  elapsedMs: number
  /** Stored rows (gridline) or acknowledged readings (bare aedes) per second. */
  readingsPerSecond: number
  complete: boolean
  disconnects: number
  /** CPU of each load generator process as a percentage of one core: near 100 means it may be the limit. */
  loadCpuPercent: number[]
  /** Busy share of the whole machine during the phase. */
  machineCpuPercent: number
  /** CPU per stored reading over the phase (gridline and bare aedes; null for others). */
  cpuPerReading: CpuPerReading | null
  /** gridline only: the pipeline's waits per batch over the phase. */
  stageWaits: StageWaits | null
  observed: TargetObservation
  /** Publish-to-PUBACK latency of every message, under the full closed-loop load. */
  latencyMs: LatencySummary | null
  latencyHistogram: Histogram | null
  /** Readings acknowledged per second over the phase. */
  timeline: RatePoint[]
}

/** CPU per stored reading (µs): the target process, and the local PostgreSQL server's processes (NaN when not counted). */
export interface CpuPerReading {
  serviceMicros: number
  postgresMicros: number
  totalMicros: number
}

/** One pipeline wait over a phase, per batch: p50 and p99 are the histogram bucket bounds that hold them. */
export interface StageWait {
  batches: number
  meanMs: number
  p50AtMostMs: number
  p99AtMostMs: number
}

/** Where a message waited before its acknowledgement (gridline only): see gridline_ingest_batch_*_seconds. */
export interface StageWaits {
  linger: StageWait
  queue: StageWait
  commit: StageWait
}

export type { LatencySummary } from './stats.ts'

/** Over the whole phase, warm-up and drain included (totalPublished is what the database must hold afterwards). */
type PhaseTotals = Pick<WindowResult, 'totalPublished' | 'totalAcked' | 'deferred' | 'unacked' | 'failedMessages' | 'disconnects'>

/** Who a phase ran against: a bench target process, or the machine's Mosquitto. */
export type PartyKind = TargetKind | 'mosquitto'

export interface WindowSummary extends PhaseTotals {
  target: PartyKind
  /** Target rate (messages/s) for paced phases; null for closed loop. */
  targetRate: number | null
  /** PUBACKs per second inside the window. */
  ackedPerSecond: number
  publishedPerSecond: number
  latencyMs: LatencySummary | null
  latencyHistogram: Histogram | null
  /** Messages acknowledged per second over the phase, warm-up included. */
  timeline: RatePoint[]
  /** The target's resident memory over the phase (MiB, seconds from the first sample). */
  rssMiB: { atSeconds: number; value: number }[]
  /** Rows in telemetry after the phase drained, against messages acknowledged (gridline only). */
  storedRows: number | null
  loadCpuPercent: number[]
  machineCpuPercent: number
  /** CPU per stored reading over the phase (gridline and bare aedes; null for others). */
  cpuPerReading: CpuPerReading | null
  /** gridline only: the pipeline's waits per batch over the phase. */
  stageWaits: StageWaits | null
  observed: TargetObservation
}

/** One /metrics scrape of the service during an overload level. */
export interface MetricsSample {
  atMs: number
  answeredInMs: number
  /** null when the scrape failed or timed out (5 s). */
  backpressure: number | null
  shedTotal: number | null
  pendingRows: number | null
  error?: string
}

/** One overload level (a multiple of the round's ingest-single rate) against the service. */
export interface OverloadLevel {
  /** Multiple of the round's ingest-single rate. */
  level: number
  /** Offered rate asked for, all load processes together (msg/s). */
  askedRate: number
  /** Messages actually published per second of offered-load time. */
  publishedPerSecond: number
  /** PUBACKs per second during the offered-load time. */
  ackedPerSecond: number
  /** PUBACKs per second from the start of the offered load to the last PUBACK (offered load and drain). */
  ackedPerSecondOverall: number
  /** Most messages published and not yet acknowledged, all load generators together: what the clients held while the service pushed back. */
  peakClientBacklog: number
  offerMs: number
  maxInflightPerConnection: number
  due: number
  published: number
  acked: number
  failedMessages: number
  deferredAtCap: number
  behind: number
  skippedMemoryGuard: number
  skippedClosed: number
  /** Every published message acknowledged, or on a closed connection, within the drain timeout. */
  drained: boolean
  /** End of the offered load to the last PUBACK (0 when none came after it); null when no PUBACK came at all. */
  drainMs: number | null
  unackedOpen: number
  unackedClosed: number
  connectionsClosed: number
  reopened: number
  disconnects: number
  /** Readings acknowledged (one per message). */
  ackedReadings: number
  /** Rows in telemetry for the readings published in this level (each device's timestamps of the level). */
  storedRows: number
  /** Acknowledged readings whose row is not in telemetry. */
  ackedMissing: number
  /** Stored but never acknowledged (committed, then the PUBACK was not received). */
  storedUnacked: number
  /** gridline_ingest_shed_total during the level. */
  shed: number
  backpressureSeen: boolean
  /** Service samples in which the backpressure gauge had been set to 1. */
  backpressureSamples: number
  /** Times the gauge went from 0 to 1 during the level. */
  backpressureRises: number
  metricsScrapesFailed: number
  metricsSlowestScrapeMs: number
  /** Peak RSS of the service in ingest-single (1x, closed loop) of the same round. */
  oneXRssPeakBytes: number
  loadCpuPercent: number[]
  loadPeakRssBytes: number[]
  machineCpuPercent: number
  observed: TargetObservation
  /** Raw samples: the service's (process, pending rows, backpressure), its /metrics, and each load generator's. */
  samples: {
    target: (TargetSample & { answeredInMs: number })[]
    metrics: MetricsSample[]
    generators: GeneratorSample[][]
  }
}

export interface OverloadResult {
  /** Readings per QoS 1 message of the overload load (settings.overloadReadingsPerMessage). */
  readingsPerMessage: number
  /** The 1x rate the levels multiply: closed-loop msg/s of that message shape on the same service and connections. */
  baseRate: number
  /** The service's ingest.maxPendingRows: the backpressure gauge rises at it (shedding has its own limit, ingest.shedAtPendingRows). */
  maxPendingRows: number | null
  oneXRssPeakBytes: number
  levels: OverloadLevel[]
}

/** `alarm-latency`: crossing readings from a probe device to their alarm events, under background load. */
export interface AlarmLatencyResult {
  ruleId: string
  /** Background load asked (msg/s, all load processes) and where the figure came from. */
  backgroundRate: number
  backgroundRateFrom: 'ingest-single' | 'fixed'
  background: WindowSummary
  intervalMs: number
  probeDevices: number
  warmupCrossings: number
  /** Measured crossings (warm-up left out), and those without their alarm event or PUBACK by the settle timeout. */
  crossings: number
  missingEvents: number
  missingPubacks: number
  failedPublishes: number
  /** Alarm events that matched no crossing (another subject or rule, or a second event for one crossing). */
  unexpectedEvents: number
  firstUnexpected: string[]
  /** Latest a crossing was published against its schedule (the probe's own lag). */
  publishLateMaxMs: number
  /** Publish of the crossing reading to receipt of its alarm event by the integration login, raise and clear together, then each alone. */
  eventLatencyMs: LatencySummary | null
  eventLatencyHistogram: Histogram | null
  raiseLatencyMs: LatencySummary | null
  clearLatencyMs: LatencySummary | null
  /** Publish of the same readings to their PUBACK (sent after the commit), for comparison. */
  pubackLatencyMs: LatencySummary | null
  /** The alarm engine's own counters at the end (evaluated, skipped by reason, transitions); null when they could not be read. */
  engine: AlarmEngineStats | null
  /** Every crossing, warm-up included. */
  samples: ProbeCrossing[]
}

/** The part of the alarm engine's stats() the report reads. */
export interface AlarmEngineStats {
  evaluated: number
  skipped: { backfill: number; quality: number; outOfOrder: number }
  transitions: { raised: number; cleared: number; acknowledged: number; flapping: number }
  active: number
}

/** One HTTP load: answers, rate and latency (from due or sent to the end of the answer). */
export interface HttpLoadSummary {
  requests: number
  /** 2xx answers. */
  ok: number
  statuses: Record<string, number>
  elapsedMs: number
  requestsPerSecond: number
  latencyMs: LatencySummary | null
  firstError: string | null
  /** Bodies sent again after 429/503 (line protocol, as Telegraf does). */
  retries: number
  loadCpuPercent: number
}

export interface LineProtocolResult {
  rowsSent: number
  linesPerRequest: number
  connections: number
  /** serverCpuMicrosPerRow: CPU of the gridline service, or of influxd, per stored row. */
  gridline: HttpLoadSummary & { storedRows: number; rowsPerSecond: number; serverCpuMicrosPerRow: number }
  influxdb: HttpLoadSummary & { storedRows: number; rowsPerSecond: number; serverCpuMicrosPerRow: number }
  /** gridline / InfluxDB rows per second. */
  ratioToInflux: number
}

export interface SensorCommunityResult {
  sensors: number
  loginRequests: number
  /** Closed loop: the maximum. */
  max: HttpLoadSummary
  halfRate: number
  /** Paced at half the maximum. */
  half: HttpLoadSummary
  storedRows: number
}

export interface InfluxSinkResult {
  off: BatchedResult
  on: BatchedResult
  /** on / off readings per second. */
  ratio: number
  /** Points InfluxDB held when it had caught up (or at the timeout). */
  sinkRows: number
  /** From the load's first publish to InfluxDB holding every stored row; NaN if it did not within countTimeoutMs. */
  caughtUpMs: number
  sinkRowsPerSecond: number
  /** influxd's own CPU per point it took, while the sink wrote (it shares the machine's cores with the service). */
  influxCpuMicrosPerRow: number
}

export interface RoundResult {
  round: number
  copyLimit?: CopyLimitResult
  writer?: InProcessResult
  pipeline?: InProcessResult
  pipelineProcessors?: InProcessResult
  broker?: BrokerResult
  /** The batched load against the do-nothing sink: the load generators' ceiling for ingest-batched. */
  batchedSink?: BatchedResult
  ingestBatched?: BatchedResult
  /** The single-message load against the do-nothing sink: the ceiling for ingest-single. */
  singleSink?: WindowSummary
  ingestSingle?: WindowSummary
  ackLatency?: WindowSummary
  /** The ack-latency's paced load against the do-nothing sink: what the load generators alone add. */
  sinkAckLatency?: WindowSummary
  peers?: PeersResult
  /** Open-loop load above ingest-single's rate on the service's connections, after ack-latency. */
  overload?: OverloadResult
  soak?: SoakResult
  alarmLatency?: AlarmLatencyResult
  indicatorHistory?: IndicatorHistoryResult
  pipelineCity?: PipelineCityResult
  dashboards?: DashboardsResult
  map?: MapResult
  lineProtocol?: LineProtocolResult
  sensorCommunity?: SensorCommunityResult
  influxSink?: InfluxSinkResult
  sparkplug?: SparkplugResult
  mqttClient?: MqttClientResult
  sta?: StaResult
}

/** ingest-batched side by side without and with open operator dashboards (live streams read throughout). */
export interface DashboardsResult {
  dashboards: number
  without: BatchedResult
  with: BatchedResult
  /** with / without rows per second. */
  ratio: number
}

/** The console map with many devices, in headless Chromium, against one service (bench/src/map.ts). */
export interface MapResult {
  /** Devices the scenario registered, and the devices GET /api/map had (more when an earlier scenario of the round placed some). */
  devices: number
  onMap: number
  /** GET /api/map once from the bench process: bytes of the body (uncompressed) and the time to read it whole. */
  snapshotBytes: number
  snapshotMs: number
  /** The WebGL renderer Chromium reported (SwiftShader: on the CPU). */
  renderer: string
  /** Navigation to every device drawn (the rendered clusters' counts plus unclustered markers add up to onMap), each navigation in turn, a new page each. */
  overviewLoadMs: number[]
  mapLoadMs: number[]
  /** Camera panning and zooming for mapFpsMs on #/map: the page's frames over the time, and each whole second's count (window.__mapFps). */
  fps: { frames: number; elapsedMs: number; fps: number; perSecond: number[] }
  live: MapLiveResult
  /** ingest-batched without and with mapPages open map streams, with the devices above registered; which goes first alternates by round. */
  mapPages: number
  without: BatchedResult
  with: BatchedResult
  ratio: number
}

export interface MapLiveResult {
  ratePerSecond: number
  publishMs: number
  /** Readings published (each a different device's first), and PUBACKs received for them. */
  published: number
  acked: number
  /** `map` events the page received in the window, and rows in them that turned a published device online. */
  events: number
  seen: number
  /** Published devices the page never got online in an event (a gap reload, or later than mapSettleMs). */
  missing: number
  /** Publish (just before mqtt.js took it) to the page's EventSource handing over the map event that has the device online (the page's model applies it in that task). */
  toPageMs: LatencySummary | null
  /** Publish to the page's next draw with that version (data-version set, counts shown, the map source's data replaced). */
  toDrawMs: LatencySummary | null
  /** Publish to the first frame MapLibre rendered once its source had loaded that draw's data (the marker on screen). */
  toFrameMs: LatencySummary | null
}

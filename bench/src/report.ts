import type { CpuInfo } from 'node:os'
import { MEMORY_BOUND_FACTOR, memoryBounded, nothingAckedLost } from './overload.ts'
import { PROCESS_STAGE_NAME } from './process-stage.ts'
import type { AlarmLatencyResult, BatchedResult, BenchSettings, CpuPerReading, LatencySummary, OverloadLevel, OverloadResult, RoundResult, StageWaits, TargetObservation, WindowSummary } from './results.ts'
import type { ScenarioName } from './selection.ts'
import { type Spread, median, spread } from './stats.ts'

/** One line of the summary table: a figure over the rounds, with its ratio and target where it has them. */
export interface SummaryRow {
  scenario: string
  unit: string
  perRound: number[]
  value: Spread
  /** The figure divided by its yardstick, round by round (both measured in the same round). */
  ratio: { to: string; perRound: number[]; value: Spread } | null
  target: { text: string; pass: boolean } | null
  /** Set when the figure came within 10% of its load generators' ceiling (or a peer of its offered load). */
  note: string | null
}

export interface RunRecord {
  command: string
  argv: string[]
  cwd: string
  startedAt: string
  finishedAt: string
  durationSeconds: number
  quick: boolean
  rounds: number
  /** Scenarios run (those named, plus what they need). */
  scenarios: ScenarioName[]
  settings: BenchSettings
  machine: {
    platform: string
    release: string
    arch: string
    cpus: CpuInfo[]
    totalMemoryBytes: number
    node: string
    postgres: string
  }
  summary: SummaryRow[]
  /** Things in the service's behaviour worth a look, each with its evidence. */
  findings: string[]
  results: RoundResult[]
  /** The children's stderr; null when they wrote nothing. */
  logFile: string | null
}

/** A load figure this close to its generators' ceiling may be the generators' limit, not the target's. */
export const GENERATOR_BOUND_SHARE = 0.9

type Row = (scenario: string, unit: string, perRound: number[], ratio?: SummaryRow['ratio'], target?: SummaryRow['target'], note?: string | null) => SummaryRow
const row: Row = (scenario, unit, perRound, ratio = null, target = null, note = null) => ({ scenario, unit, perRound, value: spread(perRound), ratio, target, note })
const ratioOf = (to: string, a: number[], b: number[]) => {
  const perRound = a.map((x, i) => x / b[i]!)
  return { to, perRound, value: spread(perRound) }
}

/** The note for a figure against its ceiling, round by round: set when any round came within 10%. */
function boundNote(figure: number[], ceiling: number[], what = 'the load generators\' ceiling'): string | null {
  const shares = figure.map((x, i) => x / ceiling[i]!)
  const worst = Math.max(...shares.filter(Number.isFinite))
  return worst >= GENERATOR_BOUND_SHARE ? `generator-bound? reached ${fmtRatio(worst)} of ${what}` : null
}

/** Values of a figure for the rounds that have it; an empty list when no round does. */
function each<T>(rounds: RoundResult[], pick: (r: RoundResult) => T | undefined): T[] {
  const out: T[] = []
  for (const r of rounds) {
    const v = pick(r)
    if (v !== undefined) out.push(v)
  }
  return out
}

export function summarise(rounds: RoundResult[]): SummaryRow[] {
  const out: SummaryRow[] = []
  // What each stored reading cost: the service process, and PostgreSQL's own processes.
  const cpuRows = (name: string, cpu: (CpuPerReading | null)[]) => {
    if (cpu.every((c) => c === null)) return
    out.push(row(`${name} CPU per stored reading: service`, 'us', cpu.map((c) => c?.serviceMicros ?? NaN)))
    if (cpu.some((c) => c && Number.isFinite(c.postgresMicros))) out.push(row(`${name} CPU per stored reading: PostgreSQL`, 'us', cpu.map((c) => c?.postgresMicros ?? NaN)))
  }
  // Where a message waited before its PUBACK, per batch (bucket bounds: "at most").
  const waitRows = (name: string, waits: (StageWaits | null)[]) => {
    if (waits.every((w) => w === null)) return
    for (const stage of ['linger', 'queue', 'commit'] as const) {
      out.push(row(`${name} ${stage} per batch, mean`, 'ms', waits.map((w) => w?.[stage].meanMs ?? NaN)))
      out.push(row(`${name} ${stage} per batch, p99 at most`, 'ms', waits.map((w) => w?.[stage].p99AtMostMs ?? NaN)))
    }
  }
  const all = <K extends keyof RoundResult>(key: K) => rounds.every((r) => r[key] !== undefined)
  const copy = all('copyLimit') ? rounds.map((r) => r.copyLimit!.rowsPerSecond) : null
  if (copy) out.push(row('copy-limit', 'rows/s', copy))

  if (all('writer')) {
    const w = rounds.map((r) => r.writer!.rowsPerSecond)
    out.push(row('writer', 'rows/s', w, copy ? ratioOf('copy-limit', w, copy) : null))
  }
  const pipelineRows = (name: string, pick: (r: RoundResult) => RoundResult['pipeline']) => {
    const p = rounds.map((r) => pick(r)!.readingsPerSecond)
    out.push(row(name, 'readings/s', p, copy ? ratioOf('copy-limit', p, copy) : null))
    out.push(row(`${name} CPU per reading (all)`, 'us', rounds.map((r) => pick(r)!.cpuMicrosPerReading)))
    out.push(row(`${name} CPU per reading (before the write)`, 'us', rounds.map((r) => pick(r)!.cpuMicrosPerReadingBeforeWrite)))
  }
  if (all('pipeline')) pipelineRows('pipeline', (r) => r.pipeline)
  if (all('pipelineProcessors')) {
    pipelineRows(`pipeline-processors (stage: ${PROCESS_STAGE_NAME})`, (r) => r.pipelineProcessors)
    if (all('pipeline')) {
      // Per round, side by side: what the processors cost of validate-and-write's throughput.
      const kept = rounds.map((r) => r.pipelineProcessors!.readingsPerSecond / r.pipeline!.readingsPerSecond)
      const ok = kept.every((k) => k >= 0.85)
      out.push(row('pipeline-processors / pipeline (throughput kept with every processor on)', 'x', kept, null,
        { text: '>= 0.85 in every round (processors cost at most 15%)', pass: ok }))
    }
  }

  if (all('indicatorHistory')) {
    const k = rounds.map((r) => r.indicatorHistory!)
    const shape = `${k[0]!.sensors} sensors, a day, ${k[0]!.readings} readings`
    const off = k.map((x) => x.without.readingsPerSecond)
    const on = k.map((x) => x.with.readingsPerSecond)
    out.push(row(`indicator-history: indicators, values emitted only (${shape})`, 'readings/s', off))
    out.push(row('indicator-history: indicators, values also stored in indicator_values', 'readings/s', on, ratioOf('values emitted only', on, off), null,
      k.every((x) => x.stored === x.values) ? null : `stored ${k.map((x) => `${x.stored}/${x.values}`).join(', ')} values`))
    out.push(row('indicator-history: values stored', 'values', k.map((x) => x.stored)))
    out.push(row('indicator-history: CPU per stored value (this process)', 'us', k.map((x) => (x.with.cpuMicros - x.without.cpuMicros) / x.values)))
    out.push(row('indicator-history: wall time per stored value', 'us', k.map((x) => ((x.with.elapsedMs - x.without.elapsedMs) * 1000) / x.values)))
  }

  if (all('pipelineCity')) {
    const c = rounds.map((r) => r.pipelineCity!)
    const shape = `${c[0]!.devices} devices, ${c[0]!.hours.toFixed(1)} h of event time, ${c[0]!.rows} rows`
    out.push(row(`pipeline-city: pipeline, no processors (${shape})`, 'rows/s', c.map((x) => x.without.rowsPerSecond)))
    out.push(row('pipeline-city: pipeline-processors, indicator history written', 'rows/s', c.map((x) => x.with.rowsPerSecond)))
    out.push(row('pipeline-city: pipeline-processors / pipeline (history written)', 'x', c.map((x) => x.ratio), null,
      { text: '>= 0.75 in every round', pass: c.every((x) => x.ratio >= 0.75) }))
    out.push(row('pipeline-city: CPU per row (this process), no processors', 'us', c.map((x) => (x.without.cpuMicrosPerReading * x.without.readings) / x.rows)))
    out.push(row('pipeline-city: CPU per row (this process), every processor', 'us', c.map((x) => (x.with.cpuMicrosPerReading * x.with.readings) / x.rows)))
    out.push(row('pipeline-city: indicator values stored', 'values', c.map((x) => x.indicatorValues), null, null, c[0]!.indicatorNames.join(', ')))
    out.push(row('pipeline-city: indicator values per 1,000 rows', 'values', c.map((x) => (x.indicatorValues * 1000) / x.rows)))
  }

  if (all('broker')) {
    for (const qos of ['qos1', 'qos0'] as const) {
      const q = qos === 'qos1' ? 'QoS 1' : 'QoS 0'
      const aedes = rounds.map((r) => r.broker![qos].aedes.ackedPerSecond)
      const mosquitto = rounds.map((r) => r.broker![qos].mosquitto.ackedPerSecond)
      const sink = rounds.map((r) => r.broker![qos].sink.ackedPerSecond)
      out.push(row(`broker: mosquitto, ${q}`, 'msg/s', mosquitto, null, null, boundNote(mosquitto, sink)))
      out.push(row(`broker: aedes, ${q}`, 'msg/s', aedes, ratioOf('mosquitto', aedes, mosquitto), null, boundNote(aedes, sink)))
      out.push(row(`(load check) broker ${q} load -> do-nothing sink`, 'msg/s', sink))
    }
  }

  if (all('ingestBatched')) {
    const batched = rounds.map((r) => r.ingestBatched!.readingsPerSecond)
    const sink = rounds.map((r) => r.batchedSink!.readingsPerSecond)
    const ratio = copy ? ratioOf('copy-limit', batched, copy) : null
    const complete = rounds.every((r) => r.ingestBatched!.complete)
    out.push(row('ingest-batched', 'rows/s', batched, ratio,
      ratio ? { text: '>= 1.0 x copy-limit', pass: complete && ratio.value.median >= 1.0 } : null, boundNote(batched, sink)))
    cpuRows('ingest-batched', rounds.map((r) => r.ingestBatched!.cpuPerReading))
    const lat = (pick: (l: NonNullable<WindowSummary['latencyMs']>) => number) => rounds.map((r) => (r.ingestBatched!.latencyMs ? pick(r.ingestBatched!.latencyMs) : NaN))
    out.push(row('ingest-batched ack latency p50 (full load)', 'ms', lat((l) => l.p50)))
    out.push(row('ingest-batched ack latency p95 (full load)', 'ms', lat((l) => l.p95)))
    out.push(row('ingest-batched ack latency p99 (full load)', 'ms', lat((l) => l.p99)))
    out.push(row('(load check) batched load -> do-nothing sink', 'readings/s', sink))
  }

  if (all('ingestSingle')) {
    const single = rounds.map((r) => r.ingestSingle!.ackedPerSecond)
    const sink = rounds.map((r) => r.singleSink!.ackedPerSecond)
    const bare = all('broker') ? rounds.map((r) => r.broker!.qos1.aedes.ackedPerSecond) : null
    const ratio = bare ? ratioOf('bare aedes', single, bare) : null
    out.push(row('ingest-single', 'msg/s', single, ratio, ratio ? { text: '>= 0.8 x bare aedes in every round', pass: ratio.perRound.every((x) => x >= 0.8) } : null, boundNote(single, sink)))
    cpuRows('ingest-single', rounds.map((r) => r.ingestSingle!.cpuPerReading))
    if (bare) cpuRows('bare aedes, QoS 1', rounds.map((r) => r.broker!.qos1.aedes.cpuPerReading))
    const underLoad = (pick: (l: NonNullable<WindowSummary['latencyMs']>) => number) => rounds.map((r) => (r.ingestSingle!.latencyMs ? pick(r.ingestSingle!.latencyMs) : NaN))
    out.push(row('ingest-single ack latency p99 (full load)', 'ms', underLoad((l) => l.p99)))
    const latency = (pick: (l: NonNullable<WindowSummary['latencyMs']>) => number) => rounds.map((r) => (r.ackLatency?.latencyMs ? pick(r.ackLatency.latencyMs) : NaN))
    const p99 = latency((l) => l.p99)
    out.push(row('ack-latency p50 (half rate)', 'ms', latency((l) => l.p50)))
    out.push(row('ack-latency p95 (half rate)', 'ms', latency((l) => l.p95)))
    out.push(row('ack-latency p99 (half rate)', 'ms', p99, null, { text: '< 50 ms in every round', pass: p99.every((x) => x < 50) }))
    waitRows('ack-latency', rounds.map((r) => r.ackLatency?.stageWaits ?? null))
    cpuRows('ack-latency', rounds.map((r) => r.ackLatency?.cpuPerReading ?? null))
    out.push(row('(load check) single-message load -> do-nothing sink', 'msg/s', sink))
    out.push(row('(context) ack-latency rate', 'msg/s', rounds.map((r) => r.ackLatency?.targetRate ?? NaN)))
    out.push(row('(context) same paced load -> do-nothing sink, p99', 'ms', rounds.map((r) => r.sinkAckLatency?.latencyMs?.p99 ?? NaN)))
  }

  if (all('dashboards')) {
    const d = rounds.map((r) => r.dashboards!)
    const withOpen = d.map((x) => x.with.readingsPerSecond)
    const without = d.map((x) => x.without.readingsPerSecond)
    const ratio = ratioOf('none', withOpen, without)
    out.push(row('dashboards: ingest-batched, none open', 'rows/s', without))
    out.push(row(`dashboards: ingest-batched, ${d[0]!.dashboards} open`, 'rows/s', withOpen, ratio, { text: '>= 0.95 x none', pass: d.every((x) => x.with.complete) && ratio.value.median >= 0.95 }))
    const seconds = (x: BatchedResult) => x.elapsedMs / 1000
    out.push(row('(context) live events received by the dashboards', 'events/s', d.map((x) => (x.with.dashboards?.events ?? NaN) / seconds(x.with))))
    out.push(row('(context) live streams ended early', 'streams', d.map((x) => x.with.dashboards?.ended ?? NaN)))
  }

  if (all('map')) {
    const m = rounds.map((r) => r.map!)
    const n = count(m[0]!.onMap)
    const firstLoad = (pick: (x: typeof m[number]) => number[]) => m.map((x) => pick(x)[0] ?? NaN)
    const worstLoad = (pick: (x: typeof m[number]) => number[]) => m.map((x) => Math.max(...pick(x)))
    // A page load counts when every navigation of the round drew every device in time.
    out.push(row(`map: overview load to ${n} devices drawn, first navigation`, 'ms', firstLoad((x) => x.overviewLoadMs)))
    const overviewWorst = worstLoad((x) => x.overviewLoadMs)
    out.push(row(`map: overview load, slowest of ${m[0]!.overviewLoadMs.length}`, 'ms', overviewWorst, null, { text: '< 2 s', pass: overviewWorst.every((x) => x < 2_000) }))
    out.push(row(`map: #/map load to ${n} devices drawn, first navigation`, 'ms', firstLoad((x) => x.mapLoadMs)))
    const mapWorst = worstLoad((x) => x.mapLoadMs)
    out.push(row(`map: #/map load, slowest of ${m[0]!.mapLoadMs.length}`, 'ms', mapWorst, null, { text: '< 2 s', pass: mapWorst.every((x) => x < 2_000) }))
    const fps = m.map((x) => x.fps.fps)
    const cpu = /swiftshader/i.test(m[0]!.renderer)
    out.push(row('map: frames/s panning and zooming (headless Chromium)', 'fps', fps, null, { text: '>= 30', pass: fps.every((x) => x >= 30) },
      `WebGL renderer: ${m[0]!.renderer}${cpu ? ' (SwiftShader draws on the CPU: a floor)' : ''}`))
    out.push(row('(context) map: slowest whole second of frames', 'fps', m.map((x) => (x.fps.perSecond.length > 0 ? Math.min(...x.fps.perSecond) : NaN))))
    const live = `${count(m[0]!.live.ratePerSecond)} readings/s, each turning a marker online`
    const lag = (pick: (l: LatencySummary) => number, of: 'toPageMs' | 'toDrawMs' | 'toFrameMs') => m.map((x) => (x.live[of] ? pick(x.live[of]!) : NaN))
    out.push(row(`map: live, publish to the map event in the page, p50 (${live})`, 'ms', lag((l) => l.p50, 'toPageMs')))
    out.push(row('map: live, publish to the map event in the page, p95', 'ms', lag((l) => l.p95, 'toPageMs')))
    out.push(row('map: live, publish to the page\'s next draw of it (data-version), p50', 'ms', lag((l) => l.p50, 'toDrawMs')))
    // The goal is on the draw, what an operator sees change (counts, the map's data), not the event's arrival.
    const toDrawP95 = lag((l) => l.p95, 'toDrawMs')
    out.push(row('map: live, publish to the page\'s next draw of it (data-version), p95', 'ms', toDrawP95, null, { text: '< 1 s, none missing', pass: m.every((x) => x.live.missing === 0) && toDrawP95.every((x) => x < 1_000) }))
    out.push(row('map: live, publish to the first frame rendered with it, p50', 'ms', lag((l) => l.p50, 'toFrameMs')))
    out.push(row('map: live, publish to the first frame rendered with it, p95', 'ms', lag((l) => l.p95, 'toFrameMs')))
    out.push(row('(context) map: live readings without their change in the page', 'devices', m.map((x) => x.live.missing)))
    out.push(row('(context) map: GET /api/map', 'MB', m.map((x) => x.snapshotBytes / 1e6)))
    const withOpen = m.map((x) => x.with.readingsPerSecond)
    const without = m.map((x) => x.without.readingsPerSecond)
    const ratio = ratioOf('none', withOpen, without)
    out.push(row(`map: ingest-batched, no map open (${n} placed devices)`, 'rows/s', without))
    out.push(row(`map: ingest-batched, ${m[0]!.mapPages} map streams open`, 'rows/s', withOpen, ratio, { text: '>= 0.95 x none', pass: m.every((x) => x.with.complete) && ratio.value.median >= 0.95 }))
    out.push(row('(context) map: live map streams ended early', 'streams', m.map((x) => x.with.dashboards?.ended ?? NaN)))
  }

  if (all('alarmLatency')) out.push(...alarmLatencyRows(rounds.map((r) => r.alarmLatency!)))

  if (all('sta')) {
    const st = rounds.map((r) => r.sta!)
    const shape = `${count(st[0]!.readings)} readings, ${count(st[0]!.datastreams)} Datastreams`
    for (const [i, q] of st[0]!.queries.entries()) {
      out.push(row(`sta: ${q.name} p50 (${shape})`, 'ms', st.map((x) => x.queries[i]!.p50Ms)))
      out.push(row(`sta: ${q.name} p95`, 'ms', st.map((x) => x.queries[i]!.p95Ms)))
    }
    out.push(row('(context) sta: loading the readings (COPY, ANALYZE)', 's', st.map((x) => x.loadMs / 1000)))
  }

  if (all('lineProtocol')) {
    const lp = rounds.map((r) => r.lineProtocol!)
    const g = lp.map((x) => x.gridline.rowsPerSecond)
    const influx = lp.map((x) => x.influxdb.rowsPerSecond)
    const complete = lp.every((x) => x.gridline.storedRows === x.rowsSent && x.gridline.ok === x.gridline.requests)
    const shape = `${count(lp[0]!.linesPerRequest)} lines/request, ${lp[0]!.connections} connections`
    out.push(row(`line-protocol: InfluxDB 1.6.7 (${shape})`, 'rows/s', influx))
    const toInflux = ratioOf('InfluxDB', g, influx)
    out.push(row(`line-protocol: gridline http source (${shape}, 204 after the commit)`, 'rows/s', g, toInflux,
      { text: '>= 0.8 x InfluxDB', pass: complete && toInflux.value.median >= 0.8 }))
    if (copy) {
      const toCopy = ratioOf('copy-limit', g, copy)
      out.push(row('line-protocol: gridline as a fraction of copy-limit', 'x', toCopy.perRound, null, { text: '>= 0.5 x copy-limit', pass: complete && toCopy.value.median >= 0.5 }))
    }
    out.push(row('line-protocol: gridline request latency p99', 'ms', lp.map((x) => x.gridline.latencyMs?.p99 ?? NaN)))
    out.push(row('line-protocol: CPU per stored row, gridline service (PostgreSQL not counted)', 'us', lp.map((x) => x.gridline.serverCpuMicrosPerRow)))
    out.push(row('line-protocol: CPU per stored row, influxd', 'us', lp.map((x) => x.influxdb.serverCpuMicrosPerRow)))
    out.push(row('line-protocol: InfluxDB request latency p99', 'ms', lp.map((x) => x.influxdb.latencyMs?.p99 ?? NaN)))
  }

  if (all('sensorCommunity')) {
    const sc = rounds.map((r) => r.sensorCommunity!)
    out.push(row(`sensor-community: ${count(sc[0]!.sensors)} sensors, closed loop (maximum)`, 'req/s', sc.map((x) => x.max.requestsPerSecond)))
    out.push(row('sensor-community: paced at half the maximum', 'req/s', sc.map((x) => x.half.requestsPerSecond)))
    out.push(row('sensor-community: latency to the 204 p50 (half rate)', 'ms', sc.map((x) => x.half.latencyMs?.p50 ?? NaN)))
    const p99 = sc.map((x) => x.half.latencyMs?.p99 ?? NaN)
    const clean = sc.every((x) => x.half.ok === x.half.requests && x.max.ok === x.max.requests)
    out.push(row('sensor-community: latency to the 204 p99 (half rate)', 'ms', p99, null, { text: '< 50 ms in every round', pass: clean && p99.every((x) => x < 50) }))
  }

  if (all('influxSink')) {
    const k = rounds.map((r) => r.influxSink!)
    const on = k.map((x) => x.on.readingsPerSecond)
    const off = k.map((x) => x.off.readingsPerSecond)
    const ratio = ratioOf('sink off', on, off)
    out.push(row('influxdb-sink: ingest-batched, sink off', 'rows/s', off))
    out.push(row('influxdb-sink: ingest-batched, sink on', 'rows/s', on, ratio,
      { text: '>= 0.85 x off', pass: k.every((x) => x.on.complete && x.sinkRows === x.on.storedRows) && ratio.value.median >= 0.85 }))
    out.push(row('influxdb-sink: rows/s the sink put into InfluxDB (first publish to caught up)', 'rows/s', k.map((x) => x.sinkRowsPerSecond)))
    cpuRows('influxdb-sink off', k.map((x) => x.off.cpuPerReading))
    cpuRows('influxdb-sink on', k.map((x) => x.on.cpuPerReading))
    out.push(row('influxdb-sink on CPU per stored reading: influxd (same cores)', 'us', k.map((x) => x.influxCpuMicrosPerRow)))
  }

  if (all('peers') && all('ingestSingle')) {
    const single = rounds.map((r) => r.ingestSingle!.ackedPerSecond)
    for (const [key, name, goal] of [['naive', 'naive subscriber (Mosquitto + mqtt.js, INSERT per row)', 5], ['nodeRed', 'Node-RED (mqtt in -> function INSERT)', 10]] as const) {
      const stored = rounds.map((r) => r.peers![key].storedPerSecond)
      const offered = rounds.map((r) => r.peers![key].offeredPerSecond)
      out.push(row(`peers: ${name}`, 'rows/s', stored, null, null, boundNote(stored, offered, 'its offered load (gridline\'s multiple is then a ceiling)')))
      const multiple = ratioOf(`peer ${key === 'naive' ? 'naive' : 'Node-RED'}`, single, stored)
      out.push(row(`gridline (ingest-single) as a multiple of ${key === 'naive' ? 'the naive subscriber' : 'Node-RED'}`, 'x', multiple.perRound, null,
        { text: `>= ${goal}x`, pass: multiple.value.median >= goal }))
    }
  }

  if (all('sparkplug')) {
    const k = rounds.map((r) => r.sparkplug!)
    const spb = k.map((x) => x.sparkplug.readingsPerSecond)
    const json = k.map((x) => x.json.readingsPerSecond)
    const shape = `${k[0]!.nodes} edge nodes, ${k[0]!.readingsPerMessage} readings a message, QoS 1`
    const complete = k.every((x) => [x.sparkplug, x.json].every((b) => b.complete && b.storedRows === b.readingsSent))
    out.push(row(`sparkplug: gridline JSON, the same readings (${shape})`, 'rows/s', json))
    const ratio = ratioOf('JSON', spb, json)
    out.push(row(`sparkplug: Sparkplug B DDATA by alias, embedded broker (${shape})`, 'rows/s', spb, ratio, { text: '>= 0.8 x JSON', pass: complete && ratio.value.median >= 0.8 }))
    out.push(row('sparkplug: publish-to-PUBACK p99, JSON', 'ms', k.map((x) => x.json.latencyMs?.p99 ?? NaN)))
    out.push(row('sparkplug: publish-to-PUBACK p99, Sparkplug B', 'ms', k.map((x) => x.sparkplug.latencyMs?.p99 ?? NaN)))
    cpuRows('sparkplug: JSON', k.map((x) => x.json.cpuPerReading))
    cpuRows('sparkplug: Sparkplug B', k.map((x) => x.sparkplug.cpuPerReading))
  }

  if (all('mqttClient')) {
    const m = rounds.map((r) => r.mqttClient!)
    const g = m.map((x) => x.gridline.storedPerSecond)
    const naive = m.map((x) => x.naive.storedPerSecond)
    out.push(row('mqtt-client: naive subscriber (private Mosquitto, acks at once, INSERT per row)', 'rows/s', naive, null, null,
      boundNote(naive, m.map((x) => x.naive.offeredPerSecond), 'its offered load')))
    const ratio = ratioOf('naive', g, naive)
    out.push(row(`mqtt-client: gridline mqtt_client source (${m[0]!.connections} connections, $share, MQTT 5, ack after commit)`, 'rows/s', g, ratio,
      { text: '>= 5x naive', pass: ratio.value.median >= 5 }, boundNote(g, m.map((x) => x.gridline.offeredPerSecond), 'its offered load (the ratio is then a floor)')))
    const drain = m.map((x) => x.backlog.storedPerSecond)
    out.push(row(`(context) mqtt-client: gridline draining a backlog of ${count(m[0]!.backlog.published)} messages from its sessions`, 'rows/s', drain, ratioOf('naive', drain, naive)))
    out.push(row('mqtt-client: kill -9, gridline: published', 'msgs', m.map((x) => x.kill.gridline.published)))
    out.push(row('mqtt-client: kill -9, gridline: lost', 'rows', m.map((x) => x.kill.gridline.lost), null,
      { text: '0 lost, 0 duplicates in every round', pass: m.every((x) => x.kill.gridline.lost === 0 && x.kill.gridline.duplicates === 0) }))
    out.push(row('mqtt-client: kill -9, gridline: duplicate rows', 'rows', m.map((x) => x.kill.gridline.duplicates)))
    out.push(row('mqtt-client: kill -9, naive subscriber: published', 'msgs', m.map((x) => x.kill.naive.published)))
    out.push(row('mqtt-client: kill -9, naive subscriber: lost', 'rows', m.map((x) => x.kill.naive.lost)))
    out.push(row('mqtt-client: kill -9, naive subscriber: duplicate rows', 'rows', m.map((x) => x.kill.naive.duplicates)))
  }

  const overloadRounds = rounds.filter((r): r is RoundResult & { overload: OverloadResult; ingestSingle: WindowSummary } => r.overload !== undefined && r.ingestSingle !== undefined)
  if (overloadRounds.length === rounds.length && rounds.length > 0) out.push(...overloadRows(overloadRounds))

  if (all('soak')) {
    const soak = rounds.map((r) => r.soak!)
    out.push(row('soak throughput', 'msg/s', soak.map((x) => x.ackedPerSecond)))
    out.push(row('soak throughput drift (last third vs first)', '%', soak.map((x) => x.throughputDrift.change * 100)))
    out.push(row('soak RSS drift (last third vs first)', '%', soak.map((x) => x.rssDrift.change * 100)))
    out.push(row('soak RSS slope', 'MiB/min', soak.map((x) => x.rssDrift.slopePerMinute)))
  }
  return out
}

/** The goal of issue 5: from the reading that crosses a threshold to the alarm event on the broker, p99 under 200 ms. */
export const ALARM_LATENCY_GOAL_MS = 200

function alarmLatencyRows(results: AlarmLatencyResult[]): SummaryRow[] {
  const pick = (summary: (a: AlarmLatencyResult) => LatencySummary | null, at: (l: LatencySummary) => number) => results.map((a) => {
    const l = summary(a)
    return l ? at(l) : NaN
  })
  const p99 = pick((a) => a.eventLatencyMs, (l) => l.p99)
  // A missing event is a latency past the settle timeout: the goal cannot pass with one.
  const complete = results.every((a) => a.missingEvents === 0 && a.crossings > 0)
  return [
    row('alarm-latency p50 (publish -> alarm event)', 'ms', pick((a) => a.eventLatencyMs, (l) => l.p50)),
    row('alarm-latency p95 (publish -> alarm event)', 'ms', pick((a) => a.eventLatencyMs, (l) => l.p95)),
    row('alarm-latency p99 (publish -> alarm event)', 'ms', p99, null, { text: `< ${ALARM_LATENCY_GOAL_MS} ms, no event missing`, pass: complete && median(p99) < ALARM_LATENCY_GOAL_MS }),
    row('alarm-latency max (publish -> alarm event)', 'ms', pick((a) => a.eventLatencyMs, (l) => l.max)),
    row('(context) alarm-latency publish -> PUBACK p99, same readings', 'ms', pick((a) => a.pubackLatencyMs, (l) => l.p99)),
    row('(context) alarm-latency background load', 'msg/s', results.map((a) => a.background.ackedPerSecond)),
  ]
}

/** The overload rows: per level its ack rate, peak RSS and drain time, then the two verdicts. */
type OverloadRound = RoundResult & { overload: OverloadResult; ingestSingle: WindowSummary }

function overloadRows(rounds: OverloadRound[]): SummaryRow[] {
  const first = rounds[0]?.overload.levels ?? []
  if (first.length === 0) return []
  const levelOf = (r: OverloadRound, i: number): OverloadLevel | undefined => r.overload.levels[i]
  const out: SummaryRow[] = []
  first.forEach((l, i) => {
    const name = `overload ${l.level}x`
    const acked = rounds.map((r) => levelOf(r, i)?.ackedPerSecond ?? NaN)
    out.push(row(`${name} ack rate during load`, 'msg/s', acked, ratioOf('the 1x rate', acked, rounds.map((r) => r.overload.baseRate))))
    const rss = rounds.map((r) => (levelOf(r, i)?.observed.rssPeakBytes ?? NaN) / 2 ** 20)
    out.push(row(`${name} peak RSS`, 'MiB', rss, ratioOf('1x peak RSS', rss, rounds.map((r) => r.overload.oneXRssPeakBytes / 2 ** 20))))
    out.push(row(`${name} drain time`, 's', rounds.map((r) => {
      const x = levelOf(r, i)
      return x && x.drained && x.drainMs !== null ? x.drainMs / 1000 : NaN
    })))
  })
  if (first.length >= 2) {
    const verdicts = rounds.map(memoryVerdictOf)
    const lo = first[0]!.level
    const hi = first[first.length - 1]!.level
    out.push(row(`overload memory bounded (peak RSS ${hi}x / ${lo}x)`, 'x', verdicts.map((v) => v.ratio), null,
      { text: `<= ${MEMORY_BOUND_FACTOR} (every round)`, pass: verdicts.every((v) => v.pass) }))
  }
  // ackedMissing checks each acknowledged reading; stored < acknowledged implies it is above 0.
  const lost = rounds.map((r) => r.overload.levels.reduce((n, l) => n + l.ackedMissing, 0))
  out.push(row('overload acknowledged but not stored', 'readings', lost, null,
    { text: '0 (every round)', pass: rounds.every((r) => r.overload.levels.every((l) => nothingAckedLost(l.ackedReadings, l.ackedMissing, l.storedRows))) }))
  return out
}

/**
 * Peak RSS at the highest overload level against the lowest, in one round.
 * Inconclusive when the highest level's load generators did not publish at
 * least halfway to its intended multiple of the lowest (3x / 1.5x: 1.5 times
 * as much): then both levels offered about the same load.
 */
function memoryVerdictOf(r: OverloadRound): ReturnType<typeof memoryBounded> & { inconclusive: string | null } {
  const levels = r.overload.levels
  const lo = levels[0]
  const hi = levels[levels.length - 1]
  const verdict = memoryBounded(lo?.observed.rssPeakBytes ?? NaN, hi?.observed.rssPeakBytes ?? NaN)
  if (!lo || !hi || lo === hi) return { ...verdict, inconclusive: null }
  const offered = hi.publishedPerSecond / lo.publishedPerSecond
  const intended = hi.level / lo.level
  const inconclusive = offered < (1 + intended) / 2
    ? `the ${hi.level}x level published ${fmtRatio(offered)} x what the ${lo.level}x level did, not ${fmtRatio(intended)} x, so the two levels offered about the same load`
    : null
  return { ...verdict, inconclusive }
}

/**
 * What looks wrong, each with its evidence: lost or late acks, dropped
 * connections, rows missing from the database, log complaints, refused or
 * retried writes, memory growth, and a load generator that may be the limit.
 */
export function findings(rounds: RoundResult[]): string[] {
  const out: string[] = []
  for (const r of rounds) {
    const at = `round ${r.round}`
    const b = r.ingestBatched
    if (b) {
      if (!b.complete) out.push(`${at} ingest-batched: not every PUBACK arrived within the time limit (${b.ackedMessages} of ${b.readingsSent / 100} messages acknowledged).`)
      if (b.storedRows !== null && b.storedRows !== b.readingsSent) out.push(`${at} ingest-batched: ${b.storedRows} rows stored for ${b.readingsSent} readings sent.`)
      if (b.failedMessages > 0 || b.disconnects > 0) out.push(`${at} ingest-batched: ${b.failedMessages} publishes failed, ${b.disconnects} connections dropped.`)
      observationFindings(`${at} ingest-batched`, b.observed, out)
      if (r.batchedSink && b.readingsPerSecond > GENERATOR_BOUND_SHARE * r.batchedSink.readingsPerSecond) {
        out.push(`${at}: ingest-batched (${fmt(b.readingsPerSecond)} rows/s) came within 10% of the load generators' ceiling against the do-nothing sink (${fmt(r.batchedSink.readingsPerSecond)} readings/s): the load may be the limit.`)
      }
    }
    const m = r.map
    if (m) {
      if (m.live.missing > 0) out.push(`${at} map: ${m.live.missing} of ${m.live.published} devices that published never turned online in a map event the page received (a gap reload, or later than the settle time).`)
      if (m.live.acked < m.live.published) out.push(`${at} map: ${m.live.acked} of ${m.live.published} live readings acknowledged.`)
      for (const [side, x] of [['without', m.without], ['with', m.with]] as const) {
        if (!x.complete || x.storedRows !== x.readingsSent) out.push(`${at} map: ingest-batched ${side} map streams stored ${x.storedRows} rows for ${x.readingsSent} readings sent.`)
      }
      if ((m.with.dashboards?.ended ?? 0) > 0) out.push(`${at} map: ${m.with.dashboards!.ended} map streams ended before the load did.`)
    }
    for (const [name, w] of [['ingest-single', r.ingestSingle], ['ack-latency', r.ackLatency]] as const) {
      if (!w) continue
      if (w.unacked > 0) out.push(`${at} ${name}: ${w.unacked} messages still had no PUBACK after the drain timeout.`)
      if (w.failedMessages > 0 || w.disconnects > 0) out.push(`${at} ${name}: ${w.failedMessages} publishes failed, ${w.disconnects} connections dropped.`)
      // One reading per message: every PUBACK promises one stored row.
      if (w.storedRows !== null && w.storedRows < w.totalAcked) out.push(`${at} ${name}: ${w.totalAcked} messages acknowledged but only ${w.storedRows} rows stored.`)
      if (w.storedRows !== null && w.storedRows > w.totalPublished) out.push(`${at} ${name}: ${w.storedRows} rows stored for ${w.totalPublished} messages published.`)
      observationFindings(`${at} ${name}`, w.observed, out)
    }
    const l = r.ackLatency
    if (l && l.targetRate !== null && l.publishedPerSecond < 0.95 * l.targetRate) {
      out.push(`${at} ack-latency: published ${fmt(l.publishedPerSecond)} msg/s of the ${fmt(l.targetRate)} msg/s asked (${l.deferred} sends deferred at the in-flight cap).`)
    }
    if (r.ingestSingle && r.singleSink && r.ingestSingle.ackedPerSecond > GENERATOR_BOUND_SHARE * r.singleSink.ackedPerSecond) {
      out.push(`${at}: ingest-single came within 10% of the load generators' ceiling against the do-nothing sink; the load may be the limit.`)
    }
    if (r.broker) {
      for (const qos of ['qos1', 'qos0'] as const) {
        const x = r.broker[qos]
        for (const w of [x.aedes, x.mosquitto]) {
          if (w.ackedPerSecond > GENERATOR_BOUND_SHARE * x.sink.ackedPerSecond) {
            out.push(`${at} broker ${w.target} ${qos}: ${fmt(w.ackedPerSecond)} msg/s is within 10% of the load generators' ceiling (${fmt(x.sink.ackedPerSecond)} msg/s against the do-nothing sink): the load may be the limit.`)
          }
          if (w.failedMessages > 0 || w.disconnects > 0 || w.unacked > 0) out.push(`${at} broker ${w.target} ${qos}: ${w.failedMessages} publishes failed, ${w.disconnects} connections dropped, ${w.unacked} never acknowledged.`)
        }
      }
    }
    if (r.lineProtocol) {
      for (const [name, x] of [['gridline', r.lineProtocol.gridline], ['InfluxDB', r.lineProtocol.influxdb]] as const) {
        if (x.ok !== x.requests) out.push(`${at} line-protocol ${name}: ${x.requests - x.ok} of ${x.requests} requests not answered 2xx (first: ${x.firstError ?? '?'}).`)
        if (x.storedRows !== r.lineProtocol.rowsSent) out.push(`${at} line-protocol ${name}: stored ${x.storedRows} rows of ${r.lineProtocol.rowsSent} sent.`)
      }
    }
    if (r.sensorCommunity) {
      for (const [name, x] of [['closed loop', r.sensorCommunity.max], ['half rate', r.sensorCommunity.half]] as const) {
        if (x.ok !== x.requests) out.push(`${at} sensor-community ${name}: ${x.requests - x.ok} of ${x.requests} POSTs not answered 2xx (first: ${x.firstError ?? '?'}).`)
      }
    }
    if (r.influxSink && r.influxSink.sinkRows !== r.influxSink.on.storedRows) {
      out.push(`${at} influxdb-sink: InfluxDB held ${r.influxSink.sinkRows} points of ${r.influxSink.on.storedRows ?? '?'} stored rows at the end.`)
    }
    if (r.peers) {
      for (const p of [r.peers.naive, r.peers.nodeRed]) {
        if (p.errors > 0) out.push(`${at} peers ${p.peer}: ${p.errors} errors (failed INSERTs or a lost connection) in the peer.`)
        if (p.storedPerSecond >= GENERATOR_BOUND_SHARE * p.offeredPerSecond) {
          out.push(`${at} peers ${p.peer}: it stored ${fmt(p.storedPerSecond)} rows/s of ${fmt(p.offeredPerSecond)} offered, so it may be faster than measured; raise peerRate.`)
        }
      }
    }
    if (r.sparkplug) {
      for (const [name, b] of [['Sparkplug B', r.sparkplug.sparkplug], ['JSON', r.sparkplug.json]] as const) {
        if (!b.complete || b.storedRows !== b.readingsSent) out.push(`${at} sparkplug ${name}: ${b.ackedMessages} messages acknowledged, ${b.storedRows ?? '?'} data rows stored of ${b.readingsSent} readings sent.`)
        if (b.failedMessages > 0 || b.disconnects > 0) out.push(`${at} sparkplug ${name}: ${b.failedMessages} publishes failed, ${b.disconnects} connections dropped.`)
        observationFindings(`${at} sparkplug ${name}`, b.observed, out)
      }
    }
    if (r.mqttClient) {
      const k = r.mqttClient.kill.gridline
      const d = r.mqttClient.backlog
      if (d.stored !== d.published) out.push(`${at} mqtt-client backlog: gridline stored ${d.stored} rows of the ${d.published} messages its sessions held.`)
      if (k.lost !== 0 || k.duplicates !== 0) out.push(`${at} mqtt-client kill -9: gridline stored ${k.distinctRows} distinct rows (${k.storedRows} in all) of ${k.published} messages Mosquitto took: ${k.lost} lost, ${k.duplicates} twice.`)
      for (const p of [r.mqttClient.gridline, r.mqttClient.naive]) {
        if (p.errors > 0) out.push(`${at} mqtt-client ${p.peer}: ${p.errors} errors (failed INSERTs or a lost connection).`)
        if (p.storedPerSecond >= GENERATOR_BOUND_SHARE * p.offeredPerSecond) {
          out.push(`${at} mqtt-client ${p.peer}: it stored ${fmt(p.storedPerSecond)} rows/s of ${fmt(p.offeredPerSecond)} offered, so it may be faster than measured: the load generators offered what they could, below mqttClientRate (see the backlog drain rate).`)
        }
      }
    }
    if (r.soak) {
      const d = r.soak
      if (Math.abs(d.throughputDrift.change) > 0.1) out.push(`${at} soak: throughput moved ${fmtRatio(d.throughputDrift.change * 100)}% from the first third to the last.`)
      if (d.rssDrift.change > 0.2) out.push(`${at} soak: the service's RSS grew ${fmtRatio(d.rssDrift.change * 100)}% from the first third to the last (${fmtRatio(d.rssDrift.slopePerMinute)} MiB/min).`)
      observationFindings(`${at} soak`, d.window.observed, out)
    }
    if (r.alarmLatency) alarmLatencyFindings(at, r.alarmLatency, out)
    if (r.overload && r.ingestSingle) overloadFindings(r as OverloadRound, out)
    for (const p of phases(r)) {
      const busiest = Math.max(...p.load)
      if (busiest >= 90) out.push(`${at} ${p.name}: a load generator used ${fmt(busiest)}% of a core; it may be the limit of this phase.`)
    }
  }
  return out
}

function alarmLatencyFindings(at: string, a: AlarmLatencyResult, out: string[]): void {
  const where = `${at} alarm-latency`
  if (a.missingEvents > 0) out.push(`${where}: ${a.missingEvents} of ${a.crossings} crossings had no alarm event within the settle timeout after the last one (they are not in the percentiles).`)
  if (a.missingPubacks > 0 || a.failedPublishes > 0) out.push(`${where}: ${a.missingPubacks} crossing readings had no PUBACK, ${a.failedPublishes} publishes failed.`)
  if (a.unexpectedEvents > 0) out.push(`${where}: ${a.unexpectedEvents} alarm events matched no crossing, first: ${a.firstUnexpected[0] ?? ''}`)
  const skipped = a.engine?.skipped
  if (skipped && skipped.outOfOrder > 0) {
    out.push(`${where}: the alarm engine skipped ${count(skipped.outOfOrder)} of ${count(a.engine!.evaluated + skipped.outOfOrder)} readings as out of order (background and probe together). ` +
      'The service commits batches on parallel writers, so two readings of one device can be committed, and reach the engine, in the opposite order; the older is skipped. ' +
      'A skipped crossing raises or clears nothing, and the next crossing of its device then changes nothing either: both events are missing.')
  }
  if (skipped && skipped.quality > 0) out.push(`${where}: the alarm engine skipped ${skipped.quality} readings flagged by the quality checks.`)
  if (a.publishLateMaxMs > a.intervalMs) out.push(`${where}: the probe published a crossing ${fmt(a.publishLateMaxMs)} ms late against its schedule (its own event loop was held up).`)
  const b = a.background
  if (b.targetRate !== null && b.publishedPerSecond < 0.95 * b.targetRate) out.push(`${where}: the background load published ${fmt(b.publishedPerSecond)} msg/s of the ${fmt(b.targetRate)} msg/s asked.`)
  if (b.unacked > 0 || b.failedMessages > 0 || b.disconnects > 0) out.push(`${where}: background load: ${b.unacked} messages without PUBACK, ${b.failedMessages} publishes failed, ${b.disconnects} connections dropped.`)
  if (b.storedRows !== null && b.storedRows < b.totalAcked) out.push(`${where}: ${b.totalAcked} background messages acknowledged but only ${b.storedRows} rows stored.`)
  observationFindings(where, b.observed, out)
}

function overloadFindings(r: OverloadRound, out: string[]): void {
  const o = r.overload
  for (const l of o.levels) {
    const at = `round ${r.round} overload ${l.level}x`
    if (l.publishedPerSecond < 0.95 * l.askedRate) {
      out.push(`${at}: the load generators published ${fmt(l.publishedPerSecond)} msg/s of the ${fmt(l.askedRate)} msg/s asked (${count(l.behind)} due messages fell behind schedule), ` +
        `so the offered load was ${fmtRatio(l.publishedPerSecond / o.baseRate)}x the 1x rate, not ${l.level}x.`)
    }
    if (l.deferredAtCap > 0) out.push(`${at}: ${count(l.deferredAtCap)} due messages were not sent because every connection had ${l.maxInflightPerConnection} unacknowledged: the in-flight cap paced the load.`)
    if (l.skippedMemoryGuard > 0) out.push(`${at}: ${count(l.skippedMemoryGuard)} due messages were skipped while a load generator's RSS was above its memory guard.`)
    if (!l.drained) out.push(`${at}: not drained: ${count(l.unackedOpen)} messages on open connections still had no PUBACK when the drain timeout ran out.`)
    if (!nothingAckedLost(l.ackedReadings, l.ackedMissing, l.storedRows)) {
      out.push(`${at}: ${count(l.ackedMissing)} acknowledged readings are not in the database (${count(l.ackedReadings)} acknowledged, ${count(l.storedRows)} of the level's readings stored).`)
    }
    if (l.shed > 0 || l.connectionsClosed > 0) {
      out.push(`${at}: the service shed ${count(l.shed)} publishes (gridline_ingest_shed_total) and ${l.connectionsClosed} connections closed; ` +
        `${count(l.unackedClosed)} messages were left unacknowledged on them (not resent by the generator; ${count(l.storedUnacked)} unacknowledged readings were stored anyway).`)
    }
    if (l.failedMessages > 0) out.push(`${at}: ${count(l.failedMessages)} publishes failed in the client.`)
    if (l.metricsScrapesFailed > 0) out.push(`${at}: ${l.metricsScrapesFailed} scrapes of /metrics failed or took over 5 s.`)
    const peak = l.observed.peakPendingRows
    if (o.maxPendingRows !== null && peak !== null && peak > 2 * o.maxPendingRows) {
      out.push(`${at}: pending rows peaked at ${count(peak)}, ${fmtRatio(peak / o.maxPendingRows)} x ingest.maxPendingRows (${fmt(o.maxPendingRows)}): ` +
        'what connections had sent before the gate held their acknowledgements still arrives; publishes are shed only past ingest.shedAtPendingRows.')
    }
    if (!l.backpressureSeen && l.peakClientBacklog > (peak ?? 0) && l.ackedPerSecond < l.publishedPerSecond * 0.95) {
      out.push(`${at}: gridline_ingest_backpressure stayed 0 while the clients held up to ${count(l.peakClientBacklog)} unacknowledged messages ` +
        `and the service's pending rows peaked at ${count(peak ?? NaN)} (under ingest.maxPendingRows = ${count(o.maxPendingRows ?? NaN)}): the rest sat unread in socket buffers and the clients. ` +
        'The service held the sockets, but the gauge does not show it, so a monitor watching it sees no overload.')
    }
    // The shed counter is reported above for this level alone; the observation's is the service's total so far.
    observationFindings(at, l.observed, out, { skipShed: true })
  }
  if (o.levels.length >= 2) {
    const v = memoryVerdictOf(r)
    if (v.inconclusive) out.push(`round ${r.round} overload: the memory-bounded check is inconclusive: ${v.inconclusive}.`)
    if (!v.pass) {
      const lo = o.levels[0]!
      const hi = o.levels[o.levels.length - 1]!
      out.push(`round ${r.round} overload: memory not bounded: peak RSS ${mib(hi.observed.rssPeakBytes)} at ${hi.level}x is ${fmtRatio(v.ratio)} x the ${mib(lo.observed.rssPeakBytes)} at ${lo.level}x (allowed ${MEMORY_BOUND_FACTOR} x).`)
    }
  }
}

function observationFindings(where: string, o: TargetObservation, out: string[], options: { skipShed?: boolean } = {}): void {
  if (o.logErrors + o.logWarnings > 0) out.push(`${where}: the service logged ${o.logErrors} errors and ${o.logWarnings} warnings, first: ${o.firstComplaints[0] ?? ''}`)
  if (o.missedSamples > 0) out.push(`${where}: ${o.missedSamples} status requests to the service went unanswered for 10 s (a blocked event loop).`)
  if (o.loopDelayMaxMs > 1_000) out.push(`${where}: the event loop stalled for ${fmt(o.loopDelayMaxMs)} ms at least once.`)
  const m = o.metrics
  if (!m) return
  if (m.gridline_ingest_write_retries_total! > 0) out.push(`${where}: ${m.gridline_ingest_write_retries_total} batch writes were retried (gridline_ingest_write_retries_total).`)
  if (!options.skipShed && m.gridline_ingest_shed_total! > 0) out.push(`${where}: ${m.gridline_ingest_shed_total} publishes were shed (gridline_ingest_shed_total).`)
  if (m.gridline_ingest_rejected_total! > 0) out.push(`${where}: ${m.gridline_ingest_rejected_total} items were rejected (gridline_ingest_rejected_total) although every reading is valid.`)
  if (m.gridline_ingest_rows_duplicate_total! > 0) out.push(`${where}: ${m.gridline_ingest_rows_duplicate_total} rows counted as duplicates although every timestamp is distinct.`)
  if (m.gridline_ingest_auth_failures_total! > 0) out.push(`${where}: ${m.gridline_ingest_auth_failures_total} logins refused.`)
  if (o.rssPeakBytes > 1.5 * o.rssStartBytes && o.rssPeakBytes - o.rssStartBytes > 256 * 2 ** 20) {
    out.push(`${where}: resident memory grew from ${mib(o.rssStartBytes)} to a peak of ${mib(o.rssPeakBytes)} (${mib(o.rssEndBytes)} at the end).`)
  }
}

export function markdownReport(record: RunRecord): string {
  const m = record.machine
  const cpu = m.cpus[0]?.model ?? 'unknown CPU'
  const lines = [
    `# gridline bench, ${record.startedAt}`,
    '',
    `Command: \`${record.command}\` (in ${record.cwd})  `,
    `${record.rounds} round(s)${record.quick ? ' (--quick: small counts, a smoke run, not a measurement)' : ''}, ${fmt(record.durationSeconds)} s. ` +
      `Machine: ${m.cpus.length} x ${cpu}, ${mib(m.totalMemoryBytes)} RAM, ${m.platform} ${m.release}, Node ${m.node}, ${m.postgres.split(' on ')[0]}.`,
    '',
    markdownTable(record.summary),
    '',
    'Figures are the median over the rounds, with min and max; a ratio is taken within each round, then summarised the same way.',
    `Scenarios: ${record.scenarios.join(', ')}. copy-limit, writer, pipeline and ingest-batched store the same ${fmt(record.settings.rows)} rows; ack-latency paces each round at half that round's ingest-single rate. ` +
      'A note "generator-bound?" marks a figure within 10% of what the same load reached against a do-nothing sink.',
    '',
    ...inProcessSection(record),
    ...peersSection(record),
    ...mqttClientSection(record),
    ...soakSection(record),
    ...alarmLatencySection(record),
    sinkCheck(record.results),
    '',
    '## Each phase',
    '',
    'CPU figures are percentages of one core (the machine has ' + m.cpus.length + '); machine CPU is the busy share of all cores, other tenants included. ' +
      'Memory, pending rows and event-loop delay are sampled every few hundred ms; batch rows and commit time come from the service\'s /metrics ' +
      '(commit time is as the service sees it: a COPY waiting for the event loop counts).',
    '',
    '| round | phase | rate | target CPU | load CPU | machine CPU | peak RSS (heap) | peak pending rows | event-loop delay p99 / max | warnings/errors | mean batch rows | mean commit |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
    ...record.results.flatMap((r) => phases(r).map(({ name, rate, unit, load, machine, o }) => {
      const metrics = o.metrics ?? {}
      const batchRows = (metrics.gridline_ingest_batch_rows_sum ?? NaN) / (metrics.gridline_ingest_batch_rows_count ?? NaN)
      const commitMs = ((metrics.gridline_ingest_commit_seconds_sum ?? NaN) / (metrics.gridline_ingest_commit_seconds_count ?? NaN)) * 1000
      return `| ${r.round} | ${name} | ${fmt(rate)} ${unit} | ${fmt(o.meanCpuPercent)}% | ${load.map((c) => `${fmt(c)}%`).join(' + ')} | ${fmt(machine)}% | ${mib(o.rssPeakBytes)} (${mib(o.heapUsedPeakBytes)}) | ${fmt(o.peakPendingRows ?? NaN)} | ${fmt(o.loopDelayP99Ms)} / ${fmt(o.loopDelayMaxMs)} ms | ${o.logWarnings}/${o.logErrors} | ${fmt(batchRows)} | ${fmt(commitMs)} ms |`
    })),
    '',
    ...overloadSection(record),
    '## Findings',
    '',
    ...(record.findings.length > 0 ? record.findings.map((f) => `- ${f}`) : ['- None: every message acknowledged, every row stored, no complaints logged.']),
    '',
    `Raw numbers: the .json beside this file. ${record.logFile ? `Child process stderr: \`${record.logFile}\`.` : 'The child processes wrote nothing to stderr.'}`,
    '',
  ]
  return lines.join('\n')
}

/** writer and pipeline: rates, CPU per reading, batches. */
function inProcessSection(record: RunRecord): string[] {
  const rows = record.results.flatMap((r) => ([['writer', r.writer], ['pipeline', r.pipeline], [`pipeline-processors (${PROCESS_STAGE_NAME})`, r.pipelineProcessors]] as const)
    .flatMap(([name, x]) => (x ? [`| ${r.round} | ${name} | ${count(x.rows)} | ${count(x.storedRows)} | ${fmt(x.elapsedMs / 1000)} s | ${fmt(x.readingsPerSecond)} | ${fmt(x.cpuMicrosPerReading)} | ${fmt(x.cpuMicrosPerReadingBeforeWrite)} | ${x.batches} |`] : [])))
  if (rows.length === 0) return []
  return [
    '## In one process: writer and pipeline',
    '',
    'No network: the bench process decodes (pipeline only) and writes with the service\'s TimescaleSink, its batch size and its number of writers. ' +
      'CPU is the bench process\'s user + system time per reading (PostgreSQL\'s own CPU is not in it). ' +
      `pipeline-processors adds ${PROCESS_STAGE_NAME}: its difference from pipeline is what the processors cost.`,
    '',
    '| round | scenario | rows | stored | time | readings/s | CPU us/reading | before the write | batches |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ]
}

function alarmLatencySection(record: RunRecord): string[] {
  const latency = (l: LatencySummary | null) => (l ? `${fmt(l.p50)} / ${fmt(l.p95)} / ${fmt(l.p99)} / ${fmt(l.max)}` : 'n/a')
  const rows = record.results.flatMap((r) => {
    const a = r.alarmLatency
    if (!a) return []
    const at = `| ${r.round} | ${fmt(a.background.ackedPerSecond)} (${a.backgroundRateFrom === 'ingest-single' ? 'half of ingest-single' : 'fixed'}) | ${a.crossings} every ${a.intervalMs} ms from ${a.probeDevices} devices | ${a.missingEvents} |`
    return [
      `${at} publish -> alarm event | ${latency(a.eventLatencyMs)} |`,
      `${at} ... raise only | ${latency(a.raiseLatencyMs)} |`,
      `${at} ... clear only | ${latency(a.clearLatencyMs)} |`,
      `${at} publish -> PUBACK | ${latency(a.pubackLatencyMs)} |`,
    ]
  })
  if (rows.length === 0) return []
  return [
    '## Alarm latency',
    '',
    'A fresh service with one threshold rule (pm25 raised above 100, cleared below 50) on every environment device, under the paced single-message background load. ' +
      'Probe devices take turns publishing readings that, per device, alternately raise and clear the alarm (QoS 1), and an integration login subscribed to `alarms/events/#` receives each event; ' +
      'both logins are in one process, so each latency is event receipt minus the publish of its crossing reading on one clock. Warm-up crossings are left out.',
    '',
    '| round | background msg/s | crossings | no event | from the crossing\'s publish to | p50 / p95 / p99 / max (ms) |',
    '|---|---:|---|---:|---|---:|',
    ...rows,
    '',
  ]
}

function peersSection(record: RunRecord): string[] {
  const rows = record.results.flatMap((r) => (r.peers ? [r.peers.naive, r.peers.nodeRed].map((p) =>
    `| ${r.round} | ${p.peer} | ${fmt(p.offeredPerSecond)} | ${fmt(p.storedPerSecond)} | ${count(p.storedInWindow)} in ${fmt(p.windowMs / 1000)} s | ${fmt(p.peerCpuPercent)}% | ${mib(p.peerRssPeakBytes)} | ${p.errors} | ${fmt(p.startupMs)} ms |` +
      ` ${r.ingestSingle ? `${fmtRatio(r.ingestSingle.ackedPerSecond / p.storedPerSecond)}x` : 'n/a'} |`) : []))
  if (rows.length === 0) return []
  const s = record.settings
  return [
    '## Peers: what a user would otherwise build',
    '',
    `Both peers subscribe to the machine's Mosquitto (QoS 1) and INSERT one row at a time, awaiting each, into the same telemetry table. ${s.peerConnections} connections publish 1 reading per QoS 1 message ` +
      `into Mosquitto at ${fmt(s.peerRate)} msg/s; rows stored per second are counted in the database over a ${fmt(s.peerWindowMs / 1000)} s window after ${fmt(s.peerWarmupMs / 1000)} s of warm-up. ` +
      'Mosquitto acknowledges publishers at once and queues at most 1,000 messages for a slow subscriber (max_queued_messages), dropping the rest: the peers do not push back.',
    '',
    '| round | peer | offered msg/s | stored rows/s | stored | peer CPU | peer peak RSS | errors | start-up | gridline (ingest-single) as a multiple |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ]
}

function mqttClientSection(record: RunRecord): string[] {
  const rounds = record.results.filter((r) => r.mqttClient)
  if (rounds.length === 0) return []
  const s = record.settings
  return [
    '## mqtt-client: gridline\'s mqtt_client source against the naive subscriber, and kill -9',
    '',
    `Both read a private Mosquitto of the bench's (no queue or in-flight limit). Throughput: ${s.peerConnections} connections publish 1 reading per QoS 1 message at up to ${fmt(s.mqttClientRate)} msg/s; rows stored per second over a ${fmt(s.peerWindowMs / 1000)} s window after ${fmt(s.peerWarmupMs / 1000)} s of warm-up. ` +
      `gridline: ${s.mqttClientConnections} connections, MQTT 5, persistent sessions, \`$share\` subscription, PUBACK after the commit. kill -9: ${fmt(s.mqttClientKillRate)} msg/s for ${fmt(s.mqttClientKillStreamMs / 1000)} s, ` +
      'the subscriber\'s process killed with SIGKILL halfway and started again at once; counted once the stream ended and the count settled. Lost: published minus distinct (device_id, metric, time) rows.',
    '',
    '| round | subscriber | offered msg/s | stored rows/s | CPU | peak RSS | kill -9: published | stored at kill | stored | distinct | duplicates | lost | down | settle |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rounds.flatMap((r) => ([[r.mqttClient!.gridline, r.mqttClient!.kill.gridline], [r.mqttClient!.naive, r.mqttClient!.kill.naive]] as const).map(([p, k]) =>
      `| ${r.round} | ${p.peer} | ${fmt(p.offeredPerSecond)} | ${fmt(p.storedPerSecond)} | ${fmt(p.peerCpuPercent)}% | ${mib(p.peerRssPeakBytes)} | ${count(k.published)} | ${count(k.storedAtKill)} | ${count(k.storedRows)} | ${count(k.distinctRows)} | ${count(k.duplicates)} | ${count(k.lost)} | ${fmt(k.downMs)} ms | ${fmt(k.settleMs)} ms |`)),
    '',
  ]
}

function soakSection(record: RunRecord): string[] {
  const rows = record.results.flatMap((r) => (r.soak ? [r.soak].map((x) =>
    `| ${r.round} | ${fmt(x.durationMs / 1000)} s | ${fmt(x.askedRate)} | ${fmt(x.ackedPerSecond)} | ${fmt(x.throughputDrift.firstThird)} -> ${fmt(x.throughputDrift.lastThird)} (${fmtRatio(x.throughputDrift.change * 100)}%) | ` +
      `${fmt(x.throughputDrift.slopePerMinute)} | ${fmt(x.rssDrift.firstThird)} -> ${fmt(x.rssDrift.lastThird)} MiB (${fmtRatio(x.rssDrift.change * 100)}%) | ${fmtRatio(x.rssDrift.slopePerMinute)} |`) : []))
  if (rows.length === 0) return []
  return [
    '## Soak',
    '',
    `Steady paced load at ${fmtRatio(record.settings.soakLoadShare)} of the round's ingest-single rate on a fresh service; throughput and the service's RSS every ${fmt(record.settings.soakSampleMs / 1000)} s. ` +
      'Drift: mean of the last third against the first third, and the least-squares slope.',
    '',
    '| round | duration | asked msg/s | acked msg/s | throughput first -> last third | throughput slope (msg/s per min) | RSS first -> last third | RSS slope (MiB/min) |',
    '|---|---:|---:|---:|---|---:|---|---:|',
    ...rows,
    '',
  ]
}

/** The overload table, the two verdicts, and how the load was made. */
function overloadSection(record: RunRecord): string[] {
  const rounds = record.results.filter((r): r is OverloadRound => r.overload !== undefined && r.ingestSingle !== undefined && r.overload.levels.length > 0)
  if (rounds.length === 0) return []
  const s = record.settings
  const memory = rounds.map((r) => ({ r, v: memoryVerdictOf(r) }))
  const lo = rounds[0]!.overload.levels[0]!
  const hi = rounds[0]!.overload.levels[rounds[0]!.overload.levels.length - 1]!
  const memoryLine = memory.map(({ r, v }) => {
    const levels = r.overload.levels
    return `round ${r.round}: ${mib(levels[levels.length - 1]!.observed.rssPeakBytes)} at ${hi.level}x = ${fmtRatio(v.ratio)} x the ${mib(levels[0]!.observed.rssPeakBytes)} at ${lo.level}x ` +
      `(1x, closed loop: ${mib(r.overload.oneXRssPeakBytes)})${v.inconclusive ? `, **inconclusive**: ${v.inconclusive}` : ''}`
  }).join('; ')
  const lostLine = rounds.flatMap((r) => r.overload.levels.map((l) =>
    `round ${r.round} ${l.level}x: ${count(l.ackedReadings)} acknowledged, ${count(l.storedRows)} stored, ${count(l.ackedMissing)} acknowledged and missing`)).join('; ')
  const memoryPass = memory.every(({ v }) => v.pass)
  const lostPass = rounds.every((r) => r.overload.levels.every((l) => nothingAckedLost(l.ackedReadings, l.ackedMissing, l.storedRows)))
  const offered = rounds.flatMap((r) => r.overload.levels.map((l) => `${l.level}x: ${fmtRatio(l.publishedPerSecond / r.overload.baseRate)}x`)).join(', ')
  return [
    '## Overload',
    '',
    `Open-loop load at ${s.overloadLevels.map((l) => `${l}x`).join(' and ')} the 1x rate, on the same ${s.singleConnections} connections as ingest-single, ${s.overloadReadingsPerMessage} reading(s) per QoS 1 message; ` +
      `the 1x rate is that message shape's closed-loop rate on the same service, measured just before (${rounds.map((r) => `round ${r.round}: ${fmt(r.overload.baseRate)} msg/s = ${fmt(r.overload.baseRate * r.overload.readingsPerMessage)} readings/s`).join(', ')}), ` +
      `for ${fmt(s.overloadOfferMs / 1000)} s each; then no new messages and up to ${fmt(s.overloadDrainTimeoutMs / 1000)} s for every PUBACK. ` +
      'Messages are due at the fixed rate whatever the acks do: the per-connection in-flight cap is set to what a connection is due in the whole level (at least ' +
      `${fmt(s.overloadMinInflight)}), so unacknowledged messages pile up in mqtt.js and the socket buffers. Drain time runs from the end of the offered load to the last PUBACK. ` +
      'Stored rows are counted in the database by each device\'s timestamps of the level; "acknowledged and missing" checks every acknowledged reading, not just the count. ' +
      'The generator does not reconnect within a level: messages left unacknowledged on a connection the service closed (shed) are counted, not resent (a real device would resend them after reconnecting); ' +
      'a closed connection is replaced by a new one before the next level.',
    '',
    '| round | level | asked | published | acked during load (overall) | peak RSS (heap) | vs 1x RSS | peak pending rows | client backlog peak | backpressure seen | shed | closed conns (unacked on them) | drain time | acknowledged / stored (acked missing) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|',
    ...rounds.flatMap((r) => r.overload.levels.map((l) => {
      const o = l.observed
      const bp = l.backpressureSeen ? `yes (${l.backpressureSamples} samples, ${l.backpressureRises} rises)` : 'no'
      const drain = l.drainMs === null ? 'no PUBACK' : `${fmt(l.drainMs / 1000)} s${l.drained ? '' : ` (**not drained**: ${count(l.unackedOpen)} unacked)`}`
      return `| ${r.round} | ${l.level}x | ${fmt(l.askedRate)} msg/s | ${fmt(l.publishedPerSecond)} msg/s | ${fmt(l.ackedPerSecond)} (${fmt(l.ackedPerSecondOverall)}) msg/s | ` +
        `${mib(o.rssPeakBytes)} (${mib(o.heapUsedPeakBytes)}) | ${fmtRatio(o.rssPeakBytes / l.oneXRssPeakBytes)} x ${mib(l.oneXRssPeakBytes)} | ${count(o.peakPendingRows ?? NaN)} | ${count(l.peakClientBacklog)} | ${bp} | ${count(l.shed)} | ` +
        `${l.connectionsClosed} (${count(l.unackedClosed)}) | ${drain} | ${count(l.ackedReadings)} / ${count(l.storedRows)} (${count(l.ackedMissing)}) |`
    })),
    '',
    `- **memory bounded: ${memoryPass ? 'pass' : 'FAIL'}** (peak RSS at ${hi.level}x <= ${MEMORY_BOUND_FACTOR} x peak RSS at ${lo.level}x): ${memoryLine}.`,
    `- **nothing acknowledged lost: ${lostPass ? 'pass' : 'FAIL'}** (every acknowledged reading is in the database): ${lostLine}.`,
    `- Offered load actually published, as a multiple of the 1x rate: ${offered}. The load generators share the machine with the service and PostgreSQL; ` +
      'where they fell short of the asked rate the level is milder than its name (see the findings).',
    `- Load generators' own memory: peak RSS ${rounds.flatMap((r) => r.overload.levels.map((l) => `${l.level}x: ${l.loadPeakRssBytes.map(mib).join(' + ')}`)).join(', ')} ` +
      `(each skips due messages rather than queue more while its RSS is above ${mib(s.overloadGeneratorMemoryBytes)}).`,
    '',
    'Asked and published are all load generators together; "acked during load" counts PUBACKs before the offered load ended, "overall" until the last PUBACK. ' +
      'Client backlog is the most messages published and not yet acknowledged at once (sampled), held by the clients and the socket buffers; pending rows are what the service itself held. ' +
      'Backpressure seen: the service set gridline_ingest_backpressure to 1 during the level (watched where it is set, and scraped from /metrics every sample). ' +
      'The raw samples (service, /metrics, each load generator) are in the .json under results[].overload.levels[].samples.',
    '',
  ]
}

/** Whether the load generators could have been the limit: each network figure against the same load on the do-nothing sink. */
export function sinkCheck(rounds: RoundResult[]): string {
  const lines: string[] = []
  const verdict = (share: number) => (share < GENERATOR_BOUND_SHARE ? 'so the load generators were not the limit' : '**so the load generators may have been the limit**')
  const check = (what: string, figure: number[], ceiling: number[], unit: string) => {
    if (figure.length === 0 || ceiling.length === 0) return
    const f = median(figure)
    const c = median(ceiling)
    lines.push(`- ${what}: the same load reached ${fmt(c)} ${unit} against the do-nothing sink; the figure (${fmt(f)}) is ${fmtRatio(f / c)} of that, ${verdict(f / c)}.`)
  }
  check('ingest-batched', each(rounds, (r) => r.ingestBatched?.readingsPerSecond), each(rounds, (r) => r.batchedSink?.readingsPerSecond), 'readings/s')
  check('ingest-single', each(rounds, (r) => r.ingestSingle?.ackedPerSecond), each(rounds, (r) => r.singleSink?.ackedPerSecond), 'msg/s')
  for (const qos of ['qos1', 'qos0'] as const) {
    check(`broker aedes ${qos}`, each(rounds, (r) => r.broker?.[qos].aedes.ackedPerSecond), each(rounds, (r) => r.broker?.[qos].sink.ackedPerSecond), 'msg/s')
    check(`broker mosquitto ${qos}`, each(rounds, (r) => r.broker?.[qos].mosquitto.ackedPerSecond), each(rounds, (r) => r.broker?.[qos].sink.ackedPerSecond), 'msg/s')
  }
  return lines.length > 0 ? `Load generator check (each network load also run against a do-nothing MQTT sink that only acknowledges):\n${lines.join('\n')}` : ''
}

/** Every load phase of a round, in the order they ran, for the per-phase table. */
function phases(r: RoundResult): { name: string; rate: number; unit: string; load: number[]; machine: number; o: TargetObservation }[] {
  const windowed = (name: string, w: WindowSummary) => ({ name, rate: w.ackedPerSecond, unit: 'msg/s', load: w.loadCpuPercent, machine: w.machineCpuPercent, o: w.observed })
  const out: ReturnType<typeof phases> = []
  if (r.broker) {
    for (const qos of ['qos1', 'qos0'] as const) {
      const x = r.broker[qos]
      out.push(windowed(`broker ${qos} -> do-nothing sink`, x.sink), windowed(`broker ${qos} -> aedes`, x.aedes), windowed(`broker ${qos} -> mosquitto`, x.mosquitto))
    }
  }
  if (r.batchedSink) out.push({ name: 'batched load -> do-nothing sink', rate: r.batchedSink.readingsPerSecond, unit: 'readings/s', load: r.batchedSink.loadCpuPercent, machine: r.batchedSink.machineCpuPercent, o: r.batchedSink.observed })
  if (r.ingestBatched) out.push({ name: 'ingest-batched', rate: r.ingestBatched.readingsPerSecond, unit: 'rows/s', load: r.ingestBatched.loadCpuPercent, machine: r.ingestBatched.machineCpuPercent, o: r.ingestBatched.observed })
  if (r.singleSink) out.push(windowed('single load -> do-nothing sink', r.singleSink))
  if (r.ingestSingle) out.push(windowed('ingest-single', r.ingestSingle))
  if (r.ackLatency) out.push(windowed('ack-latency', r.ackLatency))
  if (r.sinkAckLatency) out.push(windowed('paced load -> do-nothing sink', r.sinkAckLatency))
  if (r.alarmLatency) out.push(windowed('alarm-latency (background)', r.alarmLatency.background))
  for (const [name, b] of r.sparkplug ? [['sparkplug: Sparkplug B', r.sparkplug.sparkplug], ['sparkplug: JSON', r.sparkplug.json]] as const : []) {
    out.push({ name, rate: b.readingsPerSecond, unit: 'rows/s', load: b.loadCpuPercent, machine: b.machineCpuPercent, o: b.observed })
  }
  for (const l of r.overload?.levels ?? []) out.push({ name: `overload ${l.level}x`, rate: l.ackedPerSecond, unit: 'msg/s', load: l.loadCpuPercent, machine: l.machineCpuPercent, o: l.observed })
  if (r.soak) out.push(windowed('soak', r.soak.window))
  return out
}

export function markdownTable(rows: SummaryRow[]): string {
  const lines = [
    '| scenario | median | min | max | unit | ratio (median, min-max) | target | result | note |',
    '|---|---:|---:|---:|---|---|---|---|---|',
  ]
  for (const r of rows) {
    const ratio = r.ratio ? `${fmtRatio(r.ratio.value.median)} of ${r.ratio.to} (${fmtRatio(r.ratio.value.min)}-${fmtRatio(r.ratio.value.max)})` : ''
    const result = r.target ? (r.target.pass ? 'pass' : '**FAIL**') : ''
    lines.push(`| ${r.scenario} | ${fmt(r.value.median)} | ${fmt(r.value.min)} | ${fmt(r.value.max)} | ${r.unit} | ${ratio} | ${r.target?.text ?? ''} | ${result} | ${r.note ?? ''} |`)
  }
  return lines.join('\n')
}

/** Whole numbers with separators for large figures; two decimals for small ones (latencies). */
function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)
}

/** A count: whole, with separators. */
function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
}

function fmtRatio(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : 'n/a'
}

function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${Math.round(bytes / 2 ** 20)} MiB` : 'n/a'
}

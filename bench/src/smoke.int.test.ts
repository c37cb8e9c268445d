import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { inject } from 'vitest'
import { setQuiet } from './harness.ts'
import { type BenchRun, runBench } from './index.ts'
import { SCENARIOS } from './selection.ts'
import { TINY } from './settings.ts'

/**
 * Every scenario at tiny size, one round, against the real parties
 * (PostgreSQL, the machine's Mosquitto on 1883, Node-RED), so the harness
 * cannot rot. Figures are not checked for speed, only for sense.
 */
describe('gridline bench, every scenario at tiny size', () => {
  let dir: string
  let run: BenchRun

  beforeAll(async () => {
    setQuiet(true)
    dir = await mkdtemp(join(os.tmpdir(), 'gridline-bench-smoke-'))
    run = await runBench({
      scenarios: [...SCENARIOS],
      settings: TINY,
      rounds: 1,
      adminUrl: inject('databaseAdminUrl'),
      resultsDir: dir,
      quick: true,
      cpuProf: false,
      command: 'smoke test',
    })
    // Every scenario, sta and pipeline-city among them, on a CI machine running other test files beside it.
  }, 300_000)

  afterAll(async () => {
    setQuiet(false)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('writes the JSON, markdown and a self-contained HTML page', async () => {
    const json = JSON.parse(await readFile(run.files.json, 'utf8')) as { scenarios: string[]; results: unknown[] }
    expect(json.scenarios).toEqual([...SCENARIOS])
    expect(json.results).toHaveLength(1)
    expect(await readFile(run.files.markdown, 'utf8')).toContain('| copy-limit |')
    const html = await readFile(run.files.html, 'utf8')
    expect(html).toContain('<svg')
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/)
  })

  test('the in-process scenarios stored every row at a positive rate', () => {
    const r = run.record.results[0]!
    expect(r.copyLimit!.rowsPerSecond).toBeGreaterThan(0)
    for (const x of [r.writer!, r.pipeline!, r.pipelineProcessors!]) {
      expect(x.storedRows).toBe(TINY.rows)
      expect(x.rowsPerSecond).toBeGreaterThan(0)
      expect(x.cpuMicrosPerReading).toBeGreaterThan(0)
    }
  })

  test('broker: aedes, Mosquitto and the sink each acknowledged QoS 1 and QoS 0 loads', () => {
    const b = run.record.results[0]!.broker!
    for (const qos of [b.qos1, b.qos0]) {
      for (const w of [qos.aedes, qos.mosquitto, qos.sink]) {
        expect(w.ackedPerSecond).toBeGreaterThan(0)
        expect(w.failedMessages).toBe(0)
      }
    }
  })

  test('ingest-batched and ingest-single stored what they acknowledged, with latencies', () => {
    const r = run.record.results[0]!
    expect(r.ingestBatched!.complete).toBe(true)
    expect(r.ingestBatched!.storedRows).toBe(r.ingestBatched!.readingsSent)
    expect(r.batchedSink!.readingsPerSecond).toBeGreaterThan(0)
    expect(r.ingestSingle!.ackedPerSecond).toBeGreaterThan(0)
    expect(r.ingestSingle!.storedRows).toBeGreaterThanOrEqual(r.ingestSingle!.totalAcked)
    expect(r.singleSink!.ackedPerSecond).toBeGreaterThan(0)
    expect(r.ackLatency!.latencyMs!.p99).toBeGreaterThan(0)
    expect(r.ackLatency!.latencyHistogram!.total).toBe(r.ackLatency!.latencyMs!.count)
    expect(r.ingestSingle!.timeline.length).toBeGreaterThan(0)
  })

  test('gridline phases report CPU per stored reading (service and PostgreSQL) and where each batch waited', () => {
    const r = run.record.results[0]!
    // PostgreSQL's CPU is read in clock ticks (10 ms) of its live processes: at tiny size one phase can round to
    // nothing (the CI run of 2026-12-07 11:42 saw 0), so each is a number and together they are more than nothing.
    const phases = [r.ingestBatched!, r.ingestSingle!, r.ackLatency!]
    expect(phases.reduce((sum, x) => sum + x.cpuPerReading!.postgresMicros, 0)).toBeGreaterThan(0)
    for (const x of phases) {
      expect(x.cpuPerReading!.serviceMicros).toBeGreaterThan(0)
      expect(Number.isFinite(x.cpuPerReading!.postgresMicros)).toBe(true)
      const waits = x.stageWaits!
      // Every committed batch had its linger, queue and commit observed once.
      expect(waits.commit.batches).toBeGreaterThan(0)
      expect(waits.linger.batches).toBe(waits.queue.batches)
      expect(waits.linger.p99AtMostMs).toBeGreaterThanOrEqual(waits.linger.p50AtMostMs)
    }
    // The do-nothing sink has no pipeline; bare aedes has CPU but stores nothing in PostgreSQL.
    expect(r.singleSink!.stageWaits).toBeNull()
    expect(r.broker!.qos1.aedes.cpuPerReading!.serviceMicros).toBeGreaterThan(0)
    expect(r.broker!.qos1.aedes.cpuPerReading!.postgresMicros).toBeNaN()
    const names = run.record.summary.map((row) => row.scenario)
    expect(names).toContain('ack-latency linger per batch, p99 at most')
    expect(names).toContain('ingest-single CPU per stored reading: PostgreSQL')
  })

  test('alarm-latency timed every crossing from its publish to its alarm event', () => {
    const a = run.record.results[0]!.alarmLatency!
    expect(a.crossings).toBe(TINY.alarmCrossings)
    expect(a.missingEvents).toBe(0)
    expect(a.unexpectedEvents).toBe(0)
    expect(a.eventLatencyMs!.count).toBe(TINY.alarmCrossings)
    expect(a.eventLatencyMs!.p99).toBeGreaterThan(0)
    expect(a.pubackLatencyMs!.count).toBe(TINY.alarmCrossings)
    expect(a.eventLatencyHistogram!.total).toBe(a.eventLatencyMs!.count)
    expect(a.engine!.transitions.raised).toBeGreaterThanOrEqual(TINY.alarmCrossings / 2)
    expect(a.background.ackedPerSecond).toBeGreaterThan(0)
  })

  test('both peers stored rows in the database', () => {
    const p = run.record.results[0]!.peers!
    for (const peer of [p.naive, p.nodeRed]) {
      expect(peer.storedInWindow).toBeGreaterThan(0)
      expect(peer.storedPerSecond).toBeGreaterThan(0)
      expect(peer.errors).toBe(0)
    }
  })

  test('overload lost nothing acknowledged and drained', () => {
    const o = run.record.results[0]!.overload!
    expect(o.levels.map((l) => l.level)).toEqual(TINY.overloadLevels)
    for (const l of o.levels) {
      expect(l.acked).toBeGreaterThan(0)
      expect(l.ackedMissing).toBe(0)
      expect(l.drained).toBe(true)
    }
  })

  test('soak sampled throughput and memory and reported drift', () => {
    const s = run.record.results[0]!.soak!
    expect(s.ackedPerSecond).toBeGreaterThan(0)
    expect(s.throughput.length).toBeGreaterThanOrEqual(3)
    expect(Number.isFinite(s.throughputDrift.change)).toBe(true)
    expect(s.rssMiB.length).toBeGreaterThan(0)
  })

  test('line-protocol stored every row it sent in gridline and in influxd; sensor-community and the InfluxDB sink lost nothing', () => {
    const r = run.record.results[0]!
    const lp = r.lineProtocol!
    expect(lp.rowsSent).toBe(TINY.httpRequests * TINY.httpLinesPerRequest)
    for (const side of [lp.gridline, lp.influxdb]) {
      expect(side.storedRows).toBe(lp.rowsSent)
      expect(side.ok).toBe(side.requests)
      expect(side.rowsPerSecond).toBeGreaterThan(0)
    }
    const sc = r.sensorCommunity!
    expect(sc.loginRequests).toBe(TINY.sensors)
    expect(sc.half.ok).toBe(sc.half.requests)
    expect(sc.half.latencyMs!.p99).toBeGreaterThan(0)
    // Every 204 is a stored reading of 5 metrics (pm10, pm25, temperature, humidity, pressure); warm-ups store too.
    expect(sc.storedRows).toBeGreaterThanOrEqual(5 * (sc.loginRequests + sc.max.ok + sc.half.ok))
    expect(sc.storedRows % 5).toBe(0)
    const k = r.influxSink!
    expect(k.on.storedRows).toBe(k.on.readingsSent)
    expect(k.sinkRows).toBe(k.on.storedRows)
    expect(k.ratio).toBeGreaterThan(0)
  })

  test('sta answered its three SensorThings queries on the loaded readings', () => {
    const s = run.record.results[0]!.sta!
    expect(s.readings).toBe(TINY.staReadings)
    expect(s.queries.map((q) => q.entities)).toEqual([100, TINY.staDatastreams, TINY.staReadings / TINY.staDatastreams])
    for (const q of s.queries) {
      expect(q.requests).toBe(TINY.staRequests)
      expect(q.p95Ms).toBeGreaterThanOrEqual(q.p50Ms)
      expect(q.p50Ms).toBeGreaterThan(0)
    }
  })

  test('indicator-history stored every value the day gave, both ways at a positive rate', () => {
    const h = run.record.results[0]!.indicatorHistory!
    expect(h.values).toBeGreaterThan(h.sensors * 24)
    expect(h.stored).toBe(h.values)
    expect(h.without.readingsPerSecond).toBeGreaterThan(0)
    expect(h.with.readingsPerSecond).toBeGreaterThan(0)
  })

  test('pipeline-city stored every reading both ways, and indicator values only with the processors', () => {
    const c = run.record.results[0]!.pipelineCity!
    expect(c.hours).toBeGreaterThan(2)
    for (const x of [c.without, c.with]) {
      expect(x.storedRows).toBe(c.rows)
      expect(x.rowsPerSecond).toBeGreaterThan(0)
    }
    // Hourly air quality per sensor and district, level of service per segment and interval.
    expect(c.indicatorNames).toEqual(expect.arrayContaining(['traffic_los', 'vn_aqi_hourly']))
    expect(c.indicatorValues).toBeGreaterThan(c.devices * c.hours * 0.3)
    expect(c.ratio).toBeGreaterThan(0)
  })

  test('map drew every device on both pages, counted frames, saw every live change in the page, and ran ingest-batched both ways', () => {
    const m = run.record.results[0]!.map!
    expect(m.devices).toBe(TINY.mapDevices)
    // Devices an earlier scenario of the round placed are on the map too.
    expect(m.onMap).toBeGreaterThanOrEqual(TINY.mapDevices)
    expect(m.snapshotBytes).toBeGreaterThan(m.onMap * 30)
    for (const loads of [m.overviewLoadMs, m.mapLoadMs]) {
      expect(loads).toHaveLength(TINY.mapLoads)
      for (const ms of loads) expect(ms).toBeGreaterThan(0)
    }
    expect(m.renderer).not.toBe('none')
    expect(m.fps.frames).toBeGreaterThan(0)
    expect(m.fps.elapsedMs).toBeGreaterThanOrEqual(TINY.mapFpsMs)
    const published = Math.min(TINY.mapDevices, (TINY.mapLiveRate * TINY.mapLiveMs) / 1000)
    expect(m.live.published).toBe(published)
    expect(m.live.acked).toBe(published)
    expect(m.live.missing).toBe(0)
    expect(m.live.seen).toBe(published)
    expect(m.live.events).toBeGreaterThan(0)
    expect(m.live.toPageMs!.count).toBe(published)
    expect(m.live.toDrawMs!.count).toBe(published)
    expect(m.live.toPageMs!.p50).toBeGreaterThan(0)
    // A change is drawn after its event arrives, never before.
    expect(m.live.toDrawMs!.p50).toBeGreaterThanOrEqual(m.live.toPageMs!.p50)
    expect(m.live.toFrameMs!.count).toBe(published)
    expect(m.live.toFrameMs!.p50).toBeGreaterThanOrEqual(m.live.toDrawMs!.p50)
    for (const x of [m.without, m.with]) {
      expect(x.complete).toBe(true)
      expect(x.storedRows).toBe(x.readingsSent)
    }
    expect(m.without.dashboards).toBeUndefined()
    expect(m.with.dashboards!.streams).toBe(TINY.mapPages)
    expect(m.with.dashboards!.ended).toBe(0)
    expect(m.ratio).toBeGreaterThan(0)
  })

  test('the summary has a figure for every scenario, every one a number', () => {
    const names = run.record.summary.map((row) => row.scenario)
    for (const prefix of ['copy-limit', 'writer', 'pipeline', 'broker: aedes', 'ingest-batched', 'ingest-single', 'alarm-latency', 'peers:', 'overload', 'soak', 'line-protocol', 'sensor-community', 'influxdb-sink', 'sta:', 'map:']) {
      expect(names.some((n) => n.startsWith(prefix))).toBe(true)
    }
    for (const row of run.record.summary) expect(row.perRound.every((v) => typeof v === 'number')).toBe(true)
  })
})

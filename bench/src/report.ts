import type { CpuInfo } from 'node:os'
import { MEMORY_BOUND_FACTOR, memoryBounded, nothingAckedLost } from './overload.ts'
import type { BenchSettings, OverloadLevel, RoundResult, TargetObservation, WindowSummary } from './scenarios.ts'
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

export function summarise(rounds: RoundResult[]): SummaryRow[] {
  const row = (scenario: string, unit: string, perRound: number[], ratio: SummaryRow['ratio'] = null, target: SummaryRow['target'] = null): SummaryRow =>
    ({ scenario, unit, perRound, value: spread(perRound), ratio, target })
  const ratioOf = (to: string, a: number[], b: number[]) => {
    const perRound = a.map((x, i) => x / b[i]!)
    return { to, perRound, value: spread(perRound) }
  }

  const copy = rounds.map((r) => r.copyLimit.rowsPerSecond)
  const batched = rounds.map((r) => r.ingestBatched.readingsPerSecond)
  const batchedRatio = ratioOf('copy-limit', batched, copy)
  const bare = rounds.map((r) => r.bareAedes.ackedPerSecond)
  const single = rounds.map((r) => r.ingestSingle.ackedPerSecond)
  const singleRatio = ratioOf('bare-aedes', single, bare)
  const latency = (pick: (l: NonNullable<WindowSummary['latencyMs']>) => number) => rounds.map((r) => (r.ackLatency.latencyMs ? pick(r.ackLatency.latencyMs) : NaN))
  const p99 = latency((l) => l.p99)
  const batchedComplete = rounds.every((r) => r.ingestBatched.complete)

  return [
    row('copy-limit', 'rows/s', copy),
    row('ingest-batched', 'rows/s', batched, batchedRatio,
      { text: '>= 0.5 x copy-limit', pass: batchedComplete && batchedRatio.value.median >= 0.5 }),
    row('bare-aedes', 'msg/s', bare),
    row('ingest-single', 'msg/s', single, singleRatio, { text: '>= 0.7 x bare-aedes', pass: singleRatio.value.median >= 0.7 }),
    row('ack-latency p50', 'ms', latency((l) => l.p50)),
    row('ack-latency p95', 'ms', latency((l) => l.p95)),
    row('ack-latency p99', 'ms', p99, null, { text: '< 100 ms', pass: median(p99) < 100 }),
    row('(sink check) batched load -> bare aedes', 'readings/s', rounds.map((r) => r.batchedSink.readingsPerSecond)),
    row('(context) ack-latency rate', 'msg/s', rounds.map((r) => r.ackLatency.targetRate ?? NaN)),
    row('(context) same paced load -> bare aedes, p99', 'ms', rounds.map((r) => r.bareAckLatency.latencyMs?.p99 ?? NaN)),
    ...overloadRows(rounds),
  ]
}

/** The overload rows: per level its ack rate, peak RSS and drain time, then the two verdicts. */
function overloadRows(rounds: RoundResult[]): SummaryRow[] {
  const first = rounds[0]?.overload.levels ?? []
  if (first.length === 0) return []
  const row = (scenario: string, unit: string, perRound: number[], ratio: SummaryRow['ratio'] = null, target: SummaryRow['target'] = null): SummaryRow =>
    ({ scenario, unit, perRound, value: spread(perRound), ratio, target })
  const ratioOf = (to: string, a: number[], b: number[]) => {
    const perRound = a.map((x, i) => x / b[i]!)
    return { to, perRound, value: spread(perRound) }
  }
  const levelOf = (r: RoundResult, i: number): OverloadLevel | undefined => r.overload.levels[i]
  const out: SummaryRow[] = []
  first.forEach((l, i) => {
    const name = `overload ${l.level}x`
    const acked = rounds.map((r) => levelOf(r, i)?.ackedPerSecond ?? NaN)
    out.push(row(`${name} ack rate during load`, 'msg/s', acked, ratioOf('ingest-single', acked, rounds.map((r) => r.ingestSingle.ackedPerSecond))))
    const rss = rounds.map((r) => (levelOf(r, i)?.observed.rssPeakBytes ?? NaN) / 2 ** 20)
    out.push(row(`${name} peak RSS`, 'MiB', rss, ratioOf('ingest-single peak RSS', rss, rounds.map((r) => r.overload.oneXRssPeakBytes / 2 ** 20))))
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
function memoryVerdictOf(r: RoundResult): ReturnType<typeof memoryBounded> & { inconclusive: string | null } {
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
    if (!b.complete) out.push(`${at} ingest-batched: not every PUBACK arrived within the time limit (${b.ackedMessages} of ${b.readingsSent / 100} messages acknowledged).`)
    if (b.storedRows !== null && b.storedRows !== b.readingsSent) out.push(`${at} ingest-batched: ${b.storedRows} rows stored for ${b.readingsSent} readings sent.`)
    if (b.failedMessages > 0 || b.disconnects > 0) out.push(`${at} ingest-batched: ${b.failedMessages} publishes failed, ${b.disconnects} connections dropped.`)
    observationFindings(`${at} ingest-batched`, b.observed, out)
    for (const [name, w] of [['ingest-single', r.ingestSingle], ['ack-latency', r.ackLatency]] as const) {
      if (w.unacked > 0) out.push(`${at} ${name}: ${w.unacked} messages still had no PUBACK after the drain timeout.`)
      if (w.failedMessages > 0 || w.disconnects > 0) out.push(`${at} ${name}: ${w.failedMessages} publishes failed, ${w.disconnects} connections dropped.`)
      // One reading per message: every PUBACK promises one stored row.
      if (w.storedRows !== null && w.storedRows < w.totalAcked) out.push(`${at} ${name}: ${w.totalAcked} messages acknowledged but only ${w.storedRows} rows stored.`)
      if (w.storedRows !== null && w.storedRows > w.totalPublished) out.push(`${at} ${name}: ${w.storedRows} rows stored for ${w.totalPublished} messages published.`)
      observationFindings(`${at} ${name}`, w.observed, out)
    }
    const l = r.ackLatency
    if (l.targetRate !== null && l.publishedPerSecond < 0.95 * l.targetRate) {
      out.push(`${at} ack-latency: published ${fmt(l.publishedPerSecond)} msg/s of the ${fmt(l.targetRate)} msg/s asked (${l.deferred} sends deferred at the in-flight cap).`)
    }
    if (r.ingestBatched.readingsPerSecond > 0.9 * r.batchedSink.readingsPerSecond) {
      out.push(`${at}: ingest-batched (${fmt(r.ingestBatched.readingsPerSecond)} rows/s) came within 10% of the load generators' sink-only rate (${fmt(r.batchedSink.readingsPerSecond)} readings/s): the load may be the limit.`)
    }
    if (r.ingestSingle.ackedPerSecond > 0.9 * r.bareAedes.ackedPerSecond) {
      out.push(`${at}: ingest-single came within 10% of bare aedes; the load generators may be the limit of both.`)
    }
    overloadFindings(r, out)
    for (const p of phases(r)) {
      const busiest = Math.max(...p.load)
      if (busiest >= 90) out.push(`${at} ${p.name}: a load generator used ${fmt(busiest)}% of a core; it may be the limit of this phase.`)
    }
  }
  return out
}

function overloadFindings(r: RoundResult, out: string[]): void {
  const o = r.overload
  for (const l of o.levels) {
    const at = `round ${r.round} overload ${l.level}x`
    if (l.publishedPerSecond < 0.95 * l.askedRate) {
      out.push(`${at}: the load generators published ${fmt(l.publishedPerSecond)} msg/s of the ${fmt(l.askedRate)} msg/s asked (${count(l.behind)} due messages fell behind schedule), ` +
        `so the offered load was ${fmtRatio(l.publishedPerSecond / o.baseRate)}x ingest-single, not ${l.level}x.`)
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
      out.push(`${at}: pending rows peaked at ${count(peak)}, past the shedding limit (2 x ingest.maxPendingRows = ${fmt(2 * o.maxPendingRows)}).`)
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
    `copy-limit and ingest-batched store the same ${fmt(record.results[0]?.copyLimit.rows ?? 0)} rows; ack-latency paces each round at half that round's ingest-single rate.`,
    '',
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

/** The overload table, the two verdicts, and how the load was made. */
function overloadSection(record: RunRecord): string[] {
  const rounds = record.results.filter((r) => r.overload.levels.length > 0)
  if (rounds.length === 0) return []
  const s = record.settings
  const memory = rounds.map((r) => ({ r, v: memoryVerdictOf(r) }))
  const lo = rounds[0]!.overload.levels[0]!
  const hi = rounds[0]!.overload.levels[rounds[0]!.overload.levels.length - 1]!
  const memoryLine = memory.map(({ r, v }) => {
    const levels = r.overload.levels
    return `round ${r.round}: ${mib(levels[levels.length - 1]!.observed.rssPeakBytes)} at ${hi.level}x = ${fmtRatio(v.ratio)} x the ${mib(levels[0]!.observed.rssPeakBytes)} at ${lo.level}x ` +
      `(ingest-single at 1x: ${mib(r.overload.oneXRssPeakBytes)})${v.inconclusive ? `, **inconclusive**: ${v.inconclusive}` : ''}`
  }).join('; ')
  const lostLine = rounds.flatMap((r) => r.overload.levels.map((l) =>
    `round ${r.round} ${l.level}x: ${count(l.ackedReadings)} acknowledged, ${count(l.storedRows)} stored, ${count(l.ackedMissing)} acknowledged and missing`)).join('; ')
  const memoryPass = memory.every(({ v }) => v.pass)
  const lostPass = rounds.every((r) => r.overload.levels.every((l) => nothingAckedLost(l.ackedReadings, l.ackedMissing, l.storedRows)))
  const offered = rounds.flatMap((r) => r.overload.levels.map((l) => `${l.level}x: ${fmtRatio(l.publishedPerSecond / r.overload.baseRate)}x`)).join(', ')
  return [
    '## Overload',
    '',
    `Open-loop load at ${s.overloadLevels.map((l) => `${l}x`).join(' and ')} each round's ingest-single rate, on the same ${s.singleConnections} connections, 1 reading per QoS 1 message, ` +
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
    `- Offered load actually published, as a multiple of ingest-single: ${offered}. The load generators share the machine with the service and PostgreSQL; ` +
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

/** Whether the load generators could have been the limit: their rate against a do-nothing sink, and how close the service came. */
export function sinkCheck(rounds: RoundResult[]): string {
  const batchedSink = median(rounds.map((r) => r.batchedSink.readingsPerSecond))
  const batched = median(rounds.map((r) => r.ingestBatched.readingsPerSecond))
  const bare = median(rounds.map((r) => r.bareAedes.ackedPerSecond))
  const single = median(rounds.map((r) => r.ingestSingle.ackedPerSecond))
  const verdict = (share: number) => (share < 0.9 ? 'so the load generators were not the limit' : 'so the load generators may have been the limit')
  return `Sink check: against bare aedes (no pipeline) the batched load reached ${fmt(batchedSink)} readings/s; ingest-batched reached ` +
    `${fmtRatio(batched / batchedSink)} of that, ${verdict(batched / batchedSink)}. The single-message load reached ${fmt(bare)} msg/s against bare aedes ` +
    `(the bare-aedes row); ingest-single reached ${fmtRatio(single / bare)} of that, ${verdict(single / bare)}.`
}

/** Every load phase of a round, in the order they ran, for the per-phase table. */
function phases(r: RoundResult): { name: string; rate: number; unit: string; load: number[]; machine: number; o: TargetObservation }[] {
  const windowed = (name: string, w: WindowSummary) => ({ name, rate: w.ackedPerSecond, unit: 'msg/s', load: w.loadCpuPercent, machine: w.machineCpuPercent, o: w.observed })
  return [
    { name: 'batched load -> bare aedes', rate: r.batchedSink.readingsPerSecond, unit: 'readings/s', load: r.batchedSink.loadCpuPercent, machine: r.batchedSink.machineCpuPercent, o: r.batchedSink.observed },
    { name: 'ingest-batched', rate: r.ingestBatched.readingsPerSecond, unit: 'rows/s', load: r.ingestBatched.loadCpuPercent, machine: r.ingestBatched.machineCpuPercent, o: r.ingestBatched.observed },
    windowed('bare-aedes', r.bareAedes),
    windowed('ingest-single', r.ingestSingle),
    windowed('ack-latency', r.ackLatency),
    windowed('paced load -> bare aedes', r.bareAckLatency),
    ...r.overload.levels.map((l) => ({ name: `overload ${l.level}x`, rate: l.ackedPerSecond, unit: 'msg/s', load: l.loadCpuPercent, machine: l.machineCpuPercent, o: l.observed })),
  ]
}

export function markdownTable(rows: SummaryRow[]): string {
  const lines = [
    '| scenario | median | min | max | unit | ratio (median, min-max) | target | result |',
    '|---|---:|---:|---:|---|---|---|---|',
  ]
  for (const r of rows) {
    const ratio = r.ratio ? `${fmtRatio(r.ratio.value.median)} of ${r.ratio.to} (${fmtRatio(r.ratio.value.min)}-${fmtRatio(r.ratio.value.max)})` : ''
    const result = r.target ? (r.target.pass ? 'pass' : '**FAIL**') : ''
    lines.push(`| ${r.scenario} | ${fmt(r.value.median)} | ${fmt(r.value.min)} | ${fmt(r.value.max)} | ${r.unit} | ${ratio} | ${r.target?.text ?? ''} | ${result} |`)
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
